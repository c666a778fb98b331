// SDP for calls the server answers itself (RFC 3264): the answer to a caller's offer, or our own
// offer when the INVITE came without one, and the audio format that results.
import sdpTransform, { type MediaDescription, type SessionDescription } from 'sdp-transform';
import type { CodecFactory } from '../codecs/codec.js';
import { codecByName } from '../codecs/registry.js';
import type { Direction, ParsedSdp, SdpStream } from './session-sdp.js';

export interface NegotiatedFormat {
  payloadType: number;
  codec: CodecFactory;
  telephoneEventPayloadType: number | undefined;
  ptimeMs: number;
}

export interface EndpointSdp {
  body: string;
  /** the audio stream's format; undefined for our own offer, whose format the answer decides */
  format: NegotiatedFormat | undefined;
  /** index of the audio m= line the endpoint serves */
  audioIndex: number;
}

/** Our payload types when we make the offer: the static ones, and 101 for telephone-event. */
const OFFERED = [
  { payloadType: 0, encoding: 'PCMU' },
  { payloadType: 8, encoding: 'PCMA' },
  { payloadType: 9, encoding: 'G722' },
] as const;
const OFFERED_TELEPHONE_EVENT = 101;
const PLAIN_RTP = new Set(['RTP/AVP', 'RTP/AVPF']);
const DEFAULT_PTIME_MS = 20;

export class SdpNegotiationError extends Error {}

/** The answer to `offer` for one audio stream at `address`:`port`; every other stream is declined. */
export function answerOffer(offer: ParsedSdp, address: string, port: number, sessionId: number, version: number): EndpointSdp {
  // SRTP (RTP/SAVP) would need keys the server does not negotiate: such a stream is declined, not answered in clear
  const audioIndex = offer.streams.findIndex(
    (s) => s.type === 'audio' && s.port !== 0 && PLAIN_RTP.has(s.protocol) && s.formats.some((f) => codecFor(f.encoding, f.clockRate)),
  );
  if (audioIndex === -1) throw new SdpNegotiationError('no unencrypted audio stream (RTP/AVP) with PCMU, PCMA or G.722');
  const audio = offer.streams[audioIndex]!;
  const format = formatOf(audio);
  if (!format) throw new SdpNegotiationError('no audio stream with PCMU, PCMA or G.722');
  const media = offer.description.media.map((m, i): MediaDescription => {
    if (i !== audioIndex) return { type: m.type, port: 0, protocol: m.protocol, payloads: m.payloads, rtp: [], fmtp: [] };
    return audioMedia(port, format, answerDirection(audio), m.protocol);
  });
  return { body: write(address, sessionId, version, media), format, audioIndex };
}

/** Our offer, for an INVITE that came without one (the answer arrives in the ACK). */
export function makeOffer(address: string, port: number, sessionId: number, version: number): EndpointSdp {
  const media: MediaDescription = {
    type: 'audio',
    port,
    protocol: 'RTP/AVP',
    payloads: [...OFFERED.map((o) => o.payloadType), OFFERED_TELEPHONE_EVENT].join(' '),
    rtp: [
      ...OFFERED.map((o) => ({ payload: o.payloadType, codec: o.encoding, rate: 8000 })),
      { payload: OFFERED_TELEPHONE_EVENT, codec: 'telephone-event', rate: 8000 },
    ],
    fmtp: [{ payload: OFFERED_TELEPHONE_EVENT, config: '0-16' }],
    ptime: DEFAULT_PTIME_MS,
    direction: 'sendrecv',
  };
  return { body: write(address, sessionId, version, [media]), format: undefined, audioIndex: 0 };
}

/**
 * An offer of exactly `format` (with its telephone-event): for a leg bridged to one that already
 * talks that format, so the relay passes packets through without transcoding.
 */
export function makeOfferFor(format: NegotiatedFormat, address: string, port: number, sessionId: number, version: number): EndpointSdp {
  return { body: write(address, sessionId, version, [audioMedia(port, format, 'sendrecv', 'RTP/AVP')]), format: undefined, audioIndex: 0 };
}

/** The format an answer to our offer chose: its first audio format we can use. */
export function formatFromAnswer(answer: ParsedSdp): { format: NegotiatedFormat; stream: SdpStream } {
  const stream = answer.streams.find((s) => s.type === 'audio' && s.port !== 0);
  const format = stream && formatOf(stream);
  if (!stream || !format) throw new SdpNegotiationError('the answer accepts none of PCMU, PCMA or G.722');
  return { format, stream };
}

function formatOf(stream: SdpStream): NegotiatedFormat | undefined {
  const chosen = stream.formats.find((f) => codecFor(f.encoding, f.clockRate));
  if (!chosen) return undefined;
  const telephoneEvent = stream.formats.find((f) => f.encoding === 'TELEPHONE-EVENT' && f.clockRate === 8000);
  return {
    payloadType: chosen.payloadType,
    codec: codecFor(chosen.encoding, chosen.clockRate)!,
    telephoneEventPayloadType: telephoneEvent?.payloadType,
    ptimeMs: DEFAULT_PTIME_MS,
  };
}

function codecFor(encoding: string, clockRate: number): CodecFactory | undefined {
  const codec = codecByName(encoding);
  return codec && codec.clockRate === clockRate ? codec : undefined;
}

/** RFC 3264 §6.1: we send and receive unless the offer rules one direction out. */
function answerDirection(offer: SdpStream): Direction {
  if (offer.nullAddress || offer.direction === 'inactive') return 'inactive';
  if (offer.direction === 'sendonly') return 'recvonly';
  if (offer.direction === 'recvonly') return 'sendonly';
  return 'sendrecv';
}

function audioMedia(port: number, format: NegotiatedFormat, direction: Direction, protocol: string): MediaDescription {
  const te = format.telephoneEventPayloadType;
  return {
    type: 'audio',
    port,
    protocol,
    payloads: te === undefined ? String(format.payloadType) : `${format.payloadType} ${te}`,
    rtp: [
      { payload: format.payloadType, codec: format.codec.name, rate: format.codec.clockRate },
      ...(te === undefined ? [] : [{ payload: te, codec: 'telephone-event', rate: 8000 }]),
    ],
    fmtp: te === undefined ? [] : [{ payload: te, config: '0-16' }],
    ptime: format.ptimeMs,
    direction,
  };
}

function write(address: string, sessionId: number, version: number, media: MediaDescription[]): string {
  const ipVer = address.includes(':') ? 6 : 4;
  const description: SessionDescription = {
    version: 0,
    origin: { username: '-', sessionId, sessionVersion: version, netType: 'IN', ipVer, address },
    name: 'Switchboard',
    connection: { version: ipVer, ip: address },
    timing: { start: 0, stop: 0 },
    media,
  };
  return sdpTransform.write(description);
}
