// Where played audio comes from: anything that hands out 16-bit PCM at its own rate, a frame at a
// time. Reads happen once per frame, so no source allocates in read().
import { Downsampler2x, Upsampler2x } from './resample.js';
import { ToneGenerator, type ToneSpec } from './tones.js';

export interface PcmSource {
  readonly sampleRate: number;
  /**
   * Writes up to `count` samples to the start of `out` and returns how many. Fewer than `count` only
   * at the end of the audio; 0 once it is over, and on every read after.
   */
  read(out: Int16Array, count: number): number;
}

/** Samples already in memory: a decoded prompt or music file. */
export class BufferSource implements PcmSource {
  private position = 0;

  constructor(
    private readonly samples: Int16Array,
    readonly sampleRate: number,
    private readonly options: { loop?: boolean } = {},
  ) {}

  read(out: Int16Array, count: number): number {
    const samples = this.samples;
    let written = 0;
    while (written < count && samples.length > 0) {
      if (this.position === samples.length) {
        if (!this.options.loop) break;
        this.position = 0;
      }
      const end = Math.min(samples.length, this.position + count - written);
      for (let i = this.position; i < end; i++) out[written++] = samples[i]!;
      this.position = end;
    }
    return written;
  }
}

/** Silence for `durationMs`, or for ever: a pause between prompts, or a held leg kept alive. */
export class SilenceSource implements PcmSource {
  private remaining: number;

  constructor(
    readonly sampleRate: number,
    durationMs = Infinity,
  ) {
    this.remaining = Math.round((durationMs * sampleRate) / 1000);
  }

  read(out: Int16Array, count: number): number {
    const written = Math.min(count, this.remaining);
    out.fill(0, 0, written);
    this.remaining -= written;
    return written;
  }
}

/** A call-progress tone with its cadence: ringback, busy, a beep. Ends only if the tone does (the beep). */
export class ToneSource implements PcmSource {
  private readonly generator: ToneGenerator;

  constructor(
    spec: ToneSpec,
    readonly sampleRate: number,
    levelDbm0?: number,
  ) {
    this.generator = new ToneGenerator(spec, sampleRate, levelDbm0);
  }

  read(out: Int16Array, count: number): number {
    return this.generator.fill(out, count);
  }
}

interface Resampler {
  process(input: Int16Array, count: number, out: Int16Array): number;
}

/** Converts another source between 8 and 16 kHz, so any source can feed any codec. */
export class RateAdapter implements PcmSource {
  private readonly resampler: Resampler;
  private readonly upsampling: boolean;
  private input = new Int16Array(0);
  private converted = new Int16Array(0);
  /** converted[handedOut, convertedEnd) is output not yet read: upsampling makes pairs, a read may want one */
  private handedOut = 0;
  private convertedEnd = 0;
  private innerDone = false;

  constructor(
    private readonly inner: PcmSource,
    readonly sampleRate: number,
  ) {
    if (inner.sampleRate === 8000 && sampleRate === 16000) {
      this.resampler = new Upsampler2x();
      this.upsampling = true;
    } else if (inner.sampleRate === 16000 && sampleRate === 8000) {
      this.resampler = new Downsampler2x();
      this.upsampling = false;
    } else {
      throw new RangeError(`no conversion from ${inner.sampleRate} Hz to ${sampleRate} Hz (only 8000 and 16000)`);
    }
  }

  read(out: Int16Array, count: number): number {
    let written = this.handOut(out, 0, count);
    if (written === count || this.innerDone) return written;
    const wanted = count - written;
    const inputCount = this.upsampling ? Math.ceil(wanted / 2) : 2 * wanted;
    this.reserve(inputCount);
    const read = this.inner.read(this.input, inputCount);
    if (read < inputCount) this.innerDone = true;
    this.convertedEnd = this.resampler.process(this.input, read, this.converted);
    this.handedOut = 0;
    written = this.handOut(out, written, count);
    return written;
  }

  private handOut(out: Int16Array, from: number, count: number): number {
    let written = from;
    while (written < count && this.handedOut < this.convertedEnd) out[written++] = this.converted[this.handedOut++]!;
    return written;
  }

  /** Grows the buffers on the first read and whenever reads get longer; steady-state reads reuse them. */
  private reserve(inputCount: number): void {
    if (this.input.length >= inputCount) return;
    this.input = new Int16Array(inputCount);
    this.converted = new Int16Array(this.upsampling ? 2 * inputCount : Math.ceil(inputCount / 2) + 1);
  }
}
