// A data directory in a temp folder with a real, migrated SQLite file, as the server opens it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { migrate } from '../../src/store/migrations.js';
import type { Logger } from '../../src/log/logger.js';

export interface TempDataDir {
  dir: string;
  db: Database.Database;
  /** closes the database and opens the file again, as a restart would */
  reopen(): Database.Database;
  cleanup(): void;
}

export function openTempDataDir(domains: string[] = ['example.com']): TempDataDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-voicemail-'));
  const file = path.join(dir, 'switchboard.db');
  const open = () => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  };
  const temp: TempDataDir = {
    dir,
    db: open(),
    reopen() {
      temp.db.close();
      temp.db = open();
      return temp.db;
    },
    cleanup() {
      if (temp.db.open) temp.db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  const addDomain = temp.db.prepare('INSERT INTO domains (name) VALUES (?)');
  for (const domain of domains) addDomain.run(domain);
  return temp;
}

export interface CapturedLog {
  logger: Logger;
  lines: Record<string, unknown>[];
  /** every line as written, to look for what must never be there */
  text(): string;
}

export function captureLog(): CapturedLog {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'trace' }, {
    write: (line: string) => {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, lines, text: () => raw.join('') };
}
