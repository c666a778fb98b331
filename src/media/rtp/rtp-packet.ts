// RTP fixed header (RFC 3550 §5.1) read and written in place: media runs per packet, so nothing here
// allocates, and nothing throws on hostile bytes (a read past the end is undefined, which bit operators
// turn into 0; callers check rtpPayloadOffset before trusting the fields).

export const RTP_HEADER_BYTES = 12;
export const RTP_VERSION = 2;

/** RFC 5761 §4: RTCP packet types 192–223 show up as payload types 64–95 once the marker bit is masked. */
const RTCP_FIRST_PAYLOAD_TYPE = 64;
const RTCP_LAST_PAYLOAD_TYPE = 95;
/** An RTCP header with its SSRC (RFC 3550 §6.4.1: an empty receiver report). */
const RTCP_MIN_BYTES = 8;
const EXTENSION_HEADER_BYTES = 4;

export function rtpVersion(b: Uint8Array): number {
  return b[0]! >> 6;
}

export function rtpPayloadType(b: Uint8Array): number {
  return b[1]! & 0x7f;
}

export function rtpMarker(b: Uint8Array): boolean {
  return (b[1]! & 0x80) !== 0;
}

export function rtpSequence(b: Uint8Array): number {
  return (b[2]! << 8) | b[3]!;
}

export function rtpTimestamp(b: Uint8Array): number {
  return readUint32(b, 4);
}

export function rtpSsrc(b: Uint8Array): number {
  return readUint32(b, 8);
}

/**
 * Where the payload starts in the first `length` bytes of `b`, after the CSRC list and any header
 * extension; -1 for a packet that is not version 2 or whose header, extension or padding overruns it.
 */
export function rtpPayloadOffset(b: Uint8Array, length: number): number {
  const end = Math.min(length, b.length);
  if (end < RTP_HEADER_BYTES || rtpVersion(b) !== RTP_VERSION) return -1;
  let offset = RTP_HEADER_BYTES + 4 * (b[0]! & 0x0f);
  if (b[0]! & 0x10) {
    if (offset + EXTENSION_HEADER_BYTES > end) return -1;
    offset += EXTENSION_HEADER_BYTES + 4 * ((b[offset + 2]! << 8) | b[offset + 3]!);
  }
  const padding = paddingBytes(b, end);
  return padding < 0 || offset + padding > end ? -1 : offset;
}

/** Payload bytes after the header and before the padding; -1 where rtpPayloadOffset is -1. */
export function rtpPayloadLength(b: Uint8Array, length: number): number {
  const offset = rtpPayloadOffset(b, length);
  if (offset < 0) return -1;
  const end = Math.min(length, b.length);
  return end - offset - paddingBytes(b, end);
}

/** For a socket shared by RTP and RTCP (RFC 5761): true for what should go to RTCP. */
export function isRtcp(b: Uint8Array, length: number): boolean {
  if (Math.min(length, b.length) < RTCP_MIN_BYTES || rtpVersion(b) !== RTP_VERSION) return false;
  const payloadType = rtpPayloadType(b);
  return payloadType >= RTCP_FIRST_PAYLOAD_TYPE && payloadType <= RTCP_LAST_PAYLOAD_TYPE;
}

/** Writes a version 2 header without padding, extension or CSRCs; returns its length. */
export function writeRtpHeader(
  out: Uint8Array,
  payloadType: number,
  marker: boolean,
  sequence: number,
  timestamp: number,
  ssrc: number,
): typeof RTP_HEADER_BYTES {
  out[0] = RTP_VERSION << 6;
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out[2] = (sequence >> 8) & 0xff;
  out[3] = sequence & 0xff;
  writeUint32(out, 4, timestamp);
  writeUint32(out, 8, ssrc);
  return RTP_HEADER_BYTES;
}

/** RFC 3550 §5.1: with P set, the last byte counts the padding, itself included, so 0 is malformed (-1). */
function paddingBytes(b: Uint8Array, end: number): number {
  if ((b[0]! & 0x20) === 0) return 0;
  const count = b[end - 1]!;
  return count === 0 ? -1 : count;
}

function readUint32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeUint32(out: Uint8Array, at: number, value: number): void {
  out[at] = (value >>> 24) & 0xff;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}
