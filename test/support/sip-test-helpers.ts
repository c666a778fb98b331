// Small pieces every SIP end-to-end test repeats: readable failures and polling for a condition.
import type { Switchboard } from './server.js';
import type { SippResult } from './sipp.js';

const POLL_MS = 50;

/** A SIPp run for a failure message: exit code, errors, the scenario log and the end of its screen. */
export function explainSipp(name: string, result: SippResult): string {
  return `${name}: exit ${result.code}\n--- errors\n${result.errors}\n--- log\n${result.log}\n--- screen\n${result.stdout.slice(-2500)}`;
}

/** The server's warnings and errors so far, for a failure message; empty when there are none. */
export function serverProblems(server: Switchboard): string {
  const lines = server.output().split('\n').filter((line) => /"level":[4-6]0/.test(line));
  return lines.length === 0 ? '' : `\n--- server warnings and errors\n${lines.join('\n')}`;
}

/** Polls `probe` until it returns a value; rejects after `waitMs`. */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, waitMs = 10_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
