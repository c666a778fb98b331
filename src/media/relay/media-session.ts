import { parseSdp, rewriteSdp, type Direction, type SdpStream, type StreamRewrite } from '../sdp/session-sdp.js';
import type { PacketHandler, RelayLeg } from './relay-leg.js';

export type Side = 'caller' | 'callee';

export function otherSide(side: Side): Side {
  return side === 'caller' ? 'callee' : 'caller';
}

/** One m= line: the leg facing the caller and the leg facing the callee. */
export interface RelayedStream {
  readonly index: number;
  readonly legs: Record<Side, RelayLeg>;
  /** what each side last said about the stream */
  readonly described: Record<Side, SdpStream | undefined>;
  /** the side that put the other on hold, if any */
  heldBy: Side | undefined;
  /** while set, RTP goes through JS so each packet can also be looked at (a recording) */
  taps: Record<Side, PacketHandler> | undefined;
}

/** Hooks for what the server itself plays into a leg (music on hold). */
export interface HoldHandler {
  /** `held` stopped hearing the other side; play to it through `leg` using its formats */
  startHoldMusic(stream: RelayedStream, held: Side): void;
  stopHoldMusic(stream: RelayedStream, held: Side): void;
}

export interface SessionAddresses {
  /** the address to write into SDP sent to a side (our address as that side reaches us) */
  sdpAddress(side: Side): string;
}

export class SdpRelayError extends Error {}

export interface MediaLegState {
  relayPort: number;
  sendsTo: { address: string; port: number; latched: boolean } | null;
  packetsReceived: number;
  packetsDropped: number;
}

export interface MediaStreamState {
  type: string;
  caller: MediaLegState;
  /** null when the server itself is the callee (a service answered) */
  callee: MediaLegState | null;
  heldBy: Side | null;
}

export function describeLeg(l: RelayLeg): MediaLegState {
  return { relayPort: l.rtpPort, sendsTo: l.rtpDestination() ?? null, packetsReceived: l.received, packetsDropped: l.dropped };
}

/**
 * The media of one call: for every m= line a pair of relay legs, bridged packet for packet, and the SDP
 * rewrite that makes each party send to its own leg. SDP may arrive from either side in any message
 * (offer or answer, INVITE, 18x, 2xx, ACK, PRACK, UPDATE); the side it came from is all that matters.
 */
export class MediaSession {
  readonly streams: RelayedStream[];
  private closed = false;
  /** the direction a side offered, so its answer can say the matching thing (RFC 3264 §6.1) */
  private readonly pendingOffer = new Map<number, { from: Side; direction: Direction }>();

  constructor(
    legs: Array<Record<Side, RelayLeg>>,
    private readonly addresses: SessionAddresses,
    private readonly hold: HoldHandler | undefined,
    private readonly onClose: (legs: RelayLeg[]) => void,
  ) {
    this.streams = legs.map((pair, index) => {
      const stream: RelayedStream = {
        index,
        legs: { caller: pair.caller, callee: pair.callee },
        described: { caller: undefined, callee: undefined },
        heldBy: undefined,
        taps: undefined,
      };
      this.bridge(stream);
      return stream;
    });
  }

  /**
   * The SDP to pass on to the other side for SDP received from `from`, whose SIP came from
   * `signallingAddress`; `isOffer` is false for an answer, undefined when the message does not tell (PRACK):
   * then it is an answer if the other side has an offer outstanding. Throws SdpRelayError for SDP we cannot relay.
   */
  relaySdp(from: Side, body: string, signallingAddress: string, isOffer: boolean | undefined): string {
    const parsed = parseSdp(body);
    if (!parsed) throw new SdpRelayError('the session description could not be parsed');
    if (isOffer === undefined) isOffer = ![...this.pendingOffer.values()].some((o) => o.from !== from);
    const rewrites = parsed.streams.map((s, i) => this.takeStream(from, s, i, signallingAddress, isOffer));
    return rewriteSdp(parsed, this.addresses.sdpAddress(otherSide(from)), rewrites);
  }

  /** Newest time a packet arrived from either party on any stream. */
  lastReceivedAt(): number {
    let last = 0;
    for (const s of this.streams) last = Math.max(last, s.legs.caller.lastReceivedAt, s.legs.callee.lastReceivedAt);
    return last;
  }

  describe(): MediaStreamState[] {
    return this.streams.map((s) => ({
      type: s.described.caller?.type ?? s.described.callee?.type ?? 'audio',
      caller: describeLeg(s.legs.caller),
      callee: describeLeg(s.legs.callee),
      heldBy: s.heldBy ?? null,
    }));
  }

  /**
   * Every RTP packet of stream `index` from each side is also handed to `taps[side]`; undefined stops
   * that. The packets then take the slower way through JS, so only calls being recorded pay for it.
   */
  tap(index: number, taps: Record<Side, PacketHandler> | undefined): void {
    const stream = this.streams[index];
    if (!stream || this.closed) return;
    stream.taps = taps;
    if (stream.heldBy === undefined) this.bridge(stream);
    else this.unbridge(stream);
  }

  get onHold(): boolean {
    return this.streams.some((s) => s.heldBy !== undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) {
      s.taps = undefined;
      if (s.heldBy) this.hold?.stopHoldMusic(s, otherSide(s.heldBy));
      for (const leg of [s.legs.caller, s.legs.callee]) {
        leg.forwardRtpTo(undefined);
        leg.forwardRtcpTo(undefined);
        leg.onRtp = undefined;
      }
    }
    this.onClose(this.streams.flatMap((s) => [s.legs.caller, s.legs.callee]));
  }

  private takeStream(from: Side, s: SdpStream, index: number, signallingAddress: string, isOffer: boolean): StreamRewrite {
    const stream = this.streams[index];
    // a stream we hold no ports for (added by a re-offer) is declined rather than sent around the relay
    if (!stream) return { port: 0, rtcpPort: undefined };
    if (s.port === 0) {
      stream.described[from] = s;
      // a disabled stream settles any offer on it, or a later PRACK would be taken for its answer
      this.pendingOffer.delete(index);
      return { port: undefined, rtcpPort: undefined };
    }
    stream.described[from] = s;
    stream.legs[from].setSignalling({
      address: s.address,
      port: s.port,
      rtcpPort: s.rtcpPort,
      signallingAddress,
    });
    const target = stream.legs[otherSide(from)];
    const rewrite: StreamRewrite = { port: target.rtpPort, rtcpPort: s.rtcpMux ? undefined : target.rtpPort + 1 };
    if (isOffer) this.pendingOffer.set(index, { from, direction: effectiveDirection(s) });
    else this.answerDirection(index, from, rewrite);
    this.updateHold(stream, from, s, rewrite);
    return rewrite;
  }

  /** An offer we turned from inactive into sendonly gets the inactive answer its sender expects. */
  private answerDirection(index: number, from: Side, rewrite: StreamRewrite): void {
    const offer = this.pendingOffer.get(index);
    this.pendingOffer.delete(index);
    if (offer && offer.from !== from && offer.direction === 'inactive') rewrite.direction = 'inactive';
  }

  private updateHold(stream: RelayedStream, from: Side, s: SdpStream, rewrite: StreamRewrite): void {
    if (s.type !== 'audio' || !this.hold) return;
    const holding = s.nullAddress || s.direction === 'sendonly' || s.direction === 'inactive';
    if (holding && stream.heldBy === undefined) {
      stream.heldBy = from;
      this.unbridge(stream);
      this.hold.startHoldMusic(stream, otherSide(from));
    } else if (!holding && stream.heldBy === from) {
      stream.heldBy = undefined;
      this.hold.stopHoldMusic(stream, otherSide(from));
      this.bridge(stream);
    }
    // the held party hears our music, so what it is told is that we send
    if (stream.heldBy === from && rewrite.direction === undefined) rewrite.direction = 'sendonly';
  }

  private bridge(stream: RelayedStream): void {
    const { caller, callee } = stream.legs;
    caller.forwardRtcpTo(callee);
    callee.forwardRtcpTo(caller);
    const taps = stream.taps;
    if (!taps) {
      caller.onRtp = callee.onRtp = undefined;
      caller.forwardRtpTo(callee);
      callee.forwardRtpTo(caller);
      return;
    }
    caller.forwardRtpTo(undefined);
    callee.forwardRtpTo(undefined);
    caller.onRtp = (p, n) => {
      taps.caller(p, n);
      callee.sendRtp(p, n);
    };
    callee.onRtp = (p, n) => {
      taps.callee(p, n);
      caller.sendRtp(p, n);
    };
  }

  /** On hold the held party hears music instead, and what it sends reaches nobody; RTCP still flows. */
  private unbridge(stream: RelayedStream): void {
    const { caller, callee } = stream.legs;
    caller.forwardRtpTo(undefined);
    callee.forwardRtpTo(undefined);
    caller.onRtp = stream.taps?.caller;
    callee.onRtp = stream.taps?.callee;
  }
}

function effectiveDirection(s: SdpStream): Direction {
  return s.nullAddress ? 'inactive' : s.direction;
}
