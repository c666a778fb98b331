import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../support/fake-clock.js';

describe('FakeClock', () => {
  it('fires due timers in time order, ties in the order set, with now() at each timer', () => {
    const clock = new FakeClock(1000);
    const fired: string[] = [];
    clock.setTimer(300, () => fired.push(`c@${clock.now()}`));
    clock.setTimer(100, () => fired.push(`a@${clock.now()}`));
    clock.setTimer(100, () => fired.push(`b@${clock.now()}`));
    clock.setTimer(301, () => fired.push('late'));
    clock.advance(300);
    assert.deepEqual(fired, ['a@1100', 'b@1100', 'c@1300']);
    assert.equal(clock.now(), 1300);
    assert.equal(clock.pending(), 1);
  });

  it('runs timers set by timers within the same advance', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const tick = (): void => {
      fired.push(clock.now());
      if (fired.length < 5) clock.setTimer(10, tick);
    };
    clock.setTimer(10, tick);
    clock.advance(35);
    assert.deepEqual(fired, [10, 20, 30]);
    assert.equal(clock.pending(), 1);
  });

  it('never fires a cleared timer and counts it out of pending', () => {
    const clock = new FakeClock();
    let fired = 0;
    const handle = clock.setTimer(10, () => fired++);
    clock.clearTimer(handle);
    clock.clearTimer(handle);
    assert.equal(clock.pending(), 0);
    clock.advance(100);
    assert.equal(fired, 0);
  });
});
