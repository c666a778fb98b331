// The shared-memory ring between a service's threads: what is written is read back whole and in order,
// across the wrap at the end; a full ring refuses and takes again once read; the doorbell wakes a sleeper.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { ringMemory, SharedRing } from '../../src/services/engine/shared-ring.js';

test('messages come back whole and in order, across the wrap, with multi-byte text', () => {
  fc.assert(fc.property(
    // as many reads as writes, so that the ring wraps over and over rather than staying full
    fc.array(fc.oneof(
      fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constant(''), { arbitrary: fc.nat(3), weight: 2 },
    ), { minLength: 100, maxLength: 300 }),
    (steps) => {
      const ring = new SharedRing(ringMemory(256));
      const model: string[] = [];
      let written = 0;
      for (const step of steps) {
        if (typeof step === 'number') {
          for (let i = 0; i <= step; i++) assert.equal(ring.read(), model.shift());
        } else {
          const text = `${written}:${step}`;
          if (ring.write(text)) {
            model.push(text);
            written++;
          } else {
            assert.ok(model.length > 0 || Buffer.byteLength(text) > ring.largest, 'an empty ring refuses only what is too long');
          }
        }
      }
      for (const text of model) assert.equal(ring.read(), text);
      assert.equal(ring.read(), undefined);
    },
  ), { numRuns: 300 });
});

test('a full ring refuses, then takes again once the reader has caught up; too long is always refused', () => {
  const ring = new SharedRing(ringMemory(256));
  const message = 'x'.repeat(28);
  let accepted = 0;
  while (accepted < 100 && ring.write(message)) accepted++;
  assert.ok(accepted >= 6 && accepted < 8, `${accepted} messages of 32 bytes in a ring of 256`);
  assert.equal(ring.read(), message);
  assert.equal(ring.write(message), true);
  assert.equal(ring.write(message), false, 'full again: one more would make the ring look empty');
  assert.equal(ring.write('y'.repeat(ring.largest + 1)), false);
  for (let i = 0; i < accepted; i++) assert.equal(ring.read(), message);
  assert.equal(ring.read(), undefined);
  assert.equal(ring.write('y'.repeat(ring.largest)), true);
  assert.equal(ring.read(), 'y'.repeat(ring.largest));
});

test('a worker that sleeps on the doorbell reads what the main thread wrote, and answers through another ring', async () => {
  const toWorker = ringMemory(1024);
  const toMain = ringMemory(1024);
  const source = `
    import { workerData } from 'node:worker_threads';
    import { SharedRing } from ${JSON.stringify(new URL('../../src/services/engine/shared-ring.js', import.meta.url).href)};
    const inbox = new SharedRing(workerData.toWorker);
    const outbox = new SharedRing(workerData.toMain);
    for (;;) {
      const seen = inbox.doorbell();
      for (let text = inbox.read(); text !== undefined; text = inbox.read()) {
        if (text === 'stop') process.exit(0);
        outbox.write(text.toUpperCase());
        outbox.ring();
      }
      inbox.sleep(seen, 5000);
    }`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { workerData: { toWorker, toMain } });
  const inbox = new SharedRing(toMain);
  const outbox = new SharedRing(toWorker);
  try {
    for (const text of ['start c1', 'reply c1', 'ping 7']) {
      const seen = inbox.doorbell();
      outbox.write(text);
      outbox.ring();
      await inbox.rung(seen);
      assert.equal(inbox.read(), text.toUpperCase());
    }
  } finally {
    outbox.write('stop');
    outbox.ring();
    await new Promise((resolve) => worker.once('exit', resolve));
  }
});
