// The one surface the rest of the server sees of a relay leg, so the engine behind it (Node sockets,
// or the native batching relay) can change without the call and media code noticing.

/** Where a party said it receives media (from its SDP) and where its SIP came from. */
export interface LegSignalling {
  /** connection address and port from the party's SDP; port 0 or a null address: nothing to send to */
  address: string;
  port: number;
  /** the a=rtcp port, else port + 1 */
  rtcpPort: number;
  /** source address of the party's SIP messages */
  signallingAddress: string;
}

export type PacketHandler = (packet: Buffer, length: number) => void;

/**
 * Told when an onRtp handler throws: the packet is dropped and relaying goes on, because a bug in one
 * call's media code must not end every call on the server.
 */
export type HandlerErrorReporter = (err: unknown) => void;

/** Where the party's own RTP stream stands, so a stream the server sends in its place can continue it. */
export interface RtpPosition {
  ssrc: number;
  sequence: number;
  timestamp: number;
  /** when that packet arrived, ms */
  at: number;
}

/** One party's side of a relayed stream: its RTP/RTCP port pair and symmetric-RTP latching. */
export interface RelayLeg {
  readonly rtpPort: number;
  /** packets taken from the party (RTP and RTCP) */
  readonly received: number;
  /** packets refused: another address, or a second source while the first is active */
  readonly dropped: number;
  /** time of the last packet taken from the party, ms */
  readonly lastReceivedAt: number;
  /** What the party's latest SDP and SIP say; a new address or port resets latching. */
  setSignalling(s: LegSignalling): void;
  /** RTP from this party goes out of `other` to its party, untouched; undefined stops it */
  forwardRtpTo(other: RelayLeg | undefined): void;
  /** RTCP likewise */
  forwardRtcpTo(other: RelayLeg | undefined): void;
  /** RTP from the party that is not forwarded (the server terminates it) */
  onRtp: PacketHandler | undefined;
  /** Sends a packet the server made; the caller may reuse `packet` at once. */
  sendRtp(packet: Uint8Array, length: number): void;
  lastRtp(): RtpPosition | undefined;
  /** where RTP to the party goes now, for the API and tests */
  rtpDestination(): { address: string; port: number; latched: boolean } | undefined;
}

export type SocketFamily = 4 | 6;

/** Hands out relay legs on ports of the configured range; each leg is given back exactly once. */
export interface RelayEngine {
  /** a leg on a free even port (RTCP on the next), or undefined when the range is used up */
  openLeg(family: SocketFamily): Promise<RelayLeg | undefined>;
  closeLeg(leg: RelayLeg): void;
  /** port pairs in use and in all */
  readonly used: number;
  readonly capacity: number;
  close(): Promise<void>;
}
