// The endpoint's one outgoing RTP stream. Prompts, frames from a conference or an echo, and DTMF
// events all go out under one SSRC with the sequence number and timestamp running on across them,
// so the phone's jitter buffer never sees a new stream. After a pause the timestamp moves on by the
// time nothing was sent and the next packet is marked, as RFC 3551 §4.1 asks of a new talkspurt.
import type { CodecInstance } from '../codecs/codec.js';
import { TELEPHONE_EVENT_BYTES, type TelephoneEventSender } from '../dtmf/rfc4733.js';
import { MAX_FRAMES_PER_TICK } from '../frame-pacer.js';
import { RTP_HEADER_BYTES } from '../rtp/rtp-packet.js';
import { RtpSender } from '../rtp/rtp-sender.js';
import type { Clock } from '../../transaction/clock.js';

/** Room for codecs of up to 16 bits a sample, as in the Player. */
const MAX_PAYLOAD_BYTES_PER_SAMPLE = 2;

export interface OutgoingStreamOptions {
  clock: Clock;
  /** shared with the Player, so an adaptive encoder (G.722) keeps its state across both */
  encoder: CodecInstance;
  payloadType: number;
  /** the Player's frame length */
  ptimeMs: number;
  /** longest frame sendFrame() takes */
  maxFrameSamples: number;
  send: (packet: Uint8Array, length: number) => void;
}

export class OutgoingStream {
  /** for the Player, which writes its own headers */
  readonly sender = new RtpSender();
  private readonly clock: Clock;
  private readonly encoder: CodecInstance;
  private readonly payloadType: number;
  private readonly ptimeMs: number;
  private readonly maxFrameSamples: number;
  private readonly send: (packet: Uint8Array, length: number) => void;
  private readonly framePacket: Uint8Array;
  private readonly framePayload: Uint8Array;
  private readonly eventPacket = new Uint8Array(RTP_HEADER_BYTES + TELEPHONE_EVENT_BYTES);
  /** when the timestamp the next packet carries is due, had the stream gone on without a pause */
  private nextDueAt: number | undefined;
  /** when the timestamp of the key press being sent was due */
  private pressDueAt = 0;
  /** whether the last packet came from sendFrame(), whose caller's pacer may run late and catch up */
  private framesFlowing = false;

  constructor(options: OutgoingStreamOptions) {
    this.clock = options.clock;
    this.encoder = options.encoder;
    this.payloadType = options.payloadType;
    this.ptimeMs = options.ptimeMs;
    this.maxFrameSamples = options.maxFrameSamples;
    this.send = options.send;
    this.framePacket = new Uint8Array(RTP_HEADER_BYTES + MAX_PAYLOAD_BYTES_PER_SAMPLE * options.maxFrameSamples);
    this.framePayload = this.framePacket.subarray(RTP_HEADER_BYTES);
  }

  /** The Player's send callback: one ptime of audio went out. */
  readonly sendPlayed = (packet: Uint8Array, length: number): void => {
    this.framesFlowing = false;
    this.transmit(packet, length, this.ptimeMs);
  };

  /** Before the Player starts or a key press is sent: moves the timestamp over the pause before it. */
  resume(): void {
    this.catchUp(0);
  }

  /** Encodes and sends `count` samples now. */
  sendFrame(pcm: Int16Array, count: number): void {
    if (!(count > 0 && count <= this.maxFrameSamples)) {
      throw new RangeError(`a frame of ${count} samples (1 to ${this.maxFrameSamples})`);
    }
    // A pacer that fell behind sends the frames it owes back to back, up to MAX_FRAMES_PER_TICK:
    // lateness within that is not a pause.
    this.catchUp(this.framesFlowing ? MAX_FRAMES_PER_TICK * this.ptimeMs : 0);
    this.framesFlowing = true;
    const encoder = this.encoder;
    const payloadLength = encoder.encode(pcm, count, this.framePayload);
    const ticks = Math.floor((count * encoder.clockRate) / encoder.sampleRate);
    const length = this.sender.packet(this.framePacket, this.payloadType, payloadLength, ticks, false);
    this.transmit(this.framePacket, length, (count * 1000) / encoder.sampleRate);
  }

  /**
   * Sends the press's next telephone-event packet, all of them with the timestamp of its start
   * (RFC 4733 §2.5.1.1). Returns false once the press is over; the timestamp then moves on by the
   * time the press took, so the audio after it stays in step with the clock.
   */
  sendEvent(events: TelephoneEventSender, payloadType: number): boolean {
    const now = this.clock.now();
    const event = events.next(this.eventPacket, RTP_HEADER_BYTES);
    if (event === undefined) {
      this.sender.advance(Math.max(0, Math.round(((now - this.pressDueAt) * this.encoder.clockRate) / 1000)));
      this.nextDueAt = now;
      return false;
    }
    // A press that starts between two audio frames takes the timestamp of the next one.
    if (event.marker) this.pressDueAt = Math.max(now, this.nextDueAt ?? now);
    this.framesFlowing = false;
    const length = this.sender.packet(this.eventPacket, payloadType, event.length, 0, event.marker);
    this.send(this.eventPacket, length);
    return true;
  }

  private transmit(packet: Uint8Array, length: number, durationMs: number): void {
    this.send(packet, length);
    this.nextDueAt = this.clock.now() + durationMs;
  }

  private catchUp(toleranceMs: number): void {
    if (this.nextDueAt === undefined) return;
    const now = this.clock.now();
    const silentMs = now - this.nextDueAt;
    if (silentMs <= toleranceMs) return;
    this.sender.advance(Math.round((silentMs * this.encoder.clockRate) / 1000));
    this.nextDueAt = now;
  }
}
