// The channel between the main thread and a service's worker: messages cross in order, also one too long
// for the ring (through the port, in its place) and those for which the ring had no room (they wait and
// cross once the other side has read); a worker's serve() loop answers and runs its timers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ChannelEnd, LoopClock } from '../../src/services/engine/thread-channel.js';

interface Note {
  n: number;
  text: string;
}

/** Both ends in this thread: what one writes, the other receives. */
function pair() {
  const { end: main, workerData } = ChannelEnd.forMain<Note, Note>();
  const worker = ChannelEnd.forWorker<Note, Note>(workerData);
  const received = (): Note[] => {
    const notes: Note[] = [];
    worker.receive((note) => notes.push(note));
    return notes;
  };
  return { main, received };
}

test('a message too long for the ring crosses through the port, in its place among the others', () => {
  const { main, received } = pair();
  const long = 'é'.repeat(100_000);
  main.send([{ n: 1, text: 'short' }, { n: 2, text: long }, { n: 3, text: 'after' }]);
  assert.deepEqual(received(), [{ n: 1, text: 'short' }, { n: 2, text: long }, { n: 3, text: 'after' }]);
  assert.deepEqual(received(), []);
});

test('messages the ring has no room for wait, in order, and cross once the other side has read', () => {
  const { main, received } = pair();
  const text = 'x'.repeat(1000);
  let n = 0;
  while (!main.blocked && n < 10_000) main.send({ n: ++n, text });
  assert.ok(main.blocked, 'the ring filled up');
  main.send({ n: ++n, text: 'last' });
  assert.equal(main.retry(), false, 'nothing was read: still no room');
  const first = received();
  assert.ok(first.length > 100 && first.length < n);
  assert.equal(main.retry(), true, 'all of it fitted once read');
  const rest = received();
  assert.deepEqual([...first, ...rest].map((note) => note.n), Array.from({ length: n }, (_, i) => i + 1));
  assert.equal(rest.at(-1)?.text, 'last');
});

test('LoopClock runs the timers that are due, not those cleared, and says when the next is due', async () => {
  const clock = new LoopClock();
  const fired: string[] = [];
  clock.setTimer(0, () => fired.push('now'));
  const cleared = clock.setTimer(0, () => fired.push('cleared'));
  clock.clearTimer(cleared);
  clock.setTimer(60_000, () => fired.push('later'));
  await new Promise((resolve) => setTimeout(resolve, 2));
  const untilNext = clock.runDue();
  assert.deepEqual(fired, ['now']);
  assert.ok(untilNext > 59_000 && untilNext <= 60_000, String(untilNext));
  assert.equal(new LoopClock().runDue(), Infinity);
});

test('LoopClock counts a timer that a due timer sets, and does not run one that a due timer cleared', async () => {
  const clock = new LoopClock();
  const fired: string[] = [];
  let victim: ReturnType<LoopClock['setTimer']> | undefined;
  clock.setTimer(0, () => {
    fired.push('first');
    clock.setTimer(50, () => fired.push('set by first'));
    if (victim !== undefined) clock.clearTimer(victim);
  });
  victim = clock.setTimer(0, () => fired.push('cleared by first'));
  await new Promise((resolve) => setTimeout(resolve, 2));
  const untilNext = clock.runDue();
  assert.deepEqual(fired, ['first']);
  assert.ok(untilNext > 0 && untilNext <= 50, `the worker wakes for the new timer, not never (${untilNext})`);
});

test('a worker in serve() answers each message, sends what its timers send, and wakes for both', async () => {
  const { end, workerData, transferList } = ChannelEnd.forMain<Note, Note>();
  const source = `
    import { workerData } from 'node:worker_threads';
    import { ChannelEnd, LoopClock, serve } from ${JSON.stringify(new URL('../../src/services/engine/thread-channel.js', import.meta.url).href)};
    const channel = ChannelEnd.forWorker(workerData);
    const clock = new LoopClock();
    serve(channel, clock, (note) => {
      channel.write({ n: note.n, text: note.text.toUpperCase() });
      clock.setTimer(20, () => channel.write({ n: -note.n, text: 'timer' }));
    });`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { workerData, transferList });
  const next = async (): Promise<Note> => {
    for (;;) {
      const seen = end.doorbell();
      let note: Note | undefined;
      end.receive((received) => (note = received));
      if (note !== undefined) return note;
      await end.rung(seen);
    }
  };
  try {
    end.send({ n: 1, text: 'start c1' });
    assert.deepEqual(await next(), { n: 1, text: 'START C1' });
    const sentAt = performance.now();
    assert.deepEqual(await next(), { n: -1, text: 'timer' });
    assert.ok(performance.now() - sentAt >= 15, 'the timer fired after its delay');
  } finally {
    await worker.terminate();
  }
});
