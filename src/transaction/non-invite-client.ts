import type { Endpoint, SipRequest, SipResponse } from '../sip/message.js';
import type { ClientTransaction, ClientTransactionUser } from './client-transaction.js';
import { trySend, type TransactionContext } from './context.js';
import { TimerSlot } from './timer-slot.js';

type NictState = 'Trying' | 'Proceeding' | 'Completed' | 'Terminated';

/** Non-INVITE client transaction: RFC 3261 §17.1.2 (figure 6). */
export class NonInviteClientTransaction implements ClientTransaction {
  state: NictState = 'Trying';
  private retransmitInterval: number;
  private readonly timerE: TimerSlot;
  private readonly timerF: TimerSlot;
  private readonly timerK: TimerSlot;

  constructor(
    readonly request: SipRequest,
    readonly destination: Endpoint,
    private readonly user: ClientTransactionUser,
    private readonly ctx: TransactionContext,
  ) {
    this.retransmitInterval = ctx.timers.T1;
    this.timerE = new TimerSlot(ctx.clock, () => this.retransmit());
    this.timerF = new TimerSlot(ctx.clock, () => this.timeout());
    this.timerK = new TimerSlot(ctx.clock, () => this.terminate());
  }

  /** Sends the request; a transport error reaches the user before this returns. */
  start(): void {
    if (!this.ctx.reliable) this.timerE.start(this.retransmitInterval);
    this.timerF.start(64 * this.ctx.timers.T1);
    this.transmit();
  }

  receiveResponse(res: SipResponse): void {
    if (this.state !== 'Trying' && this.state !== 'Proceeding') return;
    if (res.status < 200) {
      this.state = 'Proceeding';
      this.user.onResponse(res);
      return;
    }
    this.state = 'Completed';
    this.timerE.stop();
    this.timerF.stop();
    this.user.onResponse(res);
    if (this.state !== 'Completed') return;
    // Timer K lets retransmitted responses be absorbed here rather than reach the TU as strays.
    if (this.ctx.reliable) this.terminate();
    else this.timerK.start(this.ctx.timers.T4);
  }

  /**
   * The transport lost what was sent to `destination` after send() returned (a TCP/TLS connection
   * was refused or reset). Ends the transaction with onTransportError while no final response has
   * arrived; afterwards the loss does not matter to it. Returns whether it ended.
   */
  transportFailed(err: Error): boolean {
    if (this.state !== 'Trying' && this.state !== 'Proceeding') return false;
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
    this.timerE.stop();
    this.timerF.stop();
    this.timerK.stop();
  }

  private retransmit(): void {
    const { T2 } = this.ctx.timers;
    // Once a provisional arrived the server is alive, so retransmit at the slow T2 pace only.
    this.retransmitInterval = this.state === 'Trying' ? Math.min(2 * this.retransmitInterval, T2) : T2;
    this.timerE.start(this.retransmitInterval);
    this.transmit();
  }

  private timeout(): void {
    this.terminate();
    this.user.onTimeout();
  }

  private transmit(): void {
    const err = trySend(this.ctx, this.request, this.destination);
    if (!err) return;
    this.terminate();
    this.user.onTransportError(err);
  }
}
