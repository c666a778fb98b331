import type { Endpoint, SipRequest, SipResponse } from '../sip/message.js';
import { ackForNon2xx } from './ack-for-non2xx.js';
import type { ClientTransaction, ClientTransactionUser } from './client-transaction.js';
import { trySend, type TransactionContext } from './context.js';
import { TimerSlot } from './timer-slot.js';
import { timerD } from './timer-values.js';

type IctState = 'Calling' | 'Proceeding' | 'Accepted' | 'Completed' | 'Terminated';

/**
 * INVITE client transaction: RFC 3261 §17.1.1 (figure 5) with RFC 6026's Accepted state, in which
 * 2xx retransmissions (one per fork) reach the TU, which alone sends their ACKs.
 * Timer B runs only while Calling: once a provisional arrived, the TU decides how long to wait and
 * CANCELs, then calls terminate() if no final response follows (§9.1).
 */
export class InviteClientTransaction implements ClientTransaction {
  state: IctState = 'Calling';
  private retransmitInterval: number;
  private ack: SipRequest | undefined;
  private readonly timerA: TimerSlot;
  private readonly timerB: TimerSlot;
  private readonly timerD: TimerSlot;
  private readonly timerM: TimerSlot;

  constructor(
    readonly request: SipRequest,
    readonly destination: Endpoint,
    private readonly user: ClientTransactionUser,
    private readonly ctx: TransactionContext,
  ) {
    this.retransmitInterval = ctx.timers.T1;
    this.timerA = new TimerSlot(ctx.clock, () => this.retransmit());
    this.timerB = new TimerSlot(ctx.clock, () => this.timeout());
    this.timerD = new TimerSlot(ctx.clock, () => this.terminate());
    this.timerM = new TimerSlot(ctx.clock, () => this.terminate());
  }

  /** Sends the INVITE; a transport error reaches the user before this returns. */
  start(): void {
    if (!this.ctx.reliable) this.timerA.start(this.retransmitInterval);
    this.timerB.start(64 * this.ctx.timers.T1);
    this.transmit(this.request);
  }

  receiveResponse(res: SipResponse): void {
    const status = res.status;
    switch (this.state) {
      case 'Calling':
      case 'Proceeding':
        this.timerA.stop();
        this.timerB.stop();
        if (status < 200) {
          this.state = 'Proceeding';
          this.user.onResponse(res);
        } else if (status < 300) {
          this.state = 'Accepted';
          this.timerM.start(64 * this.ctx.timers.T1);
          this.user.onResponse(res);
        } else {
          this.complete(res);
        }
        return;
      case 'Accepted':
        if (status >= 200 && status < 300) this.user.onResponse(res);
        return;
      case 'Completed':
        // A retransmitted final response means our ACK was lost.
        if (status >= 300 && this.ack) this.transmit(this.ack);
        return;
      case 'Terminated':
        return;
    }
  }

  /**
   * The transport lost what was sent to `destination` after send() returned (a TCP/TLS connection
   * was refused or reset). Ends the transaction with onTransportError while no final response has
   * arrived; afterwards the loss does not matter to it. Returns whether it ended.
   */
  transportFailed(err: Error): boolean {
    if (this.state !== 'Calling' && this.state !== 'Proceeding') return false;
    this.terminate();
    this.user.onTransportError(err);
    return true;
  }

  terminate(): void {
    if (this.state === 'Terminated') return;
    this.halt();
    this.ctx.release();
  }

  /** Stops every timer without telling anyone: layer shutdown. */
  halt(): void {
    this.state = 'Terminated';
    this.timerA.stop();
    this.timerB.stop();
    this.timerD.stop();
    this.timerM.stop();
  }

  private complete(res: SipResponse): void {
    this.state = 'Completed';
    this.ack = ackForNon2xx(this.request, res);
    this.user.onResponse(res);
    if (this.state !== 'Completed') return;
    if (!this.transmit(this.ack)) return;
    if (this.ctx.reliable) this.terminate();
    else this.timerD.start(timerD(this.ctx.timers));
  }

  private retransmit(): void {
    this.retransmitInterval *= 2; // Timer A doubles without the T2 cap non-INVITE timers have
    this.timerA.start(this.retransmitInterval);
    this.transmit(this.request);
  }

  private timeout(): void {
    this.terminate();
    this.user.onTimeout();
  }

  private transmit(msg: SipRequest): boolean {
    const err = trySend(this.ctx, msg, this.destination);
    if (!err) return true;
    this.terminate();
    this.user.onTransportError(err);
    return false;
  }
}
