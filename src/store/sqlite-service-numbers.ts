import type { Database, Statement } from 'better-sqlite3';
import { ConflictError, type NewServiceNumber, type ServiceNumber, type ServiceNumberRepository, type ServiceNumberTarget } from './types.js';
import { UnknownDomainError } from './errors.js';
import { isSqliteError } from './sqlite-errors.js';
import { normalizeDomainName } from './sqlite-domains.js';

interface ServiceNumberRow {
  id: number;
  domain: string;
  number: string;
  service: string;
  args: string;
  fallback: string | null;
  created_at: number;
  updated_at: number;
}

const COLUMNS = 'id, domain, number, service, args, fallback, created_at, updated_at';

/** find runs for every call to a number that is no extension, so every statement is prepared once. */
export class SqliteServiceNumberRepository implements ServiceNumberRepository {
  private readonly insert: Statement<[string, string, string, string, string | null, number, number]>;
  private readonly byNumber: Statement<[string, string], ServiceNumberRow>;
  private readonly listAll: Statement<[], ServiceNumberRow>;
  private readonly listDomain: Statement<[string], ServiceNumberRow>;
  private readonly update: Statement<[string, string, string | null, number, string, string]>;
  private readonly deleteByNumber: Statement<[string, string]>;

  constructor(db: Database) {
    this.insert = db.prepare(`INSERT INTO service_numbers (domain, number, service, args, fallback, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.byNumber = db.prepare(`SELECT ${COLUMNS} FROM service_numbers WHERE domain = ? AND number = ?`);
    this.listAll = db.prepare(`SELECT ${COLUMNS} FROM service_numbers ORDER BY domain, number`);
    this.listDomain = db.prepare(`SELECT ${COLUMNS} FROM service_numbers WHERE domain = ? ORDER BY number`);
    this.update = db.prepare(`UPDATE service_numbers SET service = ?, args = ?, fallback = ?, updated_at = MAX(?, created_at)
      WHERE domain = ? AND number = ?`);
    this.deleteByNumber = db.prepare('DELETE FROM service_numbers WHERE domain = ? AND number = ?');
  }

  create(input: NewServiceNumber): ServiceNumber {
    const domain = normalizeDomainName(input.domain);
    const now = Date.now();
    try {
      this.insert.run(domain, input.number, input.service, JSON.stringify(input.args ?? {}), input.fallback ?? null, now, now);
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) throw new ConflictError(`service number ${input.number}@${domain} already exists`);
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_FOREIGNKEY')) throw new UnknownDomainError(`domain ${domain} does not exist`);
      throw err;
    }
    return toServiceNumber(this.byNumber.get(domain, input.number)!);
  }

  find(domain: string, number: string): ServiceNumber | undefined {
    const row = this.byNumber.get(normalizeDomainName(domain), number);
    return row && toServiceNumber(row);
  }

  list(domain?: string): ServiceNumber[] {
    const rows = domain === undefined ? this.listAll.all() : this.listDomain.all(normalizeDomainName(domain));
    return rows.map(toServiceNumber);
  }

  replace(domain: string, number: string, target: ServiceNumberTarget): ServiceNumber | undefined {
    const normalized = normalizeDomainName(domain);
    const changes = this.update.run(target.service, JSON.stringify(target.args), target.fallback, Date.now(), normalized, number).changes;
    return changes > 0 ? this.find(normalized, number) : undefined;
  }

  delete(domain: string, number: string): boolean {
    return this.deleteByNumber.run(normalizeDomainName(domain), number).changes > 0;
  }
}

function toServiceNumber(row: ServiceNumberRow): ServiceNumber {
  return {
    id: row.id,
    domain: row.domain,
    number: row.number,
    service: row.service,
    args: JSON.parse(row.args) as Record<string, unknown>,
    fallback: row.fallback,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
