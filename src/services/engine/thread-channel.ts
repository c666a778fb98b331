// The channel between the main thread and one service's worker: a SharedRing each way (shared-ring.ts
// says why not postMessage), messages as JSON, and a MessagePort for the rare message too long for a ring
// (a marker in the ring keeps its place in the order). The worker sleeps on its doorbell in a loop of its
// own (serve()); the main thread awaits its doorbell and never blocks.
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Clock, TimerHandle } from '../../transaction/clock.js';
import { eachPosted, type Posted } from './outbox.js';
import { ringMemory, SharedRing } from './shared-ring.js';

/** Room for hundreds of messages each way: only a worker that stopped reading fills it (then they wait in a queue). */
const RING_BYTES = 256 * 1024;
/** In the ring in place of a message that went through the port; JSON never starts with it. */
const ON_PORT = '#';

/** What the worker is started with (workerData), and the transfer list that goes with it. */
export interface ChannelSetup {
  toWorker: SharedArrayBuffer;
  toMain: SharedArrayBuffer;
  port: MessagePort;
}

export class ChannelEnd<Out, In> {
  /** messages for which the ring had no room yet, JSON, in order */
  private readonly waiting: string[] = [];
  /** written since the last ring */
  private unrung = false;

  private constructor(
    private readonly outgoing: SharedRing,
    private readonly incoming: SharedRing,
    private readonly port: MessagePort,
  ) {}

  /** The main thread's end, and what to start the worker with. */
  static forMain<Out, In>(): { end: ChannelEnd<Out, In>; workerData: ChannelSetup; transferList: MessagePort[] } {
    const toWorker = ringMemory(RING_BYTES);
    const toMain = ringMemory(RING_BYTES);
    const { port1, port2 } = new MessageChannel();
    const end = new ChannelEnd<Out, In>(new SharedRing(toWorker), new SharedRing(toMain), port1);
    return { end, workerData: { toWorker, toMain, port: port2 }, transferList: [port2] };
  }

  /** The worker's end, from its workerData. */
  static forWorker<Out, In>(setup: ChannelSetup): ChannelEnd<Out, In> {
    return new ChannelEnd<Out, In>(new SharedRing(setup.toMain), new SharedRing(setup.toWorker), setup.port);
  }

  /** Writes the messages; the other side hears of them at the next ring(). */
  write(posted: Posted<Out>): void {
    eachPosted(posted, (message) => {
      let text = JSON.stringify(message);
      if (text.length > this.outgoing.largest && Buffer.byteLength(text) > this.outgoing.largest) {
        this.port.postMessage(text);
        text = ON_PORT;
      }
      if (this.waiting.length > 0 || !this.outgoing.write(text)) this.waiting.push(text);
      else this.unrung = true;
    });
  }

  send(posted: Posted<Out>): void {
    this.write(posted);
    this.ring();
  }

  /** Wakes the other side for what was written since the last ring; nothing when nothing was. */
  ring(): void {
    if (!this.unrung) return;
    this.unrung = false;
    this.outgoing.ring();
  }

  /** Writes what waited for room; true when nothing waits any more. */
  retry(): boolean {
    let written = 0;
    while (written < this.waiting.length && this.outgoing.write(this.waiting[written]!)) written++;
    this.waiting.splice(0, written);
    if (written > 0) {
      this.unrung = true;
      this.ring();
    }
    return this.waiting.length === 0;
  }

  /** Whether messages wait for room in the ring (the other side is behind). */
  get blocked(): boolean {
    return this.waiting.length > 0;
  }

  /** Where the incoming doorbell stands: read it before receive(), then wait on it. */
  doorbell(): number {
    return this.incoming.doorbell();
  }

  /** Hands every message that has come, in order, to `handle`. */
  receive(handle: (message: In) => void): void {
    for (let text = this.incoming.read(); text !== undefined; text = this.incoming.read()) {
      if (text === ON_PORT) text = receiveMessageOnPort(this.port)!.message as string;
      handle(JSON.parse(text) as In);
    }
  }

  /** Main thread: resolves once the other side has rung past `seen`. */
  rung(seen: number): Promise<void> {
    return this.incoming.rung(seen);
  }

  /** Main thread: wakes its own rung() (to stop listening). */
  wakeListener(): void {
    this.incoming.ring();
  }

  /** Worker: sleeps until the other side rings past `seen`, at most `timeoutMs`. */
  sleep(seen: number, timeoutMs: number): void {
    this.incoming.sleep(seen, timeoutMs);
  }
}

/** Timers for a thread that sleeps on its doorbell instead of running an event loop: serve() runs them. */
export class LoopClock implements Clock {
  private readonly timers = new Set<{ at: number; fn: () => void }>();

  now(): number {
    return Date.now();
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer = { at: Date.now() + ms, fn };
    this.timers.add(timer);
    return timer as unknown as TimerHandle;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as unknown as { at: number; fn: () => void });
  }

  /** Runs the timers that are due; ms until the next one (Infinity when none), counting those they set. */
  runDue(): number {
    const now = Date.now();
    for (const timer of [...this.timers]) {
      if (timer.at <= now && this.timers.delete(timer)) timer.fn();
    }
    let next = Infinity;
    for (const timer of this.timers) next = Math.min(next, timer.at - now);
    return Math.max(0, next);
  }
}

/** How long a worker whose messages wait for room sleeps before it tries again. */
const RETRY_MS = 5;

/**
 * The worker's loop, for good: handles what comes, runs the clock's timers, rings the main thread once for
 * all it wrote, and sleeps until the next message or timer. Whatever `handle` throws ends the loop.
 */
export function serve<Out, In>(end: ChannelEnd<Out, In>, clock: LoopClock, handle: (message: In) => void): never {
  for (;;) {
    const seen = end.doorbell();
    end.receive(handle);
    const untilTimer = clock.runDue();
    end.ring();
    const retrying = end.blocked && !end.retry();
    end.sleep(seen, retrying ? Math.min(untilTimer, RETRY_MS) : untilTimer);
  }
}
