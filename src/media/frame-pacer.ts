// Calls back once per media frame on a fixed grid: frame n is due at start + n * frameMs. Each timer
// is set for the time left to the next due frame, so timer lateness never adds up into drift.
import type { Clock, TimerHandle } from '../transaction/clock.js';

/** Frames sent back to back after a late timer; anything older is dropped rather than sent in a burst. */
export const MAX_FRAMES_PER_TICK = 5;

export class FramePacer {
  private startedAt = 0;
  private nextFrame = 0;
  private timer: TimerHandle | undefined;
  /** Bumped by start() and stop(), so a tick whose callback restarted or stopped the pacer steps aside. */
  private run = 0;
  private running = false;

  /**
   * `onSkipped` hears how many frames were dropped after the event loop fell more than
   * MAX_FRAMES_PER_TICK frames behind, so a sender can move its RTP timestamp over them.
   */
  constructor(
    private readonly clock: Clock,
    private readonly frameMs: number,
    private readonly onFrame: () => void,
    private readonly onSkipped?: (frames: number) => void,
  ) {
    if (!(frameMs > 0)) throw new RangeError(`frame length must be positive, not ${frameMs} ms`);
  }

  get active(): boolean {
    return this.running;
  }

  /** The first frame is due now; it runs from a timer, never inside start(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.run++;
    this.startedAt = this.clock.now();
    this.nextFrame = 0;
    this.schedule();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.run++;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private dueAt(frame: number): number {
    return this.startedAt + frame * this.frameMs;
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(Math.max(0, this.dueAt(this.nextFrame) - this.clock.now()), this.tick);
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const run = this.run;
    const now = this.clock.now();
    // The system clock is wall time: when it steps back, the grid moves with it instead of going quiet.
    if (this.dueAt(this.nextFrame) - now > this.frameMs) this.startedAt = now - this.nextFrame * this.frameMs;
    for (let sent = 0; sent < MAX_FRAMES_PER_TICK && this.dueAt(this.nextFrame) <= now; sent++) {
      this.nextFrame++;
      this.onFrame();
      if (this.run !== run) return;
    }
    if (this.dueAt(this.nextFrame) <= now) {
      this.dropOverdueFrames(now);
      if (this.run !== run) return;
    }
    this.schedule();
  };

  /** Stays on the grid: jumps to the first frame still in the future. */
  private dropOverdueFrames(now: number): void {
    const firstFuture = Math.floor((now - this.startedAt) / this.frameMs) + 1;
    const dropped = firstFuture - this.nextFrame;
    this.nextFrame = firstFuture;
    this.onSkipped?.(dropped);
  }
}
