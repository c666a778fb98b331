// Where parked calls wait: one call per slot, slots per domain (companies on one server do not share them).

export class ParkSlots<C extends { readonly domain: string }> {
  private readonly slots = new Map<string, C>();

  /** Puts `call` in `slot` of its domain; false when another call waits there. */
  park(call: C, slot: string): boolean {
    const key = keyOf(call.domain, slot);
    if (this.slots.has(key)) return false;
    this.slots.set(key, call);
    return true;
  }

  /** Takes the call out of `slot`: whichever waits there, or only `only`. */
  unpark(domain: string, slot: string, only?: C): C | undefined {
    const key = keyOf(domain, slot);
    const parked = this.slots.get(key);
    if (!parked || (only && parked !== only)) return undefined;
    this.slots.delete(key);
    return parked;
  }
}

function keyOf(domain: string, slot: string): string {
  return `${domain}\u0000${slot}`;
}
