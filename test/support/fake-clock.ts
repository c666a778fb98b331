import type { Clock, TimerHandle } from '../../src/transaction/clock.js';

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A Clock whose time moves only when a test calls advance(), firing due timers in order (ties in the
 * order they were set). A binary heap keeps it usable by benchmarks with many thousands of timers.
 */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private live = 0;
  private readonly heap: FakeTimer[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    this.live++;
    return timer;
  }

  clearTimer(h: TimerHandle): void {
    const timer = h as FakeTimer;
    if (timer.cancelled) return;
    timer.cancelled = true;
    this.live--;
  }

  /** Moves time forward by `ms`, running every timer due on the way (also those set by earlier ones). */
  advance(ms: number): void {
    const target = this.time + ms;
    while (this.heap.length > 0 && this.heap[0].at <= target) {
      const next = this.pop();
      if (next.cancelled) continue;
      next.cancelled = true;
      this.live--;
      this.time = next.at;
      next.fn();
    }
    this.time = target;
  }

  /** How many timers are set and not yet fired or cleared. */
  pending(): number {
    return this.live;
  }

  private push(timer: FakeTimer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private pop(): FakeTimer {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop() as FakeTimer;
    if (heap.length === 0) return top;
    heap[0] = last;
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && earlier(heap[left], heap[smallest])) smallest = left;
      if (right < heap.length && earlier(heap[right], heap[smallest])) smallest = right;
      if (smallest === i) return top;
      [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
      i = smallest;
    }
  }
}

function earlier(a: FakeTimer, b: FakeTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
