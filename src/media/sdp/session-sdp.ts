// What the media layer needs to know of an SDP body (RFC 4566, RFC 3264), and the rewrite that puts
// the relay's address and ports in place of a party's own.
import sdpTransform, { type MediaDescription, type SessionDescription } from 'sdp-transform';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface RtpFormat {
  payloadType: number;
  /** upper-case encoding name (PCMU, G722, TELEPHONE-EVENT); from a=rtpmap or the static table */
  encoding: string;
  clockRate: number;
}

export interface SdpStream {
  type: string;
  /** 0 for a rejected or disabled stream */
  port: number;
  /** the connection address in effect for the stream (media-level c= over session-level c=) */
  address: string;
  /** 0.0.0.0 or :: — the RFC 2543 way of putting a call on hold */
  nullAddress: boolean;
  direction: Direction;
  formats: RtpFormat[];
  ptimeMs: number | undefined;
  rtcpMux: boolean;
  /** where the party receives RTCP: a=rtcp (RFC 3605), the RTP port with rtcp-mux, else the next port */
  rtcpPort: number;
  /** the m= transport: RTP/AVP, RTP/SAVP (SRTP), ... */
  protocol: string;
}

export interface ParsedSdp {
  description: SessionDescription;
  streams: SdpStream[];
}

/** RFC 3551 static payload types that can appear without a=rtpmap. */
const STATIC_FORMATS: Record<number, { encoding: string; clockRate: number }> = {
  0: { encoding: 'PCMU', clockRate: 8000 },
  3: { encoding: 'GSM', clockRate: 8000 },
  4: { encoding: 'G723', clockRate: 8000 },
  8: { encoding: 'PCMA', clockRate: 8000 },
  9: { encoding: 'G722', clockRate: 8000 },
  13: { encoding: 'CN', clockRate: 8000 },
  18: { encoding: 'G729', clockRate: 8000 },
};

// ICE would let the parties find each other around the relay, which is exactly what anchoring prevents
const DROPPED_ON_RELAY = ['candidates', 'iceUfrag', 'icePwd', 'iceOptions', 'icelite', 'endOfCandidates', 'remoteCandidates'] as const;

/** The streams of an SDP body, or undefined when it is not SDP we can relay. */
export function parseSdp(text: string): ParsedSdp | undefined {
  let description: SessionDescription;
  try {
    description = sdpTransform.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(description.media) || description.media.length === 0) return undefined;
  const sessionAddress = description.connection?.ip;
  const sessionDirection = description.direction;
  const streams: SdpStream[] = [];
  for (const m of description.media) {
    const address = m.connection?.ip ?? sessionAddress;
    if (address === undefined || typeof m.port !== 'number') return undefined;
    streams.push({
      type: m.type,
      port: m.port,
      address,
      nullAddress: address === '0.0.0.0' || address === '::',
      direction: (m.direction ?? sessionDirection ?? 'sendrecv') as Direction,
      formats: formatsOf(m),
      ptimeMs: typeof m.ptime === 'number' ? m.ptime : undefined,
      rtcpMux: m.rtcpMux !== undefined,
      rtcpPort: m.rtcpMux !== undefined ? m.port : typeof m.rtcp?.port === 'number' ? m.rtcp.port : m.port + 1,
      protocol: m.protocol,
    });
  }
  return { description, streams };
}

function formatsOf(m: MediaDescription): RtpFormat[] {
  const out: RtpFormat[] = [];
  for (const token of String(m.payloads ?? '').split(' ')) {
    const payloadType = Number(token);
    if (token === '' || !Number.isInteger(payloadType)) continue;
    const map = m.rtp.find((r) => r.payload === payloadType);
    const known = STATIC_FORMATS[payloadType];
    if (map) out.push({ payloadType, encoding: map.codec.toUpperCase(), clockRate: map.rate ?? known?.clockRate ?? 8000 });
    else if (known) out.push({ payloadType, ...known });
  }
  return out;
}

export interface StreamRewrite {
  /** relay port the other party is to send to; undefined leaves the stream as it is (port 0 stays 0) */
  port: number | undefined;
  rtcpPort: number | undefined;
  /** replaces the stream's direction attribute (hold handling) */
  direction?: Direction;
}

/** The SDP body with our address and the relay ports in place of the party's own. */
export function rewriteSdp(parsed: ParsedSdp, address: string, rewrites: readonly StreamRewrite[]): string {
  const d: SessionDescription = structuredClone(parsed.description);
  const ipVer = address.includes(':') ? 6 : 4;
  d.origin = { ...d.origin, address, ipVer };
  if (d.connection) d.connection = { version: ipVer, ip: address };
  for (const key of DROPPED_ON_RELAY) delete (d as unknown as Record<string, unknown>)[key];
  d.media.forEach((m, i) => {
    const r = rewrites[i];
    for (const key of DROPPED_ON_RELAY) delete (m as unknown as Record<string, unknown>)[key];
    if (!r || r.port === undefined || m.port === 0) return;
    m.port = r.port;
    m.connection = { version: ipVer, ip: address };
    if (m.rtcp !== undefined || r.rtcpPort !== undefined) {
      if (r.rtcpPort === undefined) delete m.rtcp;
      else m.rtcp = { port: r.rtcpPort, netType: 'IN', ipVer, address };
    }
    if (r.direction !== undefined) m.direction = r.direction;
  });
  return sdpTransform.write(d);
}
