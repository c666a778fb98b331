import type { Clock, TimerHandle } from './clock.js';

/**
 * One named RFC 3261 timer of one transaction. The expiry callback is bound once, so restarting
 * a retransmission timer allocates no closure.
 */
export class TimerSlot {
  private handle: TimerHandle | undefined;
  private readonly expire = (): void => {
    this.handle = undefined;
    this.onExpiry();
  };

  constructor(
    private readonly clock: Clock,
    private readonly onExpiry: () => void,
  ) {}

  start(ms: number): void {
    this.stop();
    this.handle = this.clock.setTimer(ms, this.expire);
  }

  stop(): void {
    if (this.handle === undefined) return;
    this.clock.clearTimer(this.handle);
    this.handle = undefined;
  }
}
