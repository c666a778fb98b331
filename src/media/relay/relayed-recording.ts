import type { Clock } from '../../transaction/clock.js';
import type { CodecInstance } from '../codecs/codec.js';
import { codecByName } from '../codecs/registry.js';
import { FramePacer } from '../frame-pacer.js';
import { CallRecorder, type FinishedRecording, type RecordingMode } from '../recorder.js';
import { rtpPayloadLength, rtpPayloadOffset, rtpPayloadType } from '../rtp/rtp-packet.js';
import type { MediaSession, RelayedStream, Side } from './media-session.js';

const FRAME_MS = 20;
/** longest frame a phone sends (ptime up to 120 ms) at 16 kHz */
const MAX_FRAME_SAMPLES = 1920;

export class NothingToRecordError extends Error {}

/** A relayed call's audio, one side or both mixed, written to a WAV file while the call goes on. */
export class RelayedCallRecording {
  private readonly pacer: FramePacer;
  private stopped: Promise<FinishedRecording> | undefined;

  private constructor(
    private readonly session: MediaSession,
    private readonly index: number,
    private readonly recorder: CallRecorder,
    clock: Clock,
  ) {
    this.pacer = new FramePacer(clock, FRAME_MS, () => recorder.tick());
  }

  static async start(session: MediaSession, path: string, mode: RecordingMode, clock: Clock): Promise<RelayedCallRecording> {
    const stream = session.streams.find((s) => (s.described.caller ?? s.described.callee)?.type === 'audio');
    if (!stream) throw new NothingToRecordError('the call has no relayed audio stream');
    const recorder = await CallRecorder.start(path, mode, 8000);
    const recording = new RelayedCallRecording(session, stream.index, recorder, clock);
    session.tap(stream.index, { caller: recording.decoderFor(stream, 'caller'), callee: recording.decoderFor(stream, 'callee') });
    recording.pacer.start();
    return recording;
  }

  stop(): Promise<FinishedRecording> {
    if (!this.stopped) {
      this.session.tap(this.index, undefined);
      this.pacer.stop();
      this.stopped = this.recorder.stop();
    }
    return this.stopped;
  }

  /** Decodes what `from` sends: payload types are the receiver's (RFC 3264 §6.1), else the sender's own. */
  private decoderFor(stream: RelayedStream, from: Side): (packet: Buffer, length: number) => void {
    const decoders = new Map<number, CodecInstance | null>();
    const pcm = new Int16Array(MAX_FRAME_SAMPLES);
    const payload = new Uint8Array(MAX_FRAME_SAMPLES);
    const push = from === 'caller' ? this.recorder.pushCaller.bind(this.recorder) : this.recorder.pushCallee.bind(this.recorder);
    return (packet, length) => {
      const offset = rtpPayloadOffset(packet, length);
      const size = rtpPayloadLength(packet, length);
      if (offset < 0 || size <= 0 || this.stopped) return;
      const pt = rtpPayloadType(packet);
      let codec = decoders.get(pt);
      if (codec === undefined) {
        const receiver = from === 'caller' ? 'callee' : 'caller';
        const format = [...(stream.described[receiver]?.formats ?? []), ...(stream.described[from]?.formats ?? [])].find((f) => f.payloadType === pt);
        const factory = format && codecByName(format.encoding);
        codec = factory && factory.clockRate === format.clockRate ? factory.create() : null;
        decoders.set(pt, codec);
      }
      if (!codec) return;
      const bytes = Math.min(size, payload.length);
      payload.set(packet.subarray(offset, offset + bytes));
      const count = codec.decode(payload, bytes, pcm);
      push(pcm, count, codec.sampleRate as 8000 | 16000);
    };
  }
}
