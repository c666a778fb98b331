// RTP packets as a test's far end sends them, and the payload of packets the code under test sent.
import { RTP_HEADER_BYTES, rtpPayloadLength, rtpPayloadOffset, writeRtpHeader } from '../../src/media/rtp/rtp-packet.js';

/** The far end is one stream: every packet rtpPacket() builds carries this SSRC. */
const FAR_END_SSRC = 0x1234abcd;

/** A plain RTP packet (no CSRCs, extension or padding); sequence and timestamp wrap as on the wire. */
export function rtpPacket(payloadType: number, sequence: number, timestamp: number, payload: Uint8Array, marker = false): Buffer {
  const packet = Buffer.alloc(RTP_HEADER_BYTES + payload.length);
  writeRtpHeader(packet, payloadType, marker, sequence & 0xffff, timestamp >>> 0, FAR_END_SSRC);
  packet.set(payload, RTP_HEADER_BYTES);
  return packet;
}

/** The payload of a whole packet, after any CSRCs and extension and before any padding. */
export function rtpPayload(packet: Buffer): Buffer;
export function rtpPayload(packet: Uint8Array): Uint8Array;
export function rtpPayload(packet: Uint8Array): Uint8Array {
  const offset = rtpPayloadOffset(packet, packet.length);
  return packet.subarray(offset, offset + rtpPayloadLength(packet, packet.length));
}
