import type { Endpoint, SipRequest, SipResponse } from '../sip/message.js';
import { trySend, type TransactionContext } from './context.js';
import { responseDestination } from './response-destination.js';
import type { ServerTransaction } from './server-transaction.js';
import { TimerSlot } from './timer-slot.js';

type NistState = 'Trying' | 'Proceeding' | 'Completed' | 'Terminated';

/** Non-INVITE server transaction: RFC 3261 §17.2.2 (figure 8). */
export class NonInviteServerTransaction implements ServerTransaction {
  state: NistState = 'Trying';
  /** the last response as sent: bytes rather than the message, which would keep the request's text alive */
  private lastSent: Buffer | undefined;
  onTerminated?: () => void;
  onTransportError?: (err: Error) => void;
  /** kept for RFC 2543 matching after the request itself is let go */
  readonly requestToTag: string | undefined;
  private held: SipRequest | undefined;
  private readonly destination: Endpoint;
  private readonly timerJ: TimerSlot;
  /** not in RFC 3261: ends a transaction the TU never answers, once its client has given up (Timer F) */
  private readonly unanswered: TimerSlot;

  constructor(
    request: SipRequest,
    private readonly ctx: TransactionContext,
  ) {
    this.held = request;
    this.requestToTag = request.toTag();
    this.destination = responseDestination(request);
    this.timerJ = new TimerSlot(ctx.clock, () => this.terminate());
    this.unanswered = new TimerSlot(ctx.clock, () => this.terminate());
  }

  /**
   * Arms the backstop: the client stops retransmitting at Timer F (64*T1), so a transaction still
   * without a final response then can never complete usefully and would only hold memory.
   */
  start(): void {
    if (this.state === 'Trying' || this.state === 'Proceeding') this.unanswered.start(64 * this.ctx.timers.T1);
  }

  /**
   * The request, until the final response is sent. Completed transactions wait 64*T1 on UDP and,
   * under load, there are tens of thousands of them: they keep only what answers a retransmission.
   */
  get request(): SipRequest {
    if (!this.held) throw new Error('the request of a completed transaction is no longer kept');
    return this.held;
  }

  respond(res: SipResponse): void {
    if (this.state !== 'Trying' && this.state !== 'Proceeding') return;
    if (res.status < 200) {
      this.state = 'Proceeding';
      this.transmit(res);
      return;
    }
    this.state = 'Completed';
    this.held = undefined;
    this.unanswered.stop();
    this.transmit(res);
    if (this.state !== 'Completed') return;
    // Timer J keeps the final response for request retransmissions; a reliable transport has none.
    if (this.ctx.reliable) this.terminate();
    else this.timerJ.start(64 * this.ctx.timers.T1);
  }

  /** A retransmission of the request arrived; while Trying the TU has nothing to say yet. */
  receiveRequest(): void {
    if (this.state === 'Proceeding' || this.state === 'Completed') {
      if (this.lastSent) this.transmit(this.lastSent);
    }
  }

  terminate(): void {
    if (this.state === 'Terminated') return;
    this.halt();
    this.ctx.release();
    this.onTerminated?.();
  }

  /** Stops the timers without telling anyone: layer shutdown. */
  halt(): void {
    this.state = 'Terminated';
    this.timerJ.stop();
    this.unanswered.stop();
  }

  private transmit(res: SipResponse | Buffer): void {
    const data = Buffer.isBuffer(res) ? res : this.ctx.encode(res);
    this.lastSent = this.state === 'Completed' && !this.ctx.reliable ? ownCopy(data) : data;
    const err = trySend(this.ctx, data, this.destination);
    if (!err || this.state === 'Terminated') return;
    this.halt();
    this.ctx.release();
    this.onTransportError?.(err);
    this.onTerminated?.();
  }
}

/**
 * Small buffers are slices of shared 8 KB slabs; one kept for Timer J would keep its whole slab (and
 * the garbage around it) alive, so the bytes kept get an allocation of their own.
 */
function ownCopy(data: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(data.length);
  data.copy(copy);
  return copy;
}
