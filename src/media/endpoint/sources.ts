// PCM sources the endpoint builds for what it sends on its own: a DTMF key sent in-band, and a tone
// cut to a length.
import type { PcmSource } from '../pcm-source.js';
import { DtmfToneGenerator } from '../tones.js';

/** One key's dual tone followed by a pause, so the same key sent twice is heard as two presses. */
export class DtmfKeySource implements PcmSource {
  private readonly tone: DtmfToneGenerator;
  private pauseLeft: number;

  constructor(
    digit: string,
    toneMs: number,
    pauseMs: number,
    readonly sampleRate: number,
  ) {
    this.tone = new DtmfToneGenerator(digit, toneMs, sampleRate);
    this.pauseLeft = Math.round((pauseMs * sampleRate) / 1000);
  }

  read(out: Int16Array, count: number): number {
    const toned = this.tone.fill(out, count);
    const paused = Math.min(count - toned, this.pauseLeft);
    out.fill(0, toned, toned + paused);
    this.pauseLeft -= paused;
    return toned + paused;
  }
}

/** The first `durationMs` of another source: a ringback or busy tone that would otherwise never end. */
export class LimitedSource implements PcmSource {
  readonly sampleRate: number;
  private left: number;

  constructor(
    private readonly inner: PcmSource,
    durationMs: number,
  ) {
    this.sampleRate = inner.sampleRate;
    this.left = Math.max(0, Math.round((durationMs * inner.sampleRate) / 1000));
  }

  read(out: Int16Array, count: number): number {
    if (this.left === 0) return 0;
    const read = this.inner.read(out, Math.min(count, this.left));
    this.left -= read;
    return read;
  }
}
