// One outgoing RTP stream: the SSRC, sequence number and timestamp that must stay continuous across
// everything played into a leg (prompts, tones, music), so the phone's jitter buffer never resets.
import { randomInt } from 'node:crypto';
import { RTP_HEADER_BYTES, writeRtpHeader } from './rtp-packet.js';

const UINT32_RANGE = 2 ** 32;
const UINT16_RANGE = 2 ** 16;

/** Fixed starting values, for tests; RFC 3550 §5.1 wants them random otherwise. */
export interface RtpSenderStart {
  ssrc?: number;
  sequence?: number;
  timestamp?: number;
}

export class RtpSender {
  readonly ssrc: number;
  private sequence: number;
  private timestamp: number;
  private markNext = true;

  constructor(start: RtpSenderStart = {}) {
    this.ssrc = (start.ssrc ?? randomInt(UINT32_RANGE)) >>> 0;
    this.sequence = (start.sequence ?? randomInt(UINT16_RANGE)) & 0xffff;
    this.timestamp = (start.timestamp ?? randomInt(UINT32_RANGE)) >>> 0;
  }

  /**
   * Writes the header in front of the `payloadLength` bytes already at out[RTP_HEADER_BYTES...] and
   * returns the packet length. `clockTicks` is the payload's duration at the RTP clock rate (160 for
   * 20 ms of PCMU, PCMA and also G.722, whose clock runs at 8000 Hz).
   */
  packet(out: Uint8Array, payloadType: number, payloadLength: number, clockTicks: number, marker: boolean): number {
    writeRtpHeader(out, payloadType, marker || this.markNext, this.sequence, this.timestamp, this.ssrc);
    this.markNext = false;
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + clockTicks) >>> 0;
    return RTP_HEADER_BYTES + payloadLength;
  }

  /** Sets the marker bit on the next packet: the start of a talkspurt or of a new source (RFC 3551 §4.1). */
  markNextPacket(): void {
    this.markNext = true;
  }

  /** Moves the timestamp over `clockTicks` not sent; what follows is a new talkspurt, so it is marked. */
  advance(clockTicks: number): void {
    this.timestamp = (this.timestamp + clockTicks) >>> 0;
    this.markNext = true;
  }
}
