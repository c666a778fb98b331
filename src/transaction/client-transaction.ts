import type { SipRequest, SipResponse } from '../sip/message.js';
import type { TransactionState } from './transaction-state.js';

/** The transaction user's side of a client transaction. */
export interface ClientTransactionUser {
  onResponse(res: SipResponse): void;
  /** Timer B or F fired: no response arrived */
  onTimeout(): void;
  onTransportError(err: Error): void;
}

export interface ClientTransaction {
  readonly request: SipRequest;
  readonly state: TransactionState;
  /**
   * Ends the transaction without telling its user. For a CANCELled INVITE that got no final
   * response within 64*T1 (RFC 3261 §9.1); cancelling itself is a separate CANCEL transaction.
   */
  terminate(): void;
}
