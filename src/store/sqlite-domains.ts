import type { Database, Statement } from 'better-sqlite3';
import { ConflictError, type Domain, type DomainRepository } from './types.js';
import { isSqliteError } from './sqlite-errors.js';

interface DomainRow { id: number; name: string; is_default: number }

export class SqliteDomainRepository implements DomainRepository {
  private readonly listAll: Statement<[], DomainRow>;
  private readonly byName: Statement<[string], DomainRow>;
  private readonly insert: Statement<[string]>;
  private readonly insertIfMissing: Statement<[string]>;
  private readonly clearOtherDefault: Statement<[string]>;
  private readonly markDefault: Statement<[string]>;
  private readonly deleteByName: Statement<[string]>;
  private readonly makeDefault: (name: string) => void;

  constructor(db: Database) {
    this.listAll = db.prepare('SELECT id, name, is_default FROM domains ORDER BY name');
    this.byName = db.prepare('SELECT id, name, is_default FROM domains WHERE name = ?');
    this.insert = db.prepare('INSERT INTO domains (name) VALUES (?)');
    this.insertIfMissing = db.prepare('INSERT OR IGNORE INTO domains (name) VALUES (?)');
    // Cleared first: the unique index allowing one default is checked row by row.
    this.clearOtherDefault = db.prepare('UPDATE domains SET is_default = 0 WHERE is_default = 1 AND name <> ?');
    this.markDefault = db.prepare('UPDATE domains SET is_default = 1 WHERE name = ?');
    this.deleteByName = db.prepare('DELETE FROM domains WHERE name = ?');
    this.makeDefault = db.transaction((name: string) => {
      this.insertIfMissing.run(name);
      this.clearOtherDefault.run(name);
      this.markDefault.run(name);
    });
  }

  list(): Domain[] {
    return this.listAll.all().map(toDomain);
  }

  get(name: string): Domain | undefined {
    const row = this.byName.get(normalizeDomainName(name));
    return row && toDomain(row);
  }

  ensureDefault(name: string): Domain {
    const normalized = normalizeDomainName(name);
    this.makeDefault(normalized);
    return toDomain(this.byName.get(normalized)!);
  }

  create(name: string): Domain {
    const normalized = normalizeDomainName(name);
    try {
      this.insert.run(normalized);
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) throw new ConflictError(`domain ${normalized} already exists`);
      throw err;
    }
    return toDomain(this.byName.get(normalized)!);
  }

  delete(name: string): boolean {
    const normalized = normalizeDomainName(name);
    try {
      return this.deleteByName.run(normalized).changes > 0;
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_FOREIGNKEY')) {
        throw new ConflictError(`domain ${normalized} still has extensions; delete them first`);
      }
      throw err;
    }
  }
}

/** Domain names are host names or IPs, compared without regard to case (RFC 3261 §19.1.4). */
export function normalizeDomainName(name: string): string {
  return name.trim().toLowerCase();
}

function toDomain(row: DomainRow): Domain {
  return { id: row.id, name: row.name, isDefault: row.is_default === 1 };
}
