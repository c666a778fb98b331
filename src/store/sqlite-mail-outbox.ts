// Mail waiting for the SMTP server. A message stays until the server took it; each failure only
// pushes its next attempt later. Times are epoch milliseconds, passed in by the caller's clock.

import type { Database, Statement } from 'better-sqlite3';

export interface OutgoingMail {
  recipient: string;
  subject: string;
  body: string;
  /** relative to the data directory */
  attachmentFile?: string;
  /** the file name the recipient sees; defaults to the attachment's own name */
  attachmentName?: string;
}

export interface QueuedMail {
  id: number;
  createdAt: number;
  recipient: string;
  subject: string;
  body: string;
  attachmentFile: string | null;
  attachmentName: string | null;
  /** failed attempts so far */
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  /** null while the mail is queued */
  sentAt: number | null;
}

export interface MailListFilter {
  /** pending: not yet sent; sent: delivered to the SMTP server; default both */
  state?: 'pending' | 'sent';
  /** default 100 */
  limit?: number;
}

export interface MailOutbox {
  /** Queues the mail, due at once. */
  enqueue(mail: OutgoingMail, now: number): QueuedMail;
  get(id: number): QueuedMail | undefined;
  /** unsent mail whose next attempt is due, oldest first */
  due(now: number, limit: number): QueuedMail[];
  markSent(id: number, now: number): void;
  /** deletes mail sent before `before`; how many */
  forgetSentBefore(before: number): number;
  /** counts one more failed attempt */
  markFailed(id: number, error: string, nextAttemptAt: number): void;
  pendingCount(): number;
  /** the earliest next attempt of any unsent mail, undefined when none is queued */
  nextAttemptAt(): number | undefined;
  /** newest first */
  list(filter?: MailListFilter): QueuedMail[];
}

interface MailRow {
  id: number;
  created_at: number;
  recipient: string;
  subject: string;
  body: string;
  attachment_file: string | null;
  attachment_name: string | null;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  sent_at: number | null;
}

const COLUMNS = 'id, created_at, recipient, subject, body, attachment_file, attachment_name, attempts, next_attempt_at, last_error, sent_at';
const DEFAULT_LIST_LIMIT = 100;

export class SqliteMailOutbox implements MailOutbox {
  private readonly insert: Statement<[number, string, string, string, string | null, string | null, number]>;
  private readonly byId: Statement<[number], MailRow>;
  private readonly dueRows: Statement<[number, number], MailRow>;
  private readonly setSent: Statement<[number, number]>;
  private readonly deleteSent: Statement<[number]>;
  private readonly setFailed: Statement<[string, number, number]>;
  private readonly countPending: Statement<[], { n: number }>;
  private readonly earliestAttempt: Statement<[], { at: number | null }>;
  private readonly listAll: Statement<[number], MailRow>;
  private readonly listPending: Statement<[number], MailRow>;
  private readonly listSent: Statement<[number], MailRow>;

  constructor(db: Database) {
    this.insert = db.prepare(
      `INSERT INTO mail_outbox (created_at, recipient, subject, body, attachment_file, attachment_name, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM mail_outbox WHERE id = ?`);
    this.dueRows = db.prepare(
      `SELECT ${COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
    );
    this.setSent = db.prepare('UPDATE mail_outbox SET sent_at = ? WHERE id = ?');
    this.deleteSent = db.prepare('DELETE FROM mail_outbox WHERE sent_at IS NOT NULL AND sent_at < ?');
    this.setFailed = db.prepare('UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?');
    this.countPending = db.prepare('SELECT COUNT(*) AS n FROM mail_outbox WHERE sent_at IS NULL');
    this.earliestAttempt = db.prepare('SELECT MIN(next_attempt_at) AS at FROM mail_outbox WHERE sent_at IS NULL');
    this.listAll = db.prepare(`SELECT ${COLUMNS} FROM mail_outbox ORDER BY id DESC LIMIT ?`);
    this.listPending = db.prepare(`SELECT ${COLUMNS} FROM mail_outbox WHERE sent_at IS NULL ORDER BY id DESC LIMIT ?`);
    this.listSent = db.prepare(`SELECT ${COLUMNS} FROM mail_outbox WHERE sent_at IS NOT NULL ORDER BY id DESC LIMIT ?`);
  }

  enqueue(mail: OutgoingMail, now: number): QueuedMail {
    const { lastInsertRowid } = this.insert.run(
      now, mail.recipient, mail.subject, mail.body, mail.attachmentFile ?? null, mail.attachmentName ?? null, now,
    );
    return this.get(Number(lastInsertRowid))!;
  }

  get(id: number): QueuedMail | undefined {
    const row = this.byId.get(id);
    return row && toMail(row);
  }

  due(now: number, limit: number): QueuedMail[] {
    return this.dueRows.all(now, limit).map(toMail);
  }

  markSent(id: number, now: number): void {
    this.setSent.run(now, id);
  }

  forgetSentBefore(before: number): number {
    return this.deleteSent.run(before).changes;
  }

  markFailed(id: number, error: string, nextAttemptAt: number): void {
    this.setFailed.run(error, nextAttemptAt, id);
  }

  pendingCount(): number {
    return this.countPending.get()!.n;
  }

  nextAttemptAt(): number | undefined {
    return this.earliestAttempt.get()!.at ?? undefined;
  }

  list(filter: MailListFilter = {}): QueuedMail[] {
    const limit = filter.limit ?? DEFAULT_LIST_LIMIT;
    const statement = filter.state === 'pending' ? this.listPending : filter.state === 'sent' ? this.listSent : this.listAll;
    return statement.all(limit).map(toMail);
  }
}

function toMail(row: MailRow): QueuedMail {
  return {
    id: row.id,
    createdAt: row.created_at,
    recipient: row.recipient,
    subject: row.subject,
    body: row.body,
    attachmentFile: row.attachment_file,
    attachmentName: row.attachment_name,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    sentAt: row.sent_at,
  };
}
