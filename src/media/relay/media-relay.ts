import type { Clock, TimerHandle } from '../../transaction/clock.js';
import { MediaSession, type HoldHandler, type Side } from './media-session.js';
import type { RelayEngine, RelayLeg, SocketFamily } from './relay-leg.js';

export interface MediaRelayOptions {
  /** where the legs come from: Node sockets or the native relay */
  engine: RelayEngine;
  clock: Clock;
  /** seconds without a packet from either party before an answered call is ended; 0 never */
  timeoutSeconds: () => number;
  /** our address as a party at `remoteAddress` reaches us, for the SDP we send it */
  localAddressFor: (remoteAddress: string, family: SocketFamily) => string;
  hold?: HoldHandler;
}

export interface SessionRequest {
  streams: number;
  /** source address of each side's SIP: picks the socket family and the address in our SDP */
  signalling: Record<Side, string>;
}

/** What the timeout watch needs of a call's media: a relayed session or the server's own leg. */
export interface WatchedMedia {
  lastReceivedAt(): number;
  readonly onHold: boolean;
}

/** A single leg the server itself terminates (it answers the call); release() gives its ports back. */
export interface OwnLeg {
  leg: RelayLeg;
  /** our address as the party reaches us, for the SDP */
  sdpAddress: string;
  release(): void;
}

const MAX_STREAMS = 4;
const WATCH_INTERVAL_MS = 1_000;

/** Hands out relay legs per call and ends calls whose media stopped. */
export class MediaRelay {
  private readonly engine: RelayEngine;
  private readonly watched = new Map<WatchedMedia, { since: number; onTimeout: () => void }>();
  private watchTimer: TimerHandle | undefined;

  constructor(private readonly opts: MediaRelayOptions) {
    this.engine = opts.engine;
  }

  get portsInUse(): number {
    return this.engine.used * 2;
  }

  get portCapacity(): number {
    return this.engine.capacity * 2;
  }

  /** Relay legs for a call; undefined when the port range is used up. */
  async open(req: SessionRequest): Promise<MediaSession | undefined> {
    const legs: Array<Record<Side, RelayLeg>> = [];
    const count = Math.min(MAX_STREAMS, Math.max(1, req.streams));
    // every leg opened so far goes back when the range runs out or the engine fails half-way
    const opened: RelayLeg[] = [];
    const openFor = async (address: string) => {
      const leg = await this.engine.openLeg(familyOf(address));
      if (leg) opened.push(leg);
      return leg;
    };
    try {
      for (let i = 0; i < count; i++) {
        const caller = await openFor(req.signalling.caller);
        const callee = caller && (await openFor(req.signalling.callee));
        if (!caller || !callee) break;
        legs.push({ caller, callee });
      }
    } catch (err) {
      for (const l of opened) this.engine.closeLeg(l);
      throw err;
    }
    if (legs.length < count) {
      for (const l of opened) this.engine.closeLeg(l);
      return undefined;
    }
    const addresses = {
      sdpAddress: (side: Side) => this.opts.localAddressFor(req.signalling[side], familyOf(req.signalling[side])),
    };
    const session: MediaSession = new MediaSession(legs, addresses, this.opts.hold, (used) => {
      this.watched.delete(session);
      for (const l of used) this.engine.closeLeg(l);
    });
    return session;
  }

  /** One leg for a party whose media the server itself sends and receives. */
  async openLeg(signallingAddress: string): Promise<OwnLeg | undefined> {
    const family = familyOf(signallingAddress);
    const leg = await this.engine.openLeg(family);
    if (!leg) return undefined;
    let released = false;
    return {
      leg,
      sdpAddress: this.opts.localAddressFor(signallingAddress, family),
      release: () => {
        if (released) return;
        released = true;
        this.engine.closeLeg(leg);
      },
    };
  }

  /** From the answer on: `onTimeout` once neither party sent a packet for the timeout (hold excepted). */
  watch(media: WatchedMedia, onTimeout: () => void): void {
    this.watched.set(media, { since: this.opts.clock.now(), onTimeout });
    this.watchTimer ??= this.opts.clock.setTimer(WATCH_INTERVAL_MS, () => this.check());
  }

  unwatch(media: WatchedMedia): void {
    this.watched.delete(media);
  }

  async close(): Promise<void> {
    if (this.watchTimer !== undefined) this.opts.clock.clearTimer(this.watchTimer);
    this.watchTimer = undefined;
    await this.engine.close();
  }

  private check(): void {
    this.watchTimer = undefined;
    const limitMs = this.opts.timeoutSeconds() * 1000;
    const now = this.opts.clock.now();
    if (limitMs > 0) {
      for (const [media, w] of [...this.watched]) {
        // silence on hold is legitimate: the count starts again when the hold ends
        if (media.onHold) {
          w.since = now;
          continue;
        }
        const last = Math.max(w.since, media.lastReceivedAt());
        if (now - last >= limitMs) {
          this.watched.delete(media);
          w.onTimeout();
        }
      }
    }
    if (this.watched.size > 0) this.watchTimer = this.opts.clock.setTimer(WATCH_INTERVAL_MS, () => this.check());
  }
}

function familyOf(address: string): SocketFamily {
  return address.includes(':') ? 6 : 4;
}
