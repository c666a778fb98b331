// Remembers the highest nonce-count accepted per nonce so a captured request cannot be replayed
// (RFC 7616 §3.4). Memory is bounded: entries go when their nonce expires, and the oldest go first
// when the cap is reached. A nonce we may have forgotten is never trusted again: the client gets a
// fresh one instead (stale=true), which costs it one round trip and keeps replays out.

import { detachFromMessage } from '../sip/detach.js';

export type NonceCountVerdict = 'accepted' | 'replayed' | 'forgotten';

interface Entry {
  highestNc: number;
  issuedAt: number;
  expiresAt: number;
}

export class NonceCountTracker {
  private readonly entries = new Map<string, Entry>();
  /** nonces issued before this instant may have been seen and dropped (restart, eviction) */
  private forgetBefore: number;

  constructor(private readonly maxEntries: number, startedAt: number) {
    if (!(maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
    this.forgetBefore = startedAt;
  }

  accept(nonce: string, nc: number, issuedAt: number, expiresAt: number, now: number): NonceCountVerdict {
    this.dropExpired(now);
    const entry = this.entries.get(nonce);
    if (entry) {
      if (nc <= entry.highestNc) return 'replayed';
      entry.highestNc = nc;
      return 'accepted';
    }
    if (issuedAt < this.forgetBefore) return 'forgotten';
    this.entries.set(detachFromMessage(nonce), { highestNc: nc, issuedAt, expiresAt });
    if (this.entries.size > this.maxEntries) this.evictOldest();
    return 'accepted';
  }

  get size(): number {
    return this.entries.size;
  }

  // Insertion order is first-use order, close to expiry order, so checking the head is enough.
  private dropExpired(now: number): void {
    for (const [nonce, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.entries.delete(nonce);
    }
  }

  private evictOldest(): void {
    const first = this.entries.entries().next();
    if (first.done) return;
    const [nonce, entry] = first.value;
    this.entries.delete(nonce);
    this.forgetBefore = Math.max(this.forgetBefore, entry.issuedAt + 1);
  }
}
