// Plays PCM sources into a leg as paced RTP: one frame per ptime, encoded with the leg's codec. One
// packet buffer and one PCM frame are allocated up front and reused for every frame.
import type { CodecInstance } from './codecs/codec.js';
import type { Clock } from '../transaction/clock.js';
import { FramePacer } from './frame-pacer.js';
import { RateAdapter, type PcmSource } from './pcm-source.js';
import { RTP_HEADER_BYTES } from './rtp/rtp-packet.js';
import { RtpSender } from './rtp/rtp-sender.js';

export interface PlayerOptions {
  clock: Clock;
  codec: CodecInstance;
  payloadType: number;
  ptimeMs?: number;
  /** Gets the same buffer every frame: send it (or copy it) before returning. */
  send: (packet: Uint8Array, length: number) => void;
  /** The leg's outgoing stream, when something else sends on it too; the player makes one otherwise. */
  sender?: RtpSender;
}

/** Room for codecs of up to 16 bits a sample (L16); G.711 needs 8 and G.722 4. */
const MAX_PAYLOAD_BYTES_PER_SAMPLE = 2;

export class Player {
  private readonly codec: CodecInstance;
  private readonly payloadType: number;
  private readonly send: (packet: Uint8Array, length: number) => void;
  private readonly sender: RtpSender;
  private readonly clock: Clock;
  private readonly pacer: FramePacer;
  private readonly frameMs: number;
  private readonly frameSamples: number;
  private readonly frameTicks: number;
  private readonly pcm: Int16Array;
  private readonly packet: Uint8Array;
  private readonly payload: Uint8Array;
  private source: PcmSource | undefined;
  private onDone: (() => void) | undefined;
  /** When this player's last packet went out, so a later play() can move the timestamp over the silence. */
  private lastSentAt: number | undefined;

  constructor(options: PlayerOptions) {
    this.clock = options.clock;
    this.codec = options.codec;
    this.payloadType = options.payloadType;
    this.send = options.send;
    this.sender = options.sender ?? new RtpSender();
    this.frameMs = options.ptimeMs ?? 20;
    this.frameSamples = samplesIn(this.frameMs, this.codec.sampleRate);
    this.frameTicks = samplesIn(this.frameMs, this.codec.clockRate);
    this.pcm = new Int16Array(this.frameSamples);
    this.packet = new Uint8Array(RTP_HEADER_BYTES + MAX_PAYLOAD_BYTES_PER_SAMPLE * this.frameSamples);
    this.payload = this.packet.subarray(RTP_HEADER_BYTES);
    this.pacer = new FramePacer(
      this.clock,
      this.frameMs,
      () => this.sendFrame(),
      (frames) => this.sender.advance(frames * this.frameTicks),
    );
  }

  get playing(): boolean {
    return this.source !== undefined;
  }

  /**
   * Starts `source` (resampled when its rate is not the codec's), replacing whatever was playing
   * without a break in the pacing. `onDone` runs once, when the source has run out; not after stop()
   * or when another play() replaces it.
   */
  play(source: PcmSource, onDone?: () => void): void {
    this.source = source.sampleRate === this.codec.sampleRate ? source : new RateAdapter(source, this.codec.sampleRate);
    this.onDone = onDone;
    this.sender.markNextPacket();
    if (this.pacer.active) return;
    this.skipSilenceSinceLastPacket();
    this.pacer.start();
  }

  stop(): void {
    this.pacer.stop();
    this.source = undefined;
    this.onDone = undefined;
  }

  private skipSilenceSinceLastPacket(): void {
    if (this.lastSentAt === undefined) return;
    const silentMs = this.clock.now() - this.lastSentAt - this.frameMs;
    if (silentMs > 0) this.sender.advance(Math.round((silentMs * this.codec.clockRate) / 1000));
  }

  private sendFrame(): void {
    const samples = this.source === undefined ? 0 : this.source.read(this.pcm, this.frameSamples);
    if (samples === 0) {
      this.finish();
      return;
    }
    // The source's last frame comes up short: the rest of it is silence.
    this.pcm.fill(0, samples);
    const payloadLength = this.codec.encode(this.pcm, this.frameSamples, this.payload);
    const length = this.sender.packet(this.packet, this.payloadType, payloadLength, this.frameTicks, false);
    this.lastSentAt = this.clock.now();
    this.send(this.packet, length);
  }

  private finish(): void {
    const onDone = this.onDone;
    this.stop();
    onDone?.();
  }
}

function samplesIn(ms: number, rate: number): number {
  const samples = (ms * rate) / 1000;
  if (!Number.isInteger(samples) || samples <= 0) throw new RangeError(`${ms} ms is not a whole number of samples at ${rate} Hz`);
  return samples;
}
