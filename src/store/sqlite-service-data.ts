import type { Database, Statement } from 'better-sqlite3';
import { ConflictError, type ServiceDataItem, type ServiceDataRepository } from './types.js';
import { UnknownDomainError } from './errors.js';
import { isSqliteError } from './sqlite-errors.js';
import { normalizeDomainName } from './sqlite-domains.js';
import { ReadCache } from './read-cache.js';

interface ServiceDataRow {
  domain: string;
  kind: string;
  key: string;
  body: string;
  created_at: number;
  updated_at: number;
}

type WriteStatement = Statement<[string, string, string, string, number, number]>;

const COLUMNS = 'domain, kind, key, body, created_at, updated_at';

/**
 * Items kept in memory (rows, and the absence of one): every call to an extension reads its call
 * settings, most of which were never written. The parsed body is never shared, so callers may change it.
 */
const CACHED_ITEMS = 4096;

/** The services read their data during calls, so every statement is prepared once. */
export class SqliteServiceDataRepository implements ServiceDataRepository {
  private readonly byKey: Statement<[string, string, string], ServiceDataRow>;
  private readonly listAll: Statement<[string], ServiceDataRow>;
  private readonly listDomain: Statement<[string, string], ServiceDataRow>;
  private readonly insert: WriteStatement;
  private readonly upsert: WriteStatement;
  private readonly deleteByKey: Statement<[string, string, string]>;
  private readonly cached = new ReadCache<ServiceDataRow | null>(CACHED_ITEMS);

  constructor(db: Database) {
    this.byKey = db.prepare(`SELECT ${COLUMNS} FROM service_data WHERE domain = ? AND kind = ? AND key = ?`);
    this.listAll = db.prepare(`SELECT ${COLUMNS} FROM service_data WHERE kind = ? ORDER BY domain, key`);
    this.listDomain = db.prepare(`SELECT ${COLUMNS} FROM service_data WHERE domain = ? AND kind = ? ORDER BY key`);
    this.insert = db.prepare(`INSERT INTO service_data (domain, kind, key, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`);
    this.upsert = db.prepare(`INSERT INTO service_data (domain, kind, key, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (domain, kind, key) DO UPDATE SET body = excluded.body, updated_at = MAX(excluded.updated_at, created_at)`);
    this.deleteByKey = db.prepare('DELETE FROM service_data WHERE domain = ? AND kind = ? AND key = ?');
  }

  get(domain: string, kind: string, key: string): ServiceDataItem | undefined {
    const normalized = normalizeDomainName(domain);
    const cacheKey = `${normalized}\0${kind}\0${key}`;
    let row = this.cached.get(cacheKey);
    if (row === undefined) {
      row = this.byKey.get(normalized, kind, key) ?? null;
      this.cached.set(cacheKey, row);
    }
    return row === null ? undefined : toItem(row);
  }

  list(domain: string | undefined, kind: string): ServiceDataItem[] {
    const rows = domain === undefined ? this.listAll.all(kind) : this.listDomain.all(normalizeDomainName(domain), kind);
    return rows.map(toItem);
  }

  create(domain: string, kind: string, key: string, body: Record<string, unknown>): ServiceDataItem {
    return this.write(this.insert, normalizeDomainName(domain), kind, key, body);
  }

  put(domain: string, kind: string, key: string, body: Record<string, unknown>): ServiceDataItem {
    return this.write(this.upsert, normalizeDomainName(domain), kind, key, body);
  }

  delete(domain: string, kind: string, key: string): boolean {
    this.cached.clear();
    return this.deleteByKey.run(normalizeDomainName(domain), kind, key).changes > 0;
  }

  /** Forgets what get() kept: after every write, and after a transaction that may have rolled one back. */
  forgetCached(): void {
    this.cached.clear();
  }

  private write(statement: WriteStatement, domain: string, kind: string, key: string, body: Record<string, unknown>): ServiceDataItem {
    this.cached.clear();
    const now = Date.now();
    try {
      statement.run(domain, kind, key, JSON.stringify(body), now, now);
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) throw new ConflictError(`${kind} ${key}@${domain} already exists`);
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_FOREIGNKEY')) throw new UnknownDomainError(`domain ${domain} does not exist`);
      throw err;
    }
    return toItem(this.byKey.get(domain, kind, key)!);
  }
}

function toItem(row: ServiceDataRow): ServiceDataItem {
  return {
    domain: row.domain,
    kind: row.kind,
    key: row.key,
    body: JSON.parse(row.body) as Record<string, unknown>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
