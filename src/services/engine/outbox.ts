// One side's messages to the other thread of a service (main thread <-> Lua worker). Each message that
// crosses to a sleeping thread wakes it, and the wake-up costs more CPU than the message: at a few
// hundred calls a second, most of what a call costs the engine. A message about a call whose caller has
// hung up (what the script still does is bookkeeping) is not urgent: it waits for the next urgent message,
// or at most `maxDelayMs`, and crosses with it, so that one wake-up carries both.
import type { Clock, TimerHandle } from '../../transaction/clock.js';

/** What one send carries: a message, or several in order (never an array otherwise). */
export type Posted<Message> = Message | Message[];

export class Outbox<Message> {
  private readonly waiting: Message[] = [];
  private flushTimer: TimerHandle | undefined;

  constructor(
    private readonly post: (posted: Posted<Message>) => void,
    private readonly clock: Clock,
    private readonly maxDelayMs: number,
  ) {}

  /** Posts `message` now, with whatever waits before it. */
  send(message: Message): void {
    if (this.waiting.length === 0) {
      this.post(message);
      return;
    }
    this.waiting.push(message);
    this.flush();
  }

  /** Posts `message` with the next send, or within maxDelayMs. */
  sendLater(message: Message): void {
    this.waiting.push(message);
    // one timer for the batch; a send that takes the batch along clears it (flush)
    this.flushTimer ??= this.clock.setTimer(this.maxDelayMs, () => {
      this.flushTimer = undefined;
      this.flush();
    });
  }

  /** Forgets what waits: the other side is gone. */
  clear(): void {
    this.stopTimer();
    this.waiting.length = 0;
  }

  private flush(): void {
    // left running, it would wake a sleeping thread for nothing: what matters at a few calls a second
    this.stopTimer();
    if (this.waiting.length === 0) return;
    const batch = this.waiting.length === 1 ? this.waiting[0]! : [...this.waiting];
    this.waiting.length = 0;
    this.post(batch);
  }

  private stopTimer(): void {
    if (this.flushTimer !== undefined) this.clock.clearTimer(this.flushTimer);
    this.flushTimer = undefined;
  }
}

/** Each message of what one send carried, in order. */
export function eachPosted<Message>(posted: Posted<Message>, handle: (message: Message) => void): void {
  if (!Array.isArray(posted)) {
    handle(posted);
    return;
  }
  for (const message of posted) handle(message);
}
