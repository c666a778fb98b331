import type { Endpoint, SipRequest, SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/builders.js';
import { trySend, type TransactionContext } from './context.js';
import { responseDestination } from './response-destination.js';
import type { ServerTransaction } from './server-transaction.js';
import { TimerSlot } from './timer-slot.js';

type IstState = 'Proceeding' | 'Accepted' | 'Completed' | 'Confirmed' | 'Terminated';

/**
 * RFC 3261 §17.2.1 lets us send 100 Trying at once or only when the TU is slower than 200 ms. We wait:
 * most INVITEs get an immediate 407 challenge or 180, and each of those saves a datagram.
 */
const TRYING_DELAY_MS = 200;

export interface InviteServerContext extends TransactionContext {
  /** The TU sent a 2xx. Its ACK carries a new branch, so the layer indexes us by dialog to find it. */
  accepted(response: SipResponse): void;
}

/**
 * INVITE server transaction: RFC 3261 §17.2.1 (figure 7) with RFC 6026's Accepted state.
 *
 * Deliberate difference from RFC 6026 §8.5: on unreliable transports the 2xx is retransmitted here,
 * in Accepted, at T1 doubling to T2 until its ACK arrives (§13.3.1.4's UAS core duty), and Timer L
 * (64*T1) then reports a missing ACK through onAckTimeout. The TU thus keeps one object per INVITE
 * and never runs its own 2xx timers; it may still pass a 2xx again through respond() while Accepted.
 */
export class InviteServerTransaction implements ServerTransaction {
  state: IstState = 'Proceeding';
  lastResponse: SipResponse | undefined;
  onTerminated?: () => void;
  onTransportError?: (err: Error) => void;
  onAckTimeout?: () => void;
  private readonly destination: Endpoint;
  private retransmitInterval: number;
  private ackReceived = false;
  private readonly timerTrying: TimerSlot;
  private readonly timer2xx: TimerSlot;
  private readonly timerG: TimerSlot;
  private readonly timerH: TimerSlot;
  private readonly timerI: TimerSlot;
  private readonly timerL: TimerSlot;

  get requestToTag(): string | undefined {
    return this.request.toTag();
  }

  constructor(
    readonly request: SipRequest,
    private readonly ctx: InviteServerContext,
  ) {
    this.destination = responseDestination(request);
    this.retransmitInterval = ctx.timers.T1;
    this.timerTrying = new TimerSlot(ctx.clock, () => this.sendTrying());
    this.timer2xx = new TimerSlot(ctx.clock, () => this.retransmitFinal(this.timer2xx));
    this.timerG = new TimerSlot(ctx.clock, () => this.retransmitFinal(this.timerG));
    this.timerH = new TimerSlot(ctx.clock, () => this.ackTimeout());
    this.timerI = new TimerSlot(ctx.clock, () => this.terminate());
    this.timerL = new TimerSlot(ctx.clock, () => (this.ackReceived ? this.terminate() : this.ackTimeout()));
  }

  start(): void {
    this.timerTrying.start(TRYING_DELAY_MS);
  }

  respond(res: SipResponse): void {
    const status = res.status;
    if (this.state === 'Accepted') {
      if (status >= 200 && status < 300) this.transmit(res);
      return;
    }
    if (this.state !== 'Proceeding') return;
    this.timerTrying.stop();
    if (status < 200) {
      this.transmit(res);
      return;
    }
    const { T1 } = this.ctx.timers;
    if (status < 300) {
      this.state = 'Accepted';
      this.ctx.accepted(res);
      if (!this.ctx.reliable) this.timer2xx.start(T1);
      this.timerL.start(64 * T1);
    } else {
      this.state = 'Completed';
      if (!this.ctx.reliable) this.timerG.start(T1);
      this.timerH.start(64 * T1);
    }
    this.transmit(res);
  }

  /** A retransmission of the INVITE arrived. */
  receiveRequest(): void {
    if (this.state === 'Proceeding') {
      if (this.lastResponse) this.transmit(this.lastResponse);
      else this.sendTrying();
    } else if (this.state === 'Completed' && this.lastResponse) {
      this.transmit(this.lastResponse);
    }
  }

  /** An ACK matched this transaction; true when it is for a 2xx and belongs to the TU. */
  receiveAck(): boolean {
    if (this.state === 'Accepted') {
      this.acknowledge2xx();
      return true;
    }
    if (this.state !== 'Completed') return false;
    this.state = 'Confirmed';
    this.timerG.stop();
    this.timerH.stop();
    // Timer I absorbs ACK retransmissions; a reliable transport has none.
    if (this.ctx.reliable) this.terminate();
    else this.timerI.start(this.ctx.timers.T4);
    return false;
  }

  /** The ACK for our 2xx arrived (matched by dialog, since it has its own branch). */
  acknowledge2xx(): void {
    this.ackReceived = true;
    this.timer2xx.stop();
  }

  terminate(): void {
    if (this.state === 'Terminated') return;
    this.halt();
    this.ctx.release();
    this.onTerminated?.();
  }

  /** Stops every timer without telling anyone: layer shutdown. */
  halt(): void {
    this.state = 'Terminated';
    this.timerTrying.stop();
    this.timer2xx.stop();
    this.timerG.stop();
    this.timerH.stop();
    this.timerI.stop();
    this.timerL.stop();
  }

  private sendTrying(): void {
    this.timerTrying.stop();
    this.transmit(createResponse(this.request, 100));
  }

  private retransmitFinal(timer: TimerSlot): void {
    if (!this.lastResponse) return;
    this.retransmitInterval = Math.min(2 * this.retransmitInterval, this.ctx.timers.T2);
    timer.start(this.retransmitInterval);
    this.transmit(this.lastResponse);
  }

  private ackTimeout(): void {
    this.terminate();
    this.onAckTimeout?.();
  }

  private transmit(res: SipResponse): void {
    this.lastResponse = res;
    const err = trySend(this.ctx, res, this.destination);
    if (!err || this.state === 'Terminated') return;
    this.halt();
    this.ctx.release();
    this.onTransportError?.(err);
    this.onTerminated?.();
  }
}
