// One record() of what the far end says: the WAV file, the 20 ms pacer that writes it, and the three
// ways it ends by itself: a stop key, the time limit, or silence once the caller has spoken.
import { digitToEvent } from '../dtmf/rfc4733.js';
import { FramePacer } from '../frame-pacer.js';
import type { MixerSampleRate } from '../mixer.js';
import { CallRecorder } from '../recorder.js';
import { dbm0ToAmplitude } from '../tones.js';
import type { Clock } from '../../transaction/clock.js';

export interface RecordOptions {
  /** nothing is recorded past this many seconds */
  maxSeconds: number;
  /** keys that end the recording; the one pressed is in the result and not reported through onDigit */
  stopDigits?: string;
  /** ends the recording after this long below speech level, once the caller has been heard */
  silenceSeconds?: number;
  /** plays a short beep before the recording starts */
  beep?: boolean;
}

export type RecordingStop = 'digit' | 'max' | 'silence' | 'stopped';

export interface RecordResult {
  path: string;
  seconds: number;
  stoppedBy: RecordingStop;
  /** the stop key, when stoppedBy is 'digit' */
  digit?: string;
}

/** The call recorder's mixer writes 20 ms frames. */
const FRAME_MS = 20;
/** A frame whose RMS level is below this is silence: under quiet speech, over the noise of a quiet line. */
const SILENCE_DBM0 = -35;
/** Mean power of a sine at SILENCE_DBM0, compared with a frame's mean power so no square root is taken. */
const SILENCE_POWER = dbm0ToAmplitude(SILENCE_DBM0) ** 2 / 2;

interface Outcome {
  stoppedBy: RecordingStop;
  digit: string | undefined;
}

export class EndpointRecording {
  private readonly pacer: FramePacer;
  private readonly stopDigits: string;
  private readonly silenceMs: number | undefined;
  /** set while audio is written */
  private recorder: CallRecorder | undefined;
  private finished = false;
  private settle!: (outcome: Outcome) => void;
  private readonly outcome = new Promise<Outcome>((resolve) => {
    this.settle = resolve;
  });
  private lastSoundAt: number | undefined;

  /** Throws a RangeError for options it cannot record with. */
  constructor(
    private readonly path: string,
    private readonly options: RecordOptions,
    private readonly clock: Clock,
    private readonly sampleRate: MixerSampleRate,
  ) {
    const { maxSeconds, silenceSeconds, stopDigits = '' } = options;
    if (!(Number.isFinite(maxSeconds) && maxSeconds > 0)) throw new RangeError(`maxSeconds must be positive, not ${maxSeconds}`);
    if (silenceSeconds !== undefined && !(Number.isFinite(silenceSeconds) && silenceSeconds > 0)) {
      throw new RangeError(`silenceSeconds must be positive, not ${silenceSeconds}`);
    }
    for (const digit of stopDigits) {
      if (digitToEvent(digit) === undefined) throw new RangeError(`not a DTMF key in stopDigits: ${JSON.stringify(digit)}`);
    }
    this.stopDigits = stopDigits.toUpperCase();
    this.silenceMs = silenceSeconds === undefined ? undefined : silenceSeconds * 1000;
    this.pacer = new FramePacer(clock, FRAME_MS, this.tick);
  }

  /** True while audio is being written: after the file is open and any beep is over, until the end. */
  get writing(): boolean {
    return this.recorder !== undefined;
  }

  /** Records once the file is open and `ready` (the beep) has settled; resolves when it has ended. */
  async run(ready: Promise<unknown>): Promise<RecordResult> {
    const recorder = await CallRecorder.start(this.path, 'caller', this.sampleRate, {
      maxSeconds: this.options.maxSeconds,
      onLimit: () => this.finish('max'),
    });
    await ready;
    if (!this.finished) {
      this.recorder = recorder;
      this.pacer.start();
    }
    const { stoppedBy, digit } = await this.outcome;
    const { path, seconds } = await recorder.stop();
    return digit === undefined ? { path, seconds, stoppedBy } : { path, seconds, stoppedBy, digit };
  }

  /** Received audio, decoded. */
  audio(pcm: Int16Array, count: number): void {
    const recorder = this.recorder;
    if (recorder === undefined) return;
    recorder.pushCaller(pcm, count, this.sampleRate);
    if (this.silenceMs !== undefined && count > 0 && meanPower(pcm, count) >= SILENCE_POWER) {
      this.lastSoundAt = this.clock.now();
    }
  }

  /** Ends the recording if `digit` is a stop key; true when it did. A key pressed during the beep counts. */
  stopOnDigit(digit: string): boolean {
    if (this.finished || !this.stopDigits.includes(digit)) return false;
    this.finish('digit', digit);
    return true;
  }

  /** Ends the recording; later calls change nothing. */
  finish(stoppedBy: RecordingStop, digit?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.pacer.stop();
    this.recorder = undefined;
    this.settle({ stoppedBy, digit });
  }

  private readonly tick = (): void => {
    this.recorder?.tick();
    const { silenceMs, lastSoundAt } = this;
    if (silenceMs !== undefined && lastSoundAt !== undefined && this.clock.now() - lastSoundAt >= silenceMs) {
      this.finish('silence');
    }
  };
}

function meanPower(pcm: Int16Array, count: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) sum += pcm[i]! * pcm[i]!;
  return sum / count;
}
