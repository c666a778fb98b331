import type { Database, Statement } from 'better-sqlite3';
import type { Binding, BindingRepository } from './types.js';
import { normalizeDomainName } from './sqlite-domains.js';

interface BindingRow {
  domain: string;
  number: string;
  contact: string;
  contact_uri: string;
  q: number;
  expires_at: number;
  call_id: string;
  cseq: number;
  transport: string;
  source_address: string;
  source_port: number;
  user_agent: string;
  registered_at: number;
}

const COLUMNS = `domain, number, contact, contact_uri, q, expires_at, call_id, cseq, transport,
  source_address, source_port, user_agent, registered_at`;
const ORDER = 'ORDER BY domain, number, q DESC, registered_at DESC, id';

/** Every REGISTER lands here (thousands per second), so each statement is prepared once. */
export class SqliteBindingRepository implements BindingRepository {
  private readonly upsertRow: Statement<[BindingRow]>;
  private readonly removeOne: Statement<[string, string, string]>;
  private readonly removeAor: Statement<[string, string]>;
  private readonly listAll: Statement<[], BindingRow>;
  private readonly listDomain: Statement<[string], BindingRow>;
  private readonly listNumber: Statement<[string], BindingRow>;
  private readonly listAor: Statement<[string, string], BindingRow>;
  private readonly removeExpiredRows: Statement<[number]>;

  constructor(db: Database) {
    this.upsertRow = db.prepare(`INSERT INTO bindings (${COLUMNS}) VALUES
      (@domain, @number, @contact, @contact_uri, @q, @expires_at, @call_id, @cseq, @transport,
       @source_address, @source_port, @user_agent, @registered_at)
      ON CONFLICT (domain, number, contact_uri) DO UPDATE SET
        contact = excluded.contact, q = excluded.q, expires_at = excluded.expires_at,
        call_id = excluded.call_id, cseq = excluded.cseq, transport = excluded.transport,
        source_address = excluded.source_address, source_port = excluded.source_port,
        user_agent = excluded.user_agent, registered_at = excluded.registered_at`);
    this.removeOne = db.prepare('DELETE FROM bindings WHERE domain = ? AND number = ? AND contact_uri = ?');
    this.removeAor = db.prepare('DELETE FROM bindings WHERE domain = ? AND number = ?');
    this.listAll = db.prepare(`SELECT ${COLUMNS} FROM bindings ${ORDER}`);
    this.listDomain = db.prepare(`SELECT ${COLUMNS} FROM bindings WHERE domain = ? ${ORDER}`);
    this.listNumber = db.prepare(`SELECT ${COLUMNS} FROM bindings WHERE number = ? ${ORDER}`);
    this.listAor = db.prepare(`SELECT ${COLUMNS} FROM bindings WHERE domain = ? AND number = ? ${ORDER}`);
    this.removeExpiredRows = db.prepare('DELETE FROM bindings WHERE expires_at <= ?');
  }

  upsert(binding: Binding): void {
    this.upsertRow.run({
      domain: normalizeDomainName(binding.domain),
      number: binding.number,
      contact: binding.contact,
      contact_uri: binding.contactUri,
      q: binding.q,
      expires_at: binding.expiresAt,
      call_id: binding.callId,
      cseq: binding.cseq,
      transport: binding.transport,
      source_address: binding.sourceAddress,
      source_port: binding.sourcePort,
      user_agent: binding.userAgent,
      registered_at: binding.registeredAt,
    });
  }

  remove(domain: string, number: string, contactUri: string): void {
    this.removeOne.run(normalizeDomainName(domain), number, contactUri);
  }

  removeAll(domain: string, number: string): void {
    this.removeAor.run(normalizeDomainName(domain), number);
  }

  list(domain?: string, number?: string): Binding[] {
    let rows: BindingRow[];
    if (domain === undefined) rows = number === undefined ? this.listAll.all() : this.listNumber.all(number);
    else rows = number === undefined ? this.listDomain.all(normalizeDomainName(domain)) : this.listAor.all(normalizeDomainName(domain), number);
    return rows.map(toBinding);
  }

  removeExpired(now: number): number {
    return this.removeExpiredRows.run(now).changes;
  }
}

function toBinding(row: BindingRow): Binding {
  return {
    domain: row.domain,
    number: row.number,
    contact: row.contact,
    contactUri: row.contact_uri,
    q: row.q,
    expiresAt: row.expires_at,
    callId: row.call_id,
    cseq: row.cseq,
    transport: row.transport,
    sourceAddress: row.source_address,
    sourcePort: row.source_port,
    userAgent: row.user_agent,
    registeredAt: row.registered_at,
  };
}
