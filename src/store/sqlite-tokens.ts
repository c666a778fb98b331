import type { Database, Statement } from 'better-sqlite3';
import { ConflictError, type ApiToken, type TokenRepository } from './types.js';
import { isSqliteError } from './sqlite-errors.js';

interface TokenRow { id: number; name: string; created_at: number; last_used_at: number | null }

const COLUMNS = 'id, name, created_at, last_used_at';

export class SqliteTokenRepository implements TokenRepository {
  private readonly insert: Statement<[string, string, number]>;
  private readonly byId: Statement<[number], TokenRow>;
  private readonly byHash: Statement<[string], TokenRow>;
  private readonly listAll: Statement<[], TokenRow>;
  private readonly setLastUsed: Statement<[number, number]>;
  private readonly deleteById: Statement<[number]>;

  constructor(db: Database) {
    this.insert = db.prepare('INSERT INTO api_tokens (name, secret_hash, created_at) VALUES (?, ?, ?)');
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM api_tokens WHERE id = ?`);
    this.byHash = db.prepare(`SELECT ${COLUMNS} FROM api_tokens WHERE secret_hash = ?`);
    this.listAll = db.prepare(`SELECT ${COLUMNS} FROM api_tokens ORDER BY id`);
    this.setLastUsed = db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?');
    this.deleteById = db.prepare('DELETE FROM api_tokens WHERE id = ?');
  }

  create(name: string, secretHash: string): ApiToken {
    let id: number | bigint;
    try {
      id = this.insert.run(name, secretHash, Date.now()).lastInsertRowid;
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) throw new ConflictError('a token with this secret already exists');
      throw err;
    }
    return toToken(this.byId.get(Number(id))!);
  }

  list(): ApiToken[] {
    return this.listAll.all().map(toToken);
  }

  findByHash(secretHash: string): ApiToken | undefined {
    const row = this.byHash.get(secretHash);
    return row && toToken(row);
  }

  touch(id: number, at: number): void {
    this.setLastUsed.run(at, id);
  }

  delete(id: number): boolean {
    return this.deleteById.run(id).changes > 0;
  }
}

function toToken(row: TokenRow): ApiToken {
  return { id: row.id, name: row.name, createdAt: row.created_at, lastUsedAt: row.last_used_at };
}
