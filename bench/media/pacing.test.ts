import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { sleep } from '../processes.js';
import { paced, summarizeFailures } from './pacing.js';

describe('paced tasks', () => {
  it('keeps the rate and the in-flight bound, and returns every outcome in order', async () => {
    let running = 0;
    let most = 0;
    const started = performance.now();
    const outcomes = await paced(20, 200, 3, async (i) => {
      running++;
      most = Math.max(most, running);
      await sleep(25);
      running--;
      if (i % 5 === 4) throw new Error(`task ${i} failed`);
      return i * 2;
    });
    const elapsed = performance.now() - started;
    assert.equal(most, 3);
    // 20 starts at 200/s take 95 ms; 3 in flight of 25 ms each take at least 7 x 25 ms.
    assert.ok(elapsed >= 170, `took ${elapsed} ms`);
    assert.deepEqual(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'failed')),
      [0, 2, 4, 6, 'failed', 10, 12, 14, 16, 'failed', 20, 22, 24, 26, 'failed', 30, 32, 34, 36, 'failed']);
  });

  it('starts no faster than the rate when tasks are instant', async () => {
    const started = performance.now();
    await paced(11, 100, 100, async () => undefined);
    assert.ok(performance.now() - started >= 95);
  });

  it('summarizes failures by kind, folding extension numbers but keeping status codes', () => {
    const rejected = (message: string): PromiseSettledResult<number> => ({ status: 'rejected', reason: new Error(message) });
    const summary = summarizeFailures([
      rejected('INVITE 500001 -> 600001: 480 Temporarily Unavailable'),
      { status: 'fulfilled', value: 1 },
      rejected('INVITE 500002 -> 600002: 480 Temporarily Unavailable'),
      rejected('INVITE: no final response in time'),
    ]);
    assert.equal(summary, '2x INVITE N -> N: 480 Temporarily Unavailable; 1x INVITE: no final response in time');
  });
});
