// Records a call to a WAV file: one leg, or both legs mixed. The recording is a silent listener in a
// small conference, so each side gets the mixer's jitter allowance, rate conversion and limiter.
import { ConferenceMixer, type MixerParticipant, type MixerSampleRate } from './mixer.js';
import { WavFileWriter } from './wav.js';

export type RecordingMode = 'caller' | 'callee' | 'both';

export interface RecordingLimit {
  /** Nothing is written past this many seconds of audio. */
  maxSeconds?: number;
  /** Called once, when the limit is reached; the recording still needs stop(). */
  onLimit?: () => void;
}

export interface FinishedRecording {
  path: string;
  seconds: number;
}

export class CallRecorder {
  private readonly mixer = new ConferenceMixer();
  private readonly recording: MixerParticipant;
  private readonly maxSamples: number;
  private caller: MixerParticipant | undefined;
  private callee: MixerParticipant | undefined;
  private written = 0;
  private finished: Promise<FinishedRecording> | undefined;

  private constructor(
    private readonly path: string,
    private readonly mode: RecordingMode,
    private readonly sampleRate: MixerSampleRate,
    private readonly writer: WavFileWriter,
    private readonly limit: RecordingLimit,
  ) {
    this.recording = this.mixer.addParticipant('recording', sampleRate);
    this.maxSamples = limit.maxSeconds === undefined ? Infinity : Math.round(limit.maxSeconds * sampleRate);
  }

  static async start(
    path: string,
    mode: RecordingMode,
    sampleRate: MixerSampleRate = 8000,
    limit: RecordingLimit = {},
  ): Promise<CallRecorder> {
    if (limit.maxSeconds !== undefined && !(limit.maxSeconds > 0)) {
      throw new RangeError(`maxSeconds must be positive, not ${limit.maxSeconds}`);
    }
    return new CallRecorder(path, mode, sampleRate, await WavFileWriter.open(path, sampleRate), limit);
  }

  /** Decoded audio from the caller, as it arrives. */
  pushCaller(pcm: Int16Array, count: number, sampleRate: MixerSampleRate): void {
    if (this.mode === 'callee' || !this.writing) return;
    this.caller = this.seat('caller', this.caller, sampleRate);
    this.caller.pushFrame(pcm, count);
  }

  /** Decoded audio from the callee, as it arrives. */
  pushCallee(pcm: Int16Array, count: number, sampleRate: MixerSampleRate): void {
    if (this.mode === 'caller' || !this.writing) return;
    this.callee = this.seat('callee', this.callee, sampleRate);
    this.callee.pushFrame(pcm, count);
  }

  /** Writes the next 20 ms; call once per frame from the call's pacer. */
  tick(): void {
    if (!this.writing) return;
    this.mixer.mixFrame();
    const frame = this.recording.output();
    const count = Math.min(frame.count, this.maxSamples - this.written);
    this.writer.write(frame.pcm, count);
    this.written += count;
    if (this.written === this.maxSamples) this.limit.onLimit?.();
  }

  /** Finishes the file; calling it again returns the same result. */
  stop(): Promise<FinishedRecording> {
    this.finished ??= this.writer
      .close()
      .then(({ samples }) => ({ path: this.path, seconds: samples / this.sampleRate }));
    return this.finished;
  }

  private get writing(): boolean {
    return this.finished === undefined && this.written < this.maxSamples;
  }

  // A leg whose codec changed mid-call (a re-INVITE from G.711 to G.722) comes back at the new rate.
  private seat(id: string, current: MixerParticipant | undefined, sampleRate: MixerSampleRate): MixerParticipant {
    if (current?.sampleRate === sampleRate) return current;
    if (current !== undefined) this.mixer.removeParticipant(id);
    return this.mixer.addParticipant(id, sampleRate);
  }
}
