// Where each address of record (domain, number) can be reached: an in-memory index of bindings,
// written through to the repository so bindings survive a restart, and cleared as they expire.
import type { NameAddr } from '../sip/message.js';
import { parseUri, uriEquals } from '../sip/uri.js';
import type { Binding, BindingRepository } from '../store/types.js';
import type { Clock, TimerHandle } from '../transaction/clock.js';


/** Sweeps scan every binding, so they run at most this often even when expiries are close together. */
const MIN_SWEEP_INTERVAL_MS = 1000;

function aorKey(domain: string, number: string): string {
  return `${domain.toLowerCase()}\u0000${number}`;
}

/** Highest q first, then the most recently registered. */
function precedes(a: Binding, b: Binding): boolean {
  return a.q !== b.q ? a.q > b.q : a.registeredAt > b.registeredAt;
}

/**
 * Batches repository writes: every REGISTER that arrives in one turn of the event loop is written
 * in one database transaction, which is what lets the registrar keep up with thousands per second.
 */
export interface WriteBehind {
  transaction(fn: () => void): void;
  /** runs flush soon, e.g. setImmediate */
  defer(flush: () => void): void;
  onError(err: unknown): void;
}

export class LocationService {
  private readonly aors = new Map<string, Binding[]>();
  private timer: TimerHandle = undefined;
  private timerDueAt = Infinity;
  private lastSweepAt = -Infinity;
  private pending: (() => void)[] = [];

  /** Without `writeBehind` every change is written to the repository at once. */
  constructor(
    private readonly repo: BindingRepository,
    private readonly clock: Clock,
    private readonly writeBehind?: WriteBehind,
  ) {}

  load(): void {
    const now = this.clock.now();
    this.repo.removeExpired(now);
    this.aors.clear();
    for (const binding of this.repo.list()) {
      if (binding.expiresAt > now) this.insert(binding);
    }
    this.scheduleSweep(this.earliestExpiry());
  }

  /** Unexpired bindings of the address of record, highest q first, then the most recent. */
  lookup(domain: string, number: string): Binding[] {
    const entries = this.aors.get(aorKey(domain, number));
    if (!entries) return [];
    const now = this.clock.now();
    const out: Binding[] = [];
    for (const e of entries) if (e.expiresAt > now) out.push(e);
    return out;
  }

  /** The unexpired binding whose contact URI is equivalent to this contact's, if any. */
  find(domain: string, number: string, contact: NameAddr): Binding | undefined {
    const entries = this.aors.get(aorKey(domain, number));
    if (!entries) return undefined;
    const now = this.clock.now();
    for (const e of entries) {
      if (e.expiresAt <= now) continue;
      if (e.contactUri === contact.uriText) return e;
      // equivalent but written differently (RFC 3261 §19.1.4): rare, so parsed only when needed
      const uri = parseUri(e.contactUri);
      if (uri && uriEquals(uri, contact.uri)) return e;
    }
    return undefined;
  }

  all(): Binding[] {
    const now = this.clock.now();
    const out: Binding[] = [];
    for (const entries of this.aors.values()) {
      for (const e of entries) if (e.expiresAt > now) out.push(e);
    }
    return out;
  }

  count(): number {
    const now = this.clock.now();
    let n = 0;
    for (const entries of this.aors.values()) {
      for (const e of entries) if (e.expiresAt > now) n++;
    }
    return n;
  }

  /**
   * Applies one REGISTER's changes together. Bindings are matched by their exact contactUri text:
   * the caller removes an equivalent binding written differently before upserting its successor.
   */
  update(removals: readonly Binding[], upserts: readonly Binding[]): void {
    this.write(() => {
      for (const b of removals) this.repo.remove(b.domain, b.number, b.contactUri);
      for (const b of upserts) this.repo.upsert(b);
    });
    for (const b of removals) this.delete(b.domain, b.number, b.contactUri);
    let earliest = Infinity;
    for (const b of upserts) {
      this.delete(b.domain, b.number, b.contactUri);
      this.insert(b);
      earliest = Math.min(earliest, b.expiresAt);
    }
    this.scheduleSweep(earliest);
  }

  removeAll(domain: string, number: string): void {
    this.write(() => this.repo.removeAll(domain, number));
    this.aors.delete(aorKey(domain, number));
  }

  /** Writes what is still pending; called on shutdown before the store closes. */
  flush(): void {
    const ops = this.pending;
    if (ops.length === 0 || !this.writeBehind) return;
    this.pending = [];
    try {
      this.writeBehind.transaction(() => {
        for (const op of ops) op();
      });
    } catch (err) {
      this.writeBehind.onError(err);
    }
  }

  close(): void {
    this.flush();
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerDueAt = Infinity;
  }

  private write(op: () => void): void {
    if (!this.writeBehind) return op();
    this.pending.push(op);
    if (this.pending.length === 1) this.writeBehind.defer(() => this.flush());
  }

  private insert(binding: Binding): void {
    const key = aorKey(binding.domain, binding.number);
    let entries = this.aors.get(key);
    if (!entries) {
      entries = [];
      this.aors.set(key, entries);
    }
    let i = 0;
    while (i < entries.length && !precedes(binding, entries[i])) i++;
    entries.splice(i, 0, binding);
  }

  private delete(domain: string, number: string, contactUri: string): void {
    const key = aorKey(domain, number);
    const entries = this.aors.get(key);
    if (!entries) return;
    const i = entries.findIndex((e) => e.contactUri === contactUri);
    if (i < 0) return;
    entries.splice(i, 1);
    if (entries.length === 0) this.aors.delete(key);
  }

  private earliestExpiry(): number {
    let earliest = Infinity;
    for (const entries of this.aors.values()) {
      for (const e of entries) earliest = Math.min(earliest, e.expiresAt);
    }
    return earliest;
  }

  private scheduleSweep(expiresAt: number): void {
    if (expiresAt === Infinity) return;
    const dueAt = Math.max(expiresAt, this.lastSweepAt + MIN_SWEEP_INTERVAL_MS);
    if (dueAt >= this.timerDueAt) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerDueAt = dueAt;
    this.timer = this.clock.setTimer(Math.max(0, dueAt - this.clock.now()), () => this.sweep());
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerDueAt = Infinity;
    const now = this.clock.now();
    this.lastSweepAt = now;
    let removed = false;
    let earliest = Infinity;
    for (const [key, entries] of this.aors) {
      let expired = 0;
      for (const e of entries) {
        if (e.expiresAt <= now) expired++;
        else earliest = Math.min(earliest, e.expiresAt);
      }
      if (expired === 0) continue;
      removed = true;
      if (expired === entries.length) this.aors.delete(key);
      else this.aors.set(key, entries.filter((e) => e.expiresAt > now));
    }
    if (removed) this.write(() => this.repo.removeExpired(now));
    this.scheduleSweep(earliest);
  }
}
