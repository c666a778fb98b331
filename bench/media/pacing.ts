import { performance } from 'node:perf_hooks';
import { sleep } from '../processes.js';

/**
 * Runs `task(0)` .. `task(count - 1)`, starting them at `perSecond` with at most `maxInFlight` unfinished,
 * and resolves with every outcome in index order. Tasks bound their own time (every SIP operation of the
 * bench has a timeout), so this ends at most one task timeout after the last start.
 */
export async function paced<T>(
  count: number, perSecond: number, maxInFlight: number, task: (index: number) => Promise<T>,
): Promise<Array<PromiseSettledResult<T>>> {
  const outcomes: Array<PromiseSettledResult<T>> = new Array(count);
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = started + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await sleep(wait);
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const settled: Promise<void> = task(i).then(
      (value) => { outcomes[i] = { status: 'fulfilled', value }; },
      (reason: unknown) => { outcomes[i] = { status: 'rejected', reason }; },
    ).finally(() => inFlight.delete(settled));
    inFlight.add(settled);
  }
  await Promise.all(inFlight);
  return outcomes;
}

/** "12x INVITE N -> N: 480 Temporarily Unavailable": distinct failure messages with numbers folded, most frequent first. */
export function summarizeFailures(outcomes: ReadonlyArray<PromiseSettledResult<unknown>>, limit = 6): string {
  const counts = new Map<string, number>();
  for (const outcome of outcomes) {
    if (outcome.status !== 'rejected') continue;
    const message = outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason);
    // Extension numbers and ports fold away; status codes (three digits) stay.
    const folded = message.replace(/\d{4,}/g, 'N');
    counts.set(folded, (counts.get(folded) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([text, n]) => `${n}x ${text}`).join('; ');
}
