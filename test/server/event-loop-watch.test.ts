import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { watchEventLoop } from '../../src/server/event-loop-watch.js';

function capture() {
  const lines: { msg: string; stalledMs?: number }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a blocked event loop is reported with how long it stalled', async () => {
  const { logger, lines } = capture();
  const stop = watchEventLoop(logger, 100, 20);
  try {
    await tick(40);
    block(250);
    await tick(60);
    const stall = lines.find((l) => l.msg === 'event loop stalled');
    assert.ok(stall, 'no stall reported');
    assert.ok(stall.stalledMs !== undefined && stall.stalledMs >= 150, `stalledMs ${stall.stalledMs}`);
  } finally {
    stop();
  }
});

// The threshold leaves room for a busy CI machine delaying a timer; the loop itself never blocks 20 ms.
test('a loop that keeps turning reports nothing', async () => {
  const { logger, lines } = capture();
  const stop = watchEventLoop(logger, 500, 20);
  try {
    for (let i = 0; i < 10; i++) {
      block(10);
      await tick(10);
    }
    assert.deepEqual(lines, []);
  } finally {
    stop();
  }
});
