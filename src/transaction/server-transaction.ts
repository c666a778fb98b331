import type { SipRequest, SipResponse } from '../sip/message.js';
import type { TransactionState } from './transaction-state.js';

export interface ServerTransaction {
  readonly request: SipRequest;
  readonly state: TransactionState;
  /** Responses the state machine does not accept in its current state are ignored. */
  respond(res: SipResponse): void;
  onTerminated?: () => void;
  /** a response could not be sent; the transaction is over */
  onTransportError?: (err: Error) => void;
  /**
   * INVITE only: no ACK came for the final response within 64*T1 (Timer H, or Timer L after a 2xx).
   * After a 2xx the TU should end the session with a BYE (RFC 3261 §13.3.1.4).
   */
  onAckTimeout?: () => void;
}
