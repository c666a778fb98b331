import type { Database, Statement } from 'better-sqlite3';
import type { SettingsRepository } from './types.js';

export class SqliteSettingsRepository implements SettingsRepository {
  private readonly byKey: Statement<[string], string>;
  private readonly upsert: Statement<[string, string]>;

  constructor(db: Database) {
    this.byKey = db.prepare<[string], string>('SELECT value FROM settings WHERE key = ?').pluck();
    this.upsert = db.prepare(`INSERT INTO settings (key, value) VALUES (?, ?)
                              ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  }

  get(key: string): string | undefined {
    return this.byKey.get(key);
  }

  set(key: string, value: string): void {
    this.upsert.run(key, value);
  }
}
