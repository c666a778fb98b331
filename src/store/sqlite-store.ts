// The embedded Store: one SQLite file in WAL mode, schema brought up to date on open.

import Database from 'better-sqlite3';
import type { Store } from './types.js';
import { migrate } from './migrations.js';
import { SqliteDomainRepository } from './sqlite-domains.js';
import { SqliteExtensionRepository } from './sqlite-extensions.js';
import { SqliteBindingRepository } from './sqlite-bindings.js';
import { SqliteCallRecordRepository } from './sqlite-call-records.js';
import { SqliteTokenRepository } from './sqlite-tokens.js';
import { SqliteSettingsRepository } from './sqlite-settings.js';
import { SqliteVoicemailRepository } from './sqlite-voicemail.js';
import { SqliteMailOutbox } from './sqlite-mail-outbox.js';
import { SqliteServiceNumberRepository } from './sqlite-service-numbers.js';
import { SqliteServiceDataRepository } from './sqlite-service-data.js';

/** How long a writer waits for another connection's lock (the CLI may open the file too). */
const BUSY_TIMEOUT_MS = 5000;

export function openSqliteStore(file: string): Store {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    db.pragma('journal_mode = WAL');
    // NORMAL is durable in WAL mode except for the last commits on power loss, and much faster.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    migrate(db);
    return createStore(db);
  } catch (err) {
    db?.close();
    throw new Error(`cannot open database ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function createStore(db: Database.Database): Store {
  const extensions = new SqliteExtensionRepository(db);
  const serviceData = new SqliteServiceDataRepository(db);
  return {
    domains: new SqliteDomainRepository(db),
    extensions,
    bindings: new SqliteBindingRepository(db),
    callRecords: new SqliteCallRecordRepository(db),
    tokens: new SqliteTokenRepository(db),
    settings: new SqliteSettingsRepository(db),
    serviceNumbers: new SqliteServiceNumberRepository(db),
    serviceData,
    voicemail: new SqliteVoicemailRepository(db),
    mailOutbox: new SqliteMailOutbox(db),
    transaction: <T>(fn: () => T): T => {
      try {
        return db.transaction(fn)();
      } finally {
        // what was read inside may have been rolled back
        extensions.forgetCached();
        serviceData.forgetCached();
      }
    },
    close: () => {
      if (db.open) db.close();
    },
  };
}
