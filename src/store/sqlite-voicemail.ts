// The voicemail messages' rows. Only the table: VoicemailBox (voicemail-store.ts) keeps the rows and
// the WAV files in step. Times are epoch milliseconds.

import type { Database, Statement } from 'better-sqlite3';

export type VoicemailFolder = 'new' | 'saved';

export interface VoicemailMessage {
  id: number;
  domain: string;
  mailbox: string;
  /** the caller's number (user part of the From URI) */
  caller: string;
  /** the caller's display name, '' when the call had none */
  callerName: string;
  receivedAt: number;
  durationMs: number;
  /** the WAV, relative to the data directory, with '/' separators */
  file: string;
  folder: VoicemailFolder;
}

export type NewVoicemailMessage = Omit<VoicemailMessage, 'id' | 'folder'>;

export interface VoicemailCounts {
  newCount: number;
  savedCount: number;
}

export interface VoicemailRepository {
  insert(message: NewVoicemailMessage): VoicemailMessage;
  get(id: number): VoicemailMessage | undefined;
  /** oldest first, as a mailbox plays them */
  list(domain: string, mailbox: string, folder?: VoicemailFolder): VoicemailMessage[];
  /** false when there is no such message */
  setFolder(id: number, folder: VoicemailFolder): boolean;
  delete(id: number): boolean;
  /** removes every message of the mailbox and returns how many there were */
  deleteMailbox(domain: string, mailbox: string): number;
  counts(domain: string, mailbox: string): VoicemailCounts;
}

interface MessageRow {
  id: number;
  domain: string;
  mailbox: string;
  caller: string;
  caller_name: string;
  received_at: number;
  duration_ms: number;
  file: string;
  folder: VoicemailFolder;
}

const COLUMNS = 'id, domain, mailbox, caller, caller_name, received_at, duration_ms, file, folder';
const ORDER = 'ORDER BY received_at, id';

export class SqliteVoicemailRepository implements VoicemailRepository {
  private readonly insertRow: Statement<[string, string, string, string, number, number, string]>;
  private readonly byId: Statement<[number], MessageRow>;
  private readonly inMailbox: Statement<[string, string], MessageRow>;
  private readonly inFolder: Statement<[string, string, VoicemailFolder], MessageRow>;
  private readonly updateFolder: Statement<[VoicemailFolder, number]>;
  private readonly deleteById: Statement<[number]>;
  private readonly deleteAll: Statement<[string, string]>;
  private readonly countByFolder: Statement<[string, string], { folder: VoicemailFolder; n: number }>;

  constructor(db: Database) {
    this.insertRow = db.prepare(
      'INSERT INTO voicemail_messages (domain, mailbox, caller, caller_name, received_at, duration_ms, file) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM voicemail_messages WHERE id = ?`);
    this.inMailbox = db.prepare(`SELECT ${COLUMNS} FROM voicemail_messages WHERE domain = ? AND mailbox = ? ${ORDER}`);
    this.inFolder = db.prepare(`SELECT ${COLUMNS} FROM voicemail_messages WHERE domain = ? AND mailbox = ? AND folder = ? ${ORDER}`);
    this.updateFolder = db.prepare('UPDATE voicemail_messages SET folder = ? WHERE id = ?');
    this.deleteById = db.prepare('DELETE FROM voicemail_messages WHERE id = ?');
    this.deleteAll = db.prepare('DELETE FROM voicemail_messages WHERE domain = ? AND mailbox = ?');
    this.countByFolder = db.prepare(
      'SELECT folder, COUNT(*) AS n FROM voicemail_messages WHERE domain = ? AND mailbox = ? GROUP BY folder',
    );
  }

  insert(message: NewVoicemailMessage): VoicemailMessage {
    const { lastInsertRowid } = this.insertRow.run(
      message.domain, message.mailbox, message.caller, message.callerName, message.receivedAt, message.durationMs, message.file,
    );
    return { id: Number(lastInsertRowid), ...message, folder: 'new' };
  }

  get(id: number): VoicemailMessage | undefined {
    const row = this.byId.get(id);
    return row && toMessage(row);
  }

  list(domain: string, mailbox: string, folder?: VoicemailFolder): VoicemailMessage[] {
    const rows = folder === undefined ? this.inMailbox.all(domain, mailbox) : this.inFolder.all(domain, mailbox, folder);
    return rows.map(toMessage);
  }

  setFolder(id: number, folder: VoicemailFolder): boolean {
    return this.updateFolder.run(folder, id).changes > 0;
  }

  delete(id: number): boolean {
    return this.deleteById.run(id).changes > 0;
  }

  deleteMailbox(domain: string, mailbox: string): number {
    return this.deleteAll.run(domain, mailbox).changes;
  }

  counts(domain: string, mailbox: string): VoicemailCounts {
    const counts: VoicemailCounts = { newCount: 0, savedCount: 0 };
    for (const { folder, n } of this.countByFolder.all(domain, mailbox)) {
      if (folder === 'new') counts.newCount = n;
      else counts.savedCount = n;
    }
    return counts;
  }
}

function toMessage(row: MessageRow): VoicemailMessage {
  return {
    id: row.id,
    domain: row.domain,
    mailbox: row.mailbox,
    caller: row.caller,
    callerName: row.caller_name,
    receivedAt: row.received_at,
    durationMs: row.duration_ms,
    file: row.file,
    folder: row.folder,
  };
}
