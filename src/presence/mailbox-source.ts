import type { MessageCounts } from './message-summary.js';

/** Where MWI learns what is in a mailbox and when that changes: the voicemail store. */
export interface MailboxSource {
  counts(domain: string, mailbox: string): MessageCounts;
  onChange(listener: (domain: string, mailbox: string) => void): void;
}

/** Until a voicemail store is attached every mailbox is empty and never changes. */
export const EMPTY_MAILBOXES: MailboxSource = {
  counts: () => ({ newCount: 0, savedCount: 0 }),
  onChange: () => {},
};
