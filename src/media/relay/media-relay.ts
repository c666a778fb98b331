import type { Clock, TimerHandle } from '../../transaction/clock.js';
import { MediaLeg } from './media-leg.js';
import { MediaSession, type HoldHandler, type Side } from './media-session.js';
import { PortPool, type PortPair, type SocketFamily } from './port-pool.js';

export interface MediaRelayOptions {
  firstPort: number;
  lastPort: number;
  clock: Clock;
  /** seconds without a packet from either party before an answered call is ended; 0 never */
  timeoutSeconds: () => number;
  /** a new source replaces a latched one only after the latched one was quiet this long */
  relatchQuietMs: number;
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
  leg: MediaLeg;
  /** our address as the party reaches us, for the SDP */
  sdpAddress: string;
  release(): void;
}

const MAX_STREAMS = 4;
const WATCH_INTERVAL_MS = 1_000;

/** Hands out relay ports per call and ends calls whose media stopped. */
export class MediaRelay {
  private readonly pool: PortPool;
  private readonly watched = new Map<WatchedMedia, { since: number; onTimeout: () => void }>();
  private watchTimer: TimerHandle | undefined;

  constructor(private readonly opts: MediaRelayOptions) {
    this.pool = new PortPool(opts.firstPort, opts.lastPort);
  }

  get portsInUse(): number {
    return this.pool.used * 2;
  }

  get portCapacity(): number {
    return this.pool.capacity * 2;
  }

  /** Relay legs for a call; undefined when the port range is used up. */
  async open(req: SessionRequest): Promise<MediaSession | undefined> {
    const pairs: Array<Record<Side, PortPair>> = [];
    const release = () => {
      for (const p of pairs) {
        this.pool.release(p.caller);
        this.pool.release(p.callee);
      }
    };
    const count = Math.min(MAX_STREAMS, Math.max(1, req.streams));
    for (let i = 0; i < count; i++) {
      const caller = await this.pool.allocate(familyOf(req.signalling.caller));
      const callee = caller && (await this.pool.allocate(familyOf(req.signalling.callee)));
      if (!caller || !callee) {
        if (caller) this.pool.release(caller);
        release();
        return undefined;
      }
      pairs.push({ caller, callee });
    }
    const addresses = {
      sdpAddress: (side: Side) => this.opts.localAddressFor(req.signalling[side], familyOf(req.signalling[side])),
    };
    const now = () => this.opts.clock.now();
    const session: MediaSession = new MediaSession(pairs, now, this.opts.relatchQuietMs, addresses, this.opts.hold, (used) => {
      this.watched.delete(session);
      for (const p of used) this.pool.release(p);
    });
    return session;
  }

  /** One port pair for a party whose media the server itself sends and receives. */
  async openLeg(signallingAddress: string): Promise<OwnLeg | undefined> {
    const family = familyOf(signallingAddress);
    const pair = await this.pool.allocate(family);
    if (!pair) return undefined;
    const leg = new MediaLeg(pair, () => this.opts.clock.now(), this.opts.relatchQuietMs);
    let released = false;
    return {
      leg,
      sdpAddress: this.opts.localAddressFor(signallingAddress, family),
      release: () => {
        if (released) return;
        released = true;
        leg.onRtp = leg.onRtcp = undefined;
        this.pool.release(pair);
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

  close(): void {
    if (this.watchTimer !== undefined) this.opts.clock.clearTimer(this.watchTimer);
    this.watchTimer = undefined;
  }

  private check(): void {
    this.watchTimer = undefined;
    const limitMs = this.opts.timeoutSeconds() * 1000;
    const now = this.opts.clock.now();
    if (limitMs > 0) {
      for (const [media, w] of [...this.watched]) {
        if (media.onHold) continue;
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
