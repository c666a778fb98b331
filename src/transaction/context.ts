import type { Endpoint, SipRequest, SipResponse } from '../sip/message.js';
import type { Clock } from './clock.js';
import type { TimerValues } from './timer-values.js';

/** What the layer hands each transaction: its clock, its timer values and how to reach the wire. */
export interface TransactionContext {
  readonly clock: Clock;
  /** read once when the transaction starts, so a run-time change never reshapes a running schedule */
  readonly timers: TimerValues;
  /** retransmissions happen only when false (RFC 3261 §17.1.1.2) */
  readonly reliable: boolean;
  /** the bytes of a message, as they go on the wire */
  encode(msg: SipRequest | SipResponse): Buffer;
  /** throws on transport error */
  send(data: Buffer, dest: Endpoint): void;
  /** called once, when the transaction reaches Terminated, so the layer forgets it */
  release(): void;
}

/** Sends and turns a thrown transport failure into a value, so each state machine decides what it means. */
export function trySend(ctx: TransactionContext, msg: SipRequest | SipResponse | Buffer, dest: Endpoint): Error | undefined {
  try {
    ctx.send(Buffer.isBuffer(msg) ? msg : ctx.encode(msg), dest);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
