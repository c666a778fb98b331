import type { Binding, BindingRepository } from '../../src/store/types.js';

/** A BindingRepository in a Map, keyed like the SQLite one (domain lowercased). */
export class MemoryBindingRepository implements BindingRepository {
  readonly rows = new Map<string, Binding>();
  writes = 0;

  upsert(binding: Binding): void {
    this.writes++;
    this.rows.set(key(binding.domain, binding.number, binding.contactUri), { ...binding, domain: binding.domain.toLowerCase() });
  }

  remove(domain: string, number: string, contactUri: string): void {
    this.writes++;
    this.rows.delete(key(domain, number, contactUri));
  }

  removeAll(domain: string, number: string): void {
    this.writes++;
    for (const [k, b] of this.rows) if (b.domain === domain.toLowerCase() && b.number === number) this.rows.delete(k);
  }

  list(domain?: string, number?: string): Binding[] {
    return [...this.rows.values()].filter((b) =>
      (domain === undefined || b.domain === domain.toLowerCase()) && (number === undefined || b.number === number));
  }

  removeExpired(now: number): number {
    let n = 0;
    for (const [k, b] of this.rows) {
      if (b.expiresAt <= now) {
        this.rows.delete(k);
        n++;
      }
    }
    return n;
  }
}

function key(domain: string, number: string, contactUri: string): string {
  return `${domain.toLowerCase()}\u0000${number}\u0000${contactUri}`;
}
