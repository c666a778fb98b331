// A pattern for SippHandle.waitForLog that picks a value out of a scenario's log (a port, a count)
// and keeps it for the test once it is there.

export class LogMatch extends RegExp {
  value: string | undefined;

  constructor(private readonly pick: (log: string) => string | undefined) {
    super('');
  }

  override test(log: string): boolean {
    this.value = this.pick(log);
    return this.value !== undefined;
  }
}

/** The `nth` (from 1) match of `pattern` (global) in `log`: its first group. */
export function nthMatch(log: string, pattern: RegExp, nth: number): string | undefined {
  return [...log.matchAll(pattern)][nth - 1]?.[1];
}
