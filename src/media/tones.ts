// Call-progress tones by country and the DTMF keypad's dual tones, generated as 16-bit PCM. The
// plans follow ITU-T E.180 Supplement 2 and the tone tables switches publish; where a country
// amplitude-modulates a tone it is kept here as the sum of its two side bands.

export type ToneName = 'ringback' | 'busy' | 'congestion' | 'beep' | 'dial' | 'waiting';

export interface ToneSpec {
  /** one or two frequencies in Hz, whole numbers, summed at the same level */
  readonly frequencies: readonly number[];
  /** milliseconds on, off, on, off…; empty means a continuous tone */
  readonly cadence: readonly number[];
  /** false: the cadence plays once and the tone ends (the beep) */
  readonly repeat: boolean;
}

export type TonePlan = Readonly<Record<ToneName, ToneSpec>>;

function tone(frequencies: readonly number[], ...cadence: number[]): ToneSpec {
  return { frequencies, cadence, repeat: true };
}

/** A short prompt that something is about to happen (recording starts, a conference member joins). */
const BEEP: ToneSpec = { frequencies: [1000], cadence: [250], repeat: false };

export const TONE_PLANS: Readonly<Record<string, TonePlan>> = {
  us: {
    dial: tone([350, 440]),
    ringback: tone([440, 480], 2000, 4000),
    busy: tone([480, 620], 500, 500),
    congestion: tone([480, 620], 250, 250),
    waiting: tone([440], 300, 10000),
    beep: BEEP,
  },
  uk: {
    dial: tone([350, 440]),
    ringback: tone([400, 450], 400, 200, 400, 2000),
    busy: tone([400], 375, 375),
    congestion: tone([400], 400, 350, 225, 525),
    waiting: tone([400], 100, 4000),
    beep: BEEP,
  },
  de: {
    dial: tone([425]),
    ringback: tone([425], 1000, 4000),
    busy: tone([425], 480, 480),
    congestion: tone([425], 240, 240),
    waiting: tone([425], 200, 200, 200, 5000),
    beep: BEEP,
  },
  fr: {
    dial: tone([440]),
    ringback: tone([440], 1500, 3500),
    busy: tone([440], 500, 500),
    congestion: tone([440], 250, 250),
    waiting: tone([440], 300, 10000),
    beep: BEEP,
  },
  it: {
    dial: tone([425], 200, 200, 600, 1000),
    ringback: tone([425], 1000, 4000),
    busy: tone([425], 500, 500),
    congestion: tone([425], 200, 200),
    waiting: tone([425], 400, 100, 250, 100, 150, 14000),
    beep: BEEP,
  },
  es: {
    dial: tone([425]),
    ringback: tone([425], 1500, 3000),
    busy: tone([425], 200, 200),
    congestion: tone([425], 200, 200, 200, 200, 200, 600),
    waiting: tone([425], 175, 175, 175, 3500),
    beep: BEEP,
  },
  nl: {
    dial: tone([425]),
    ringback: tone([425], 1000, 4000),
    busy: tone([425], 500, 500),
    congestion: tone([425], 250, 250),
    waiting: tone([425], 500, 9500),
    beep: BEEP,
  },
  au: {
    dial: tone([413, 438]),
    ringback: tone([413, 438], 400, 200, 400, 2000),
    busy: tone([425], 375, 375),
    congestion: tone([425], 375, 375),
    waiting: tone([425], 200, 200, 200, 4400),
    beep: BEEP,
  },
  // Japan modulates 400 Hz at 16 Hz for ringback and call waiting.
  jp: {
    dial: tone([400]),
    ringback: tone([384, 416], 1000, 2000),
    busy: tone([400], 500, 500),
    congestion: tone([400], 500, 500),
    waiting: tone([384, 416], 500, 8000),
    beep: BEEP,
  },
  cn: {
    dial: tone([450]),
    ringback: tone([450], 1000, 4000),
    busy: tone([450], 350, 350),
    congestion: tone([450], 700, 700),
    waiting: tone([450], 400, 4000),
    beep: BEEP,
  },
  // India modulates 400 Hz at 25 Hz for dial tone and ringback.
  in: {
    dial: tone([375, 425]),
    ringback: tone([375, 425], 400, 200, 400, 2000),
    busy: tone([400], 750, 750),
    congestion: tone([400], 250, 250),
    waiting: tone([400], 200, 100, 200, 7500),
    beep: BEEP,
  },
  br: {
    dial: tone([425]),
    ringback: tone([425], 1000, 4000),
    busy: tone([425], 250, 250),
    congestion: tone([425], 250, 250, 750, 250),
    waiting: tone([425], 50, 1000),
    beep: BEEP,
  },
};

const COUNTRY_ALIASES: Readonly<Record<string, string>> = { gb: 'uk' };

/** The plan for an ISO country code (or 'uk'), any case; undefined when there is none. */
export function tonePlan(country: string): TonePlan | undefined {
  const code = country.toLowerCase();
  const key = Object.hasOwn(COUNTRY_ALIASES, code) ? COUNTRY_ALIASES[code]! : code;
  return Object.hasOwn(TONE_PLANS, key) ? TONE_PLANS[key] : undefined;
}

/** G.711 puts its full-scale sine at +3.14 dBm0 (A-law; μ-law's is +3.17). */
const FULL_SCALE_DBM0 = 3.14;

/** Peak amplitude, in 16-bit PCM units, of a sine at `dbm0`. */
export function dbm0ToAmplitude(dbm0: number): number {
  return 32767 * 10 ** ((dbm0 - FULL_SCALE_DBM0) / 20);
}

/** Low (row) and high (column) group frequencies of the DTMF keypad, ITU-T Q.23. */
export const DTMF_LOW_HZ: readonly number[] = [697, 770, 852, 941];
export const DTMF_HIGH_HZ: readonly number[] = [1209, 1336, 1477, 1633];
/** DTMF_KEYPAD[row][column] is the key sounding DTMF_LOW_HZ[row] with DTMF_HIGH_HZ[column]. */
export const DTMF_KEYPAD: readonly string[] = ['123A', '456B', '789C', '*0#D'];

/** The [low, high] frequencies of a key (0-9 * # A-D, any case), or undefined. */
export function dtmfFrequencies(digit: string): readonly [number, number] | undefined {
  if (digit.length !== 1) return undefined;
  const key = digit.toUpperCase();
  for (let row = 0; row < DTMF_KEYPAD.length; row++) {
    const column = DTMF_KEYPAD[row]!.indexOf(key);
    if (column >= 0) return [DTMF_LOW_HZ[row]!, DTMF_HIGH_HZ[column]!];
  }
  return undefined;
}

const sineTables = new Map<number, Float64Array>();

/** One period of a sine in `sampleRate` steps: an oscillator of f Hz advances f steps a sample. */
function sineTable(sampleRate: number): Float64Array {
  let table = sineTables.get(sampleRate);
  if (!table) {
    table = new Float64Array(sampleRate);
    for (let i = 0; i < sampleRate; i++) table[i] = Math.sin((2 * Math.PI * i) / sampleRate);
    sineTables.set(sampleRate, table);
  }
  return table;
}

/**
 * Summed sine oscillators. The phase is a whole index into a one-period table, so frequencies
 * have 1 Hz resolution and the tone never drifts however long it plays.
 */
class Oscillators {
  private readonly table: Float64Array;
  private readonly steps: Int32Array;
  private readonly amplitudes: Float64Array;
  private readonly phases: Int32Array;

  constructor(frequencies: readonly number[], levelsDbm0: readonly number[], sampleRate: number) {
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new RangeError(`bad sample rate ${sampleRate}`);
    this.table = sineTable(sampleRate);
    this.steps = new Int32Array(frequencies.length);
    this.amplitudes = new Float64Array(frequencies.length);
    this.phases = new Int32Array(frequencies.length);
    frequencies.forEach((hz, i) => {
      if (!Number.isInteger(hz) || hz <= 0 || hz >= sampleRate / 2) {
        throw new RangeError(`${hz} Hz is not a whole frequency below ${sampleRate / 2} Hz`);
      }
      this.steps[i] = hz;
      this.amplitudes[i] = dbm0ToAmplitude(levelsDbm0[i]!);
    });
  }

  /** Back to phase zero, so a new burst starts at a zero crossing instead of with a click. */
  restart(): void {
    this.phases.fill(0);
  }

  write(out: Int16Array, start: number, count: number): void {
    const { table, steps, amplitudes, phases } = this;
    const period = table.length;
    for (let n = start; n < start + count; n++) {
      let sum = 0;
      for (let i = 0; i < steps.length; i++) {
        let phase = phases[i]!;
        sum += amplitudes[i]! * table[phase]!;
        phase += steps[i]!;
        phases[i] = phase >= period ? phase - period : phase;
      }
      out[n] = sum > 32767 ? 32767 : sum < -32768 ? -32768 : Math.round(sum);
    }
  }
}

/** Plays one ToneSpec, cadence included, into caller-owned frames. */
export class ToneGenerator {
  private readonly oscillators: Oscillators;
  /** cadence in samples; even indices sound, odd ones are silence */
  private readonly segments: Int32Array;
  private readonly repeat: boolean;
  private segment = 0;
  private position = 0;

  /** `levelDbm0` is the level of each frequency, not of their sum. */
  constructor(spec: ToneSpec, sampleRate: number, levelDbm0 = -13) {
    if (spec.frequencies.length === 0) throw new RangeError('a tone needs a frequency');
    if (spec.repeat && spec.cadence.length % 2 !== 0) throw new RangeError('a repeating cadence needs on/off pairs');
    this.oscillators = new Oscillators(spec.frequencies, spec.frequencies.map(() => levelDbm0), sampleRate);
    this.segments = Int32Array.from(spec.cadence, (ms) => {
      const samples = Math.round((ms * sampleRate) / 1000);
      if (samples <= 0) throw new RangeError(`cadence step of ${ms} ms is too short`);
      return samples;
    });
    this.repeat = spec.repeat;
  }

  /** Writes up to `count` samples; returns how many, which is 0 once a non-repeating tone is over. */
  fill(out: Int16Array, count: number): number {
    const wanted = Math.min(count, out.length);
    const segments = this.segments;
    if (segments.length === 0) {
      this.oscillators.write(out, 0, wanted);
      return wanted;
    }
    let written = 0;
    while (written < wanted) {
      if (this.segment === segments.length) {
        if (!this.repeat) break;
        this.segment = 0;
      }
      const n = Math.min(segments[this.segment]! - this.position, wanted - written);
      if (this.segment % 2 === 0) this.oscillators.write(out, written, n);
      else out.fill(0, written, written + n);
      written += n;
      this.position += n;
      if (this.position === segments[this.segment]) {
        this.segment++;
        this.position = 0;
        this.oscillators.restart();
      }
    }
    return written;
  }

  /** Starts the tone again from the beginning of its cadence. */
  reset(): void {
    this.segment = 0;
    this.position = 0;
    this.oscillators.restart();
  }
}

/** Levels of a DTMF key's two tones; the high group is usually sent a little louder. */
export interface DtmfLevels {
  lowDbm0?: number;
  highDbm0?: number;
}

/** One key's dual tone for a set time: in-band DTMF sending, and test signals for the detector. */
export class DtmfToneGenerator {
  private readonly oscillators: Oscillators;
  private remaining: number;

  constructor(digit: string, durationMs: number, sampleRate: number, levels: DtmfLevels = {}) {
    const pair = dtmfFrequencies(digit);
    if (!pair) throw new RangeError(`not a DTMF key: ${JSON.stringify(digit)}`);
    if (!(durationMs > 0)) throw new RangeError(`bad DTMF duration ${durationMs} ms`);
    this.oscillators = new Oscillators(pair, [levels.lowDbm0 ?? -7, levels.highDbm0 ?? -5], sampleRate);
    this.remaining = Math.round((durationMs * sampleRate) / 1000);
  }

  /** Writes up to `count` samples of the tone; returns how many, 0 once the duration is used up. */
  fill(out: Int16Array, count: number): number {
    const n = Math.min(count, out.length, this.remaining);
    this.oscillators.write(out, 0, n);
    this.remaining -= n;
    return n;
  }
}
