// The outbox of one side of a service's thread pair: urgent messages cross at once, messages about calls
// whose caller hung up wait for the next urgent one (or a short delay) and cross with it, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eachPosted, Outbox, type Posted } from '../../src/services/engine/outbox.js';
import { FakeClock } from '../support/fake-clock.js';

function outbox(maxDelayMs = 20) {
  const clock = new FakeClock(0);
  const posted: Posted<string>[] = [];
  return { box: new Outbox<string>((p) => posted.push(p), clock, maxDelayMs), posted, clock };
}

test('a message sent when nothing waits crosses alone, at once', () => {
  const { box, posted } = outbox();
  box.send('start');
  box.send('reply');
  assert.deepEqual(posted, ['start', 'reply']);
});

test('a message that may wait crosses with the next one, before it', () => {
  const { box, posted, clock } = outbox();
  box.sendLater('finished c1');
  box.sendLater('finished c2');
  clock.advance(19);
  assert.deepEqual(posted, []);
  box.send('request c3');
  assert.deepEqual(posted, [['finished c1', 'finished c2', 'request c3']]);
  assert.equal(clock.pending(), 0, 'no timer is left to wake the thread for nothing');
  clock.advance(100);
  assert.equal(posted.length, 1, 'nothing is left to flush');
});

test('a message that waits crosses on its own after the delay, at the latest', () => {
  const { box, posted, clock } = outbox(20);
  box.sendLater('finished c1');
  clock.advance(19);
  assert.deepEqual(posted, []);
  clock.advance(1);
  assert.deepEqual(posted, ['finished c1']);
  box.sendLater('finished c2');
  clock.advance(20);
  assert.deepEqual(posted, ['finished c1', 'finished c2'], 'the delay starts again with the next message that waits');

  box.sendLater('finished c3');
  clock.advance(15);
  box.send('request c4');
  box.sendLater('finished c4');
  clock.advance(19);
  assert.deepEqual(posted.slice(2), [['finished c3', 'request c4']], 'the batch that crossed took its timer along');
  clock.advance(1);
  assert.deepEqual(posted.slice(2), [['finished c3', 'request c4'], 'finished c4'], 'the next one waits its own delay, never longer');
});

test('clear forgets what waits', () => {
  const { box, posted, clock } = outbox();
  box.sendLater('reply c1');
  box.clear();
  clock.advance(100);
  box.send('ping');
  assert.deepEqual(posted, ['ping']);
});

test('eachPosted hands over a lone message or every message of a batch, in order', () => {
  const seen: string[] = [];
  eachPosted('one', (m) => seen.push(m));
  eachPosted(['two', 'three'], (m) => seen.push(m));
  assert.deepEqual(seen, ['one', 'two', 'three']);
});
