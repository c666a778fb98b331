// Schema history. Each migration runs once, in order, in its own transaction; PRAGMA user_version
// records the last one applied. Never edit a released migration: add a new one.

import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  up: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'domains, extensions, bindings, settings',
    up: `
      CREATE TABLE domains (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1))
      );
      CREATE UNIQUE INDEX domains_single_default ON domains (is_default) WHERE is_default = 1;

      CREATE TABLE extensions (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL REFERENCES domains (name) ON UPDATE CASCADE,
        number TEXT NOT NULL,
        display_name TEXT NOT NULL DEFAULT '',
        ha1_md5 TEXT NOT NULL,
        ha1_sha256 TEXT NOT NULL,
        settings TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (domain, number)
      );

      CREATE TABLE bindings (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL,
        number TEXT NOT NULL,
        contact TEXT NOT NULL,
        contact_uri TEXT NOT NULL,
        q REAL NOT NULL DEFAULT 1,
        expires_at INTEGER NOT NULL,
        call_id TEXT NOT NULL,
        cseq INTEGER NOT NULL,
        transport TEXT NOT NULL,
        source_address TEXT NOT NULL,
        source_port INTEGER NOT NULL,
        user_agent TEXT NOT NULL DEFAULT '',
        registered_at INTEGER NOT NULL,
        UNIQUE (domain, number, contact_uri)
      );
      CREATE INDEX bindings_expires_at ON bindings (expires_at);

      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'call records',
    up: `
      CREATE TABLE call_records (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL,
        domain TEXT NOT NULL,
        caller TEXT NOT NULL,
        callee TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        answered_at INTEGER,
        ended_at INTEGER NOT NULL,
        duration_seconds REAL NOT NULL DEFAULT 0,
        disposition TEXT NOT NULL CHECK (disposition IN ('answered', 'busy', 'no_answer', 'cancelled', 'failed')),
        final_status INTEGER NOT NULL,
        hangup_by TEXT CHECK (hangup_by IN ('caller', 'callee', 'system'))
      );
      CREATE INDEX call_records_started_at ON call_records (started_at, id);
      CREATE INDEX call_records_caller ON call_records (caller);
      CREATE INDEX call_records_callee ON call_records (callee);
    `,
  },
  {
    version: 3,
    name: 'api tokens',
    up: `
      CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER
      );
    `,
  },
  {
    version: 4,
    name: 'call record end reason',
    // nullable: rows from before it, and calls that ended normally, have no reason
    up: `
      ALTER TABLE call_records ADD COLUMN end_reason TEXT
        CHECK (end_reason IN ('media_timeout', 'ack_timeout', 'hangup_api', 'shutdown'));
    `,
  },
  {
    version: 5,
    name: 'extension direct media',
    // off for every existing extension: relaying stays the behaviour they were set up with
    up: `
      ALTER TABLE extensions ADD COLUMN direct_media INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 6,
    name: 'service numbers, service data, voicemail, mail outbox',
    up: `
      -- a dialled number that runs a Lua service
      CREATE TABLE service_numbers (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL REFERENCES domains (name) ON UPDATE CASCADE,
        number TEXT NOT NULL,
        service TEXT NOT NULL,
        args TEXT NOT NULL DEFAULT '{}',
        -- dialled instead when the service fails before the call is answered; NULL: an error response
        fallback TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (domain, number)
      );

      -- the services' own data (ring groups, menus, mailboxes, rooms, ...): one JSON document per item,
      -- validated by its kind's schema on every write
      CREATE TABLE service_data (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL REFERENCES domains (name) ON UPDATE CASCADE,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (domain, kind, key)
      );

      CREATE TABLE voicemail_messages (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL REFERENCES domains (name) ON UPDATE CASCADE,
        mailbox TEXT NOT NULL,
        caller TEXT NOT NULL,
        caller_name TEXT NOT NULL DEFAULT '',
        received_at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        -- the WAV, relative to the data directory
        file TEXT NOT NULL,
        folder TEXT NOT NULL DEFAULT 'new' CHECK (folder IN ('new', 'saved'))
      );
      CREATE INDEX voicemail_messages_mailbox ON voicemail_messages (domain, mailbox, folder);

      -- mail waits here until the SMTP server took it: a failed send is retried, never lost
      CREATE TABLE mail_outbox (
        id INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        -- relative to the data directory; NULL: no attachment
        attachment_file TEXT,
        attachment_name TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        sent_at INTEGER
      );
      CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
    `,
  },
];

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Brings the database up to the last of `migrations`; refuses a database from a newer release. */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): void {
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  const current = schemaVersion(db);
  if (current > latest) {
    throw new Error(`its schema version ${current} is newer than this Switchboard supports (${latest}); upgrade Switchboard or restore a backup`);
  }
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.up);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
}
