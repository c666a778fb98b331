// A relay engine and relay legs without sockets, for tests of the code that opens, wires and gives
// back legs: they keep what they were told and count what was opened and given back.
import type { LegSignalling, PacketHandler, RelayEngine, RelayLeg, RtpPosition, SocketFamily } from '../../src/media/relay/relay-leg.js';

/** A leg that keeps what it was told; tests set its packet counters by hand. */
export class FakeRelayLeg implements RelayLeg {
  /** every setSignalling, oldest first */
  readonly signalled: LegSignalling[] = [];
  /** where forwardRtpTo / forwardRtcpTo last pointed */
  rtpTo: RelayLeg | undefined;
  rtcpTo: RelayLeg | undefined;
  /** set by the code under test; tests only check it is cleared */
  onRtp: PacketHandler | undefined;
  /** packet counters the tests set by hand to stand for traffic */
  received = 0;
  dropped = 0;
  lastReceivedAt = 0;

  /** `family` is the one the engine was asked for; legs built by hand default to IPv4 */
  constructor(readonly rtpPort: number, readonly family: SocketFamily = 4) {}

  /** the latest signalling, if any */
  get signalling(): LegSignalling | undefined {
    return this.signalled[this.signalled.length - 1];
  }

  /** recorded in `signalled` */
  setSignalling(s: LegSignalling): void {
    this.signalled.push(s);
  }

  /** recorded in `rtpTo` */
  forwardRtpTo(other: RelayLeg | undefined): void {
    this.rtpTo = other;
  }

  /** recorded in `rtcpTo` */
  forwardRtcpTo(other: RelayLeg | undefined): void {
    this.rtcpTo = other;
  }

  /** no party behind a fake leg: what the server sends goes nowhere */
  sendRtp(): void {}

  /** no party has sent RTP */
  lastRtp(): RtpPosition | undefined {
    return undefined;
  }

  /** the latest signalled address, never latched: no packets ever arrive */
  rtpDestination(): { address: string; port: number; latched: boolean } | undefined {
    const s = this.signalling;
    return s && s.port !== 0 ? { address: s.address, port: s.port, latched: false } : undefined;
  }
}

/** Hands out `capacity` legs on ports 30000, 30002, …; counts what was opened and given back, and any leg given back twice. */
export class FakeRelayEngine implements RelayEngine {
  /** every leg handed out, in order */
  readonly opened: FakeRelayLeg[] = [];
  /** every closeLeg call's leg, a leg given back twice included */
  readonly closedLegs: RelayLeg[] = [];
  /** closeLeg calls for a leg not open */
  doubleCloses = 0;
  /** close() was called */
  engineClosed = false;
  /** the n-th openLeg call (0-based) rejects, like an engine that failed */
  failAt = -1;
  /** while set, openLeg waits for it: media still opening */
  private gate: Promise<void> | undefined;
  /** legs handed out and not yet given back */
  private readonly live = new Set<RelayLeg>();

  /** `capacity` legs at once; 0 stands for a used-up port range */
  constructor(readonly capacity: number) {}

  /** legs open now */
  get used(): number {
    return this.live.size;
  }

  /** legs given back, each counted once */
  get closed(): number {
    return this.closedLegs.length - this.doubleCloses;
  }

  /** Waits while opening is held, then fails if told to, else a new leg or undefined when full. */
  async openLeg(family: SocketFamily): Promise<RelayLeg | undefined> {
    await this.gate;
    if (this.opened.length === this.failAt) {
      this.failAt = -1;
      throw new Error('engine failure');
    }
    if (this.live.size >= this.capacity) return undefined;
    const leg = new FakeRelayLeg(30000 + 2 * this.opened.length, family);
    this.opened.push(leg);
    this.live.add(leg);
    return leg;
  }

  /** Gives a leg back, counting it as a double close if it was not open. */
  closeLeg(leg: RelayLeg): void {
    if (!this.live.delete(leg)) this.doubleCloses++;
    this.closedLegs.push(leg);
  }

  /** only records that it was called */
  async close(): Promise<void> {
    this.engineClosed = true;
  }

  /** Holds every openLeg until the returned function is called. */
  holdOpening(): () => void {
    let release!: () => void;
    this.gate = new Promise((resolve) => (release = resolve));
    return () => {
      this.gate = undefined;
      release();
    };
  }
}
