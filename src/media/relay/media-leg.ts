import type dgram from 'node:dgram';
import { BlockList, isIPv6 } from 'node:net';
import type { PortPair } from './port-pool.js';
import type { HandlerErrorReporter, LegSignalling, PacketHandler, RelayLeg, RtpPosition } from './relay-leg.js';
import { stableCopy } from './send-ring.js';


/** Latched remote transport address of one socket of the leg. */
interface Remote {
  address: string;
  port: number;
  /** 0 until latched: sending goes to the signalled address, if that one may be used */
  latchedAt: number;
  lastAt: number;
  ssrc: number;
  /** of the last RTP packet; -1 before the first */
  sequence: number;
  timestamp: number;
}


const PRIVATE_RANGES = new BlockList();
PRIVATE_RANGES.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE_RANGES.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE_RANGES.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE_RANGES.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE_RANGES.addSubnet('169.254.0.0', 16, 'ipv4');
PRIVATE_RANGES.addSubnet('fc00::', 7, 'ipv6');
PRIVATE_RANGES.addSubnet('fe80::', 10, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  return PRIVATE_RANGES.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
}

/**
 * One party's side of a relayed stream: the RTP and RTCP sockets it talks to, and symmetric-RTP latching.
 * Media goes back to the address the party's media comes from, so phones behind NAT are heard and hear;
 * only packets from one trusted IP are taken, so nobody else can hijack the stream (see docs/media.md).
 */
export class MediaLeg implements RelayLeg {
  readonly rtpPort: number;
  onRtp: PacketHandler | undefined;
  private rtpTo: MediaLeg | undefined;
  private rtcpTo: MediaLeg | undefined;
  /** time of the last packet received from the party (RTP or RTCP), ms */
  lastReceivedAt: number;
  received = 0;
  dropped = 0;
  private signalling: LegSignalling | undefined;
  /** the only source IP we take media from */
  private trustedIp: string | undefined;
  /** whether the signalled address may be sent to before the party's first packet */
  private sendToSignalled = false;
  private readonly rtpRemote: Remote = { address: '', port: 0, latchedAt: 0, lastAt: 0, ssrc: -1, sequence: -1, timestamp: 0 };
  private readonly rtcpRemote: Remote = { address: '', port: 0, latchedAt: 0, lastAt: 0, ssrc: -1, sequence: -1, timestamp: 0 };

  constructor(
    private readonly pair: PortPair,
    private readonly now: () => number,
    private readonly relatchQuietMs: number,
    private readonly reportHandlerError: HandlerErrorReporter = () => {},
  ) {
    this.rtpPort = pair.rtpPort;
    this.lastReceivedAt = now();
    pair.rtp.on('message', (msg, rinfo) => this.receive(this.rtpRemote, msg, rinfo, true));
    pair.rtcp.on('message', (msg, rinfo) => this.receive(this.rtcpRemote, msg, rinfo, false));
    // a send to an unreachable peer must not take the process down; the call's media timeout handles it
    pair.rtp.on('error', () => this.dropped++);
    pair.rtcp.on('error', () => this.dropped++);
  }

  get rtcpPort(): number {
    return this.pair.rtpPort + 1;
  }

  get portPair(): PortPair {
    return this.pair;
  }

  /** What the party's latest SDP and SIP say; a new address or port resets latching. */
  setSignalling(s: LegSignalling): void {
    const prev = this.signalling;
    this.signalling = s;
    const usable = s.port !== 0 && s.address !== '0.0.0.0' && s.address !== '::';
    // whether the SDP names the signalling source or a private or other address, media is taken from
    // the signalling source IP only: that is the one address the party proved by authenticating
    this.trustedIp = s.signallingAddress;
    this.sendToSignalled = usable && !(isPrivateAddress(s.address) && s.address !== s.signallingAddress);
    if (!prev || prev.address !== s.address || prev.port !== s.port || prev.signallingAddress !== s.signallingAddress) {
      this.rtpRemote.latchedAt = 0;
      this.rtcpRemote.latchedAt = 0;
      this.rtpRemote.ssrc = -1;
    }
  }

  forwardRtpTo(other: RelayLeg | undefined): void {
    this.rtpTo = other as MediaLeg | undefined;
  }

  forwardRtcpTo(other: RelayLeg | undefined): void {
    this.rtcpTo = other as MediaLeg | undefined;
  }

  /** Sends a packet the server made; the caller may reuse `packet` at once. */
  sendRtp(packet: Uint8Array, length: number): void {
    if (this.rtpTarget()) this.forwardRtp(stableCopy(packet, length), length);
  }

  /** Sends a packet received from the other party, in the buffer it arrived in (never reused). */
  private forwardRtp(packet: Buffer, length: number): void {
    const r = this.rtpRemote;
    if (r.latchedAt !== 0) this.pair.rtp.send(packet, 0, length, r.port, r.address);
    else if (this.sendToSignalled && this.signalling) this.pair.rtp.send(packet, 0, length, this.signalling.port, this.signalling.address);
  }

  private forwardRtcp(packet: Buffer, length: number): void {
    const r = this.rtcpRemote;
    if (r.latchedAt !== 0) this.pair.rtcp.send(packet, 0, length, r.port, r.address);
    else if (this.sendToSignalled && this.signalling) this.pair.rtcp.send(packet, 0, length, this.signalling.rtcpPort, this.signalling.address);
  }

  private rtpTarget(): boolean {
    return this.rtpRemote.latchedAt !== 0 || (this.sendToSignalled && this.signalling !== undefined);
  }

  /** The party's last RTP packet, if any arrived. */
  lastRtp(): RtpPosition | undefined {
    const r = this.rtpRemote;
    if (r.sequence < 0 || r.ssrc < 0) return undefined;
    return { ssrc: r.ssrc, sequence: r.sequence, timestamp: r.timestamp, at: r.lastAt };
  }

  /** Where RTP to the party goes now, for the API and tests. */
  rtpDestination(): { address: string; port: number; latched: boolean } | undefined {
    const r = this.rtpRemote;
    if (r.latchedAt !== 0) return { address: r.address, port: r.port, latched: true };
    if (this.sendToSignalled && this.signalling) return { address: this.signalling.address, port: this.signalling.port, latched: false };
    return undefined;
  }

  private receive(remote: Remote, msg: Buffer, rinfo: dgram.RemoteInfo, isRtp: boolean): void {
    if (rinfo.address !== this.trustedIp) {
      this.dropped++;
      return;
    }
    const now = this.now();
    const ssrc = isRtp && msg.length >= 12 ? msg.readUInt32BE(8) : -1;
    if (remote.latchedAt === 0) {
      this.latch(remote, rinfo, ssrc, now);
    } else if (rinfo.port !== remote.port || rinfo.address !== remote.address) {
      // a new source (another SSRC, or a NAT that rebound the port) replaces the old one only once that fell quiet
      if (now - remote.lastAt < this.relatchQuietMs) {
        this.dropped++;
        return;
      }
      this.latch(remote, rinfo, ssrc, now);
    } else if (ssrc !== -1) {
      remote.ssrc = ssrc;
    }
    remote.lastAt = now;
    if (isRtp && msg.length >= 12) {
      remote.sequence = msg.readUInt16BE(2);
      remote.timestamp = msg.readUInt32BE(4);
    }
    this.lastReceivedAt = now;
    this.received++;
    if (!isRtp) this.rtcpTo?.forwardRtcp(msg, msg.length);
    else if (this.rtpTo) this.rtpTo.forwardRtp(msg, msg.length);
    else if (this.onRtp) {
      try {
        this.onRtp(msg, msg.length);
      } catch (err) {
        this.reportHandlerError(err);
      }
    }
  }

  private latch(remote: Remote, rinfo: dgram.RemoteInfo, ssrc: number, now: number): void {
    remote.address = rinfo.address;
    remote.port = rinfo.port;
    remote.latchedAt = now;
    remote.ssrc = ssrc;
  }
}
