import type { Database, Statement } from 'better-sqlite3';
import type { CallRecord, CallRecordFilter, CallRecordRepository, NewCallRecord } from './types.js';

interface CallRecordRow {
  id: number;
  call_id: string;
  domain: string;
  caller: string;
  callee: string;
  started_at: number;
  answered_at: number | null;
  ended_at: number;
  duration_seconds: number;
  disposition: CallRecord['disposition'];
  final_status: number;
  hangup_by: CallRecord['hangupBy'];
  end_reason: CallRecord['endReason'];
}

type FilterField = 'domain' | 'caller' | 'callee' | 'disposition' | 'endReason' | 'from' | 'to';

const CONDITIONS: Record<FilterField, string> = {
  domain: 'domain = @domain',
  caller: 'caller = @caller',
  callee: 'callee = @callee',
  disposition: 'disposition = @disposition',
  endReason: 'end_reason = @endReason',
  from: 'started_at >= @from',
  to: 'started_at < @to',
};
const FILTER_FIELDS = Object.keys(CONDITIONS) as FilterField[];
const COLUMNS = `id, call_id, domain, caller, callee, started_at, answered_at, ended_at, duration_seconds,
  disposition, final_status, hangup_by, end_reason`;

export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 1000;

interface QueryStatements {
  count: Statement<[Record<string, unknown>], { total: number }>;
  page: Statement<[Record<string, unknown>], CallRecordRow>;
}

export class SqliteCallRecordRepository implements CallRecordRepository {
  private readonly insertRow: Statement<[Omit<CallRecordRow, 'id'>]>;
  private readonly byId: Statement<[number], CallRecordRow>;
  /** one pair of statements per combination of filters used, prepared on first use */
  private readonly queries = new Map<string, QueryStatements>();

  constructor(private readonly db: Database) {
    this.insertRow = db.prepare(`INSERT INTO call_records
      (call_id, domain, caller, callee, started_at, answered_at, ended_at, duration_seconds, disposition, final_status, hangup_by,
       end_reason)
      VALUES (@call_id, @domain, @caller, @callee, @started_at, @answered_at, @ended_at, @duration_seconds,
              @disposition, @final_status, @hangup_by, @end_reason)`);
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM call_records WHERE id = ?`);
  }

  insert(record: NewCallRecord): CallRecord {
    const id = this.insertRow.run({
      call_id: record.callId,
      domain: record.domain,
      caller: record.caller,
      callee: record.callee,
      started_at: record.startedAt,
      answered_at: record.answeredAt,
      ended_at: record.endedAt,
      duration_seconds: record.durationSeconds,
      disposition: record.disposition,
      final_status: record.finalStatus,
      hangup_by: record.hangupBy,
      end_reason: record.endReason,
    }).lastInsertRowid;
    return { id: Number(id), ...record };
  }

  get(id: number): CallRecord | undefined {
    const row = this.byId.get(id);
    return row && toCallRecord(row);
  }

  query(filter: CallRecordFilter): { total: number; items: CallRecord[] } {
    const used = FILTER_FIELDS.filter((field) => filter[field] !== undefined);
    const params: Record<string, unknown> = {};
    for (const field of used) params[field] = filter[field];
    const statements = this.statementsFor(used);
    const total = statements.count.get(params)!.total;
    const items = statements.page.all({ ...params, limit: clampLimit(filter.limit), offset: Math.max(0, Math.trunc(filter.offset ?? 0)) });
    return { total, items: items.map(toCallRecord) };
  }

  private statementsFor(used: FilterField[]): QueryStatements {
    const key = used.join(',');
    let statements = this.queries.get(key);
    if (!statements) {
      const where = used.length === 0 ? '' : `WHERE ${used.map((f) => CONDITIONS[f]).join(' AND ')}`;
      statements = {
        count: this.db.prepare(`SELECT COUNT(*) AS total FROM call_records ${where}`),
        page: this.db.prepare(`SELECT ${COLUMNS} FROM call_records ${where}
                               ORDER BY started_at DESC, id DESC LIMIT @limit OFFSET @offset`),
      };
      this.queries.set(key, statements);
    }
    return statements;
  }
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_QUERY_LIMIT;
  return Math.min(MAX_QUERY_LIMIT, Math.max(1, Math.trunc(limit)));
}

function toCallRecord(row: CallRecordRow): CallRecord {
  return {
    id: row.id,
    callId: row.call_id,
    domain: row.domain,
    caller: row.caller,
    callee: row.callee,
    startedAt: row.started_at,
    answeredAt: row.answered_at,
    endedAt: row.ended_at,
    durationSeconds: row.duration_seconds,
    disposition: row.disposition,
    finalStatus: row.final_status,
    hangupBy: row.hangup_by,
    endReason: row.end_reason,
  };
}
