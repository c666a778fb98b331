// What the call path reads from the store on every call, kept in memory: a query costs ~10 us, and a
// call through the extension service makes several. The repository that keeps one clears it on each of
// its writes, and the store after every transaction (what was read inside may have been rolled back).

export class ReadCache<Value> {
  private readonly entries = new Map<string, Value>();

  /** Past `capacity` entries the oldest goes first. */
  constructor(private readonly capacity: number) {}

  get(key: string): Value | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: Value): void {
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, value);
  }

  clear(): void {
    this.entries.clear();
  }
}
