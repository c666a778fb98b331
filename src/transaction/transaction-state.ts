/** The states of RFC 3261 §17 figures 5–8, plus RFC 6026's Accepted. */
export type TransactionState =
  | 'Calling'
  | 'Trying'
  | 'Proceeding'
  | 'Accepted'
  | 'Completed'
  | 'Confirmed'
  | 'Terminated';
