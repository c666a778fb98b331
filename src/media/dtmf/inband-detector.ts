// In-band DTMF: Goertzel filters on the eight keypad frequencies, judged over 12.75 ms windows.
// That window is the shortest that keeps the 73 Hz-apart low-group tones apart; two filter banks
// half a window out of step judge the signal every 6.4 ms, fine enough to tell a 20 ms blip from
// a 40 ms key press.
import { dbm0ToAmplitude, DTMF_HIGH_HZ, DTMF_KEYPAD, DTMF_LOW_HZ } from '../tones.js';

const powerRatio = (db: number) => 10 ** (db / 10);

const WINDOW_SECONDS = 0.01275;
/** Each tone must reach this level: below any real key press, above ordinary line noise. */
const MIN_TONE_DBM0 = -30;
/** Low group louder than the high, as line loss at high frequencies leaves it ("normal" twist): 8 dB. */
const MAX_LOW_OVER_HIGH = powerRatio(8);
/** High group louder than the low ("reverse" twist): phones send it at most a few dB up. */
const MAX_HIGH_OVER_LOW = powerRatio(4);
/** Each group's strongest tone beats the group's other tones by 8 dB. */
const MIN_PEAK_OVER_REST = powerRatio(8);
/**
 * Share of the window's power the two tones must hold. Speech spreads power over harmonics and
 * noise over the band, so this is what rejects them; it also fails windows a tone only partly
 * fills, which keeps the window counts below honest about time.
 */
const MIN_TONE_SHARE = 0.8;
/** Consecutive windows with the key before it is reported: always met by 40 ms, never by 20 ms. */
const PRESENT_WINDOWS = 4;
/** Windows in a row without the reported key before it counts again: a 40 ms gap always, a 20 ms break never. */
const ABSENT_WINDOWS = 7;

const BANKS = 2;
const TONES = 8;
const NO_KEY = -1;

/** Reports each DTMF key press found in a PCM stream once, as it is heard. */
export class InbandDtmfDetector {
  private readonly windowLength: number;
  private readonly coefficients = new Float64Array(TONES);
  /** Goertzel state per bank and tone, at [bank * TONES + tone] */
  private readonly s1 = new Float64Array(BANKS * TONES);
  private readonly s2 = new Float64Array(BANKS * TONES);
  private readonly energy = new Float64Array(BANKS);
  private readonly filled = new Int32Array(BANKS);
  private readonly power = new Float64Array(TONES);
  private readonly minTonePower: number;

  private candidate = NO_KEY;
  private candidateWindows = 0;
  private reported = NO_KEY;
  private absentWindows = 0;

  constructor(
    sampleRate: number,
    private readonly onDigit: (digit: string) => void,
  ) {
    const half = Math.round((sampleRate * WINDOW_SECONDS) / 2);
    if (!(half > 0)) throw new RangeError(`bad sample rate ${sampleRate}`);
    this.windowLength = 2 * half;
    [...DTMF_LOW_HZ, ...DTMF_HIGH_HZ].forEach((hz, i) => {
      this.coefficients[i] = 2 * Math.cos((2 * Math.PI * hz) / sampleRate);
    });
    // The second bank starts half a window late: as if it had already taken half a window of silence.
    this.filled[1] = half;
    const amplitude = dbm0ToAmplitude(MIN_TONE_DBM0);
    this.minTonePower = (amplitude * amplitude) / 2;
  }

  /** Takes the next `count` samples; onDigit is called from here as keys are recognised. */
  process(pcm: Int16Array, count: number): void {
    const n = Math.min(count, pcm.length);
    const { coefficients, s1, s2, energy, filled, windowLength } = this;
    for (let i = 0; i < n; i++) {
      const x = pcm[i]!;
      for (let bank = 0; bank < BANKS; bank++) {
        const base = bank * TONES;
        for (let k = 0; k < TONES; k++) {
          const s = x + coefficients[k]! * s1[base + k]! - s2[base + k]!;
          s2[base + k] = s1[base + k]!;
          s1[base + k] = s;
        }
        energy[bank] += x * x;
        if (++filled[bank]! === windowLength) this.finishWindow(bank);
      }
    }
  }

  private finishWindow(bank: number): void {
    const { coefficients, s1, s2, power, windowLength } = this;
    const base = bank * TONES;
    // Scaled so a sine of amplitude A reads A²/2, its mean power, like the window's.
    const scale = 2 / (windowLength * windowLength);
    for (let k = 0; k < TONES; k++) {
      const a = s1[base + k]!;
      const b = s2[base + k]!;
      power[k] = (a * a + b * b - coefficients[k]! * a * b) * scale;
      s1[base + k] = 0;
      s2[base + k] = 0;
    }
    const meanPower = this.energy[bank]! / windowLength;
    this.energy[bank] = 0;
    this.filled[bank] = 0;
    this.track(this.keyIn(meanPower));
  }

  /** The key this window holds, or NO_KEY. */
  private keyIn(meanPower: number): number {
    const power = this.power;
    const row = strongest(power, 0);
    const column = strongest(power, TONES / 2);
    const low = power[row]!;
    const high = power[column]!;
    if (low < this.minTonePower || high < this.minTonePower) return NO_KEY;
    if (low > high * MAX_LOW_OVER_HIGH) return NO_KEY;
    if (high > low * MAX_HIGH_OVER_LOW) return NO_KEY;
    if (!standsOut(power, row, 0) || !standsOut(power, column, TONES / 2)) return NO_KEY;
    if (low + high < MIN_TONE_SHARE * meanPower) return NO_KEY;
    return row * 4 + (column - TONES / 2);
  }

  /** Debounces window verdicts into key presses. */
  private track(key: number): void {
    if (key !== NO_KEY && key === this.candidate) this.candidateWindows++;
    else {
      this.candidate = key;
      this.candidateWindows = key === NO_KEY ? 0 : 1;
    }
    if (this.reported !== NO_KEY) {
      if (key === this.reported) this.absentWindows = 0;
      else if (++this.absentWindows >= ABSENT_WINDOWS) this.reported = NO_KEY;
    }
    if (this.reported === NO_KEY && this.candidateWindows >= PRESENT_WINDOWS) {
      this.reported = this.candidate;
      this.absentWindows = 0;
      this.onDigit(DTMF_KEYPAD[this.candidate >> 2]![this.candidate & 3]!);
    }
  }
}

/** Index of the strongest of the four tones starting at `first`. */
function strongest(power: Float64Array, first: number): number {
  let best = first;
  for (let k = first + 1; k < first + 4; k++) if (power[k]! > power[best]!) best = k;
  return best;
}

function standsOut(power: Float64Array, peak: number, first: number): boolean {
  const limit = power[peak]! / MIN_PEAK_OVER_REST;
  for (let k = first; k < first + 4; k++) if (k !== peak && power[k]! > limit) return false;
  return true;
}
