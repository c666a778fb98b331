// Call detail records as CSV (RFC 4180): one file per UTC day for spreadsheets and billing tools,
// and the same columns for the REST API export.

import fs from 'node:fs';
import path from 'node:path';
import type { CallRecord } from './types.js';

// New columns go at the end, so consumers that read columns by position keep working.
export const CDR_CSV_COLUMNS = [
  'id', 'call_id', 'domain', 'caller', 'callee', 'start_time', 'answer_time', 'end_time',
  'duration_seconds', 'disposition', 'final_status', 'hangup_by', 'end_reason',
] as const;

const LINE_END = '\r\n';

export function callRecordsToCsv(records: CallRecord[]): string {
  return headerLine() + records.map(recordLine).join('');
}

/**
 * Appends records to <dir>/cdr-YYYY-MM-DD.csv (UTC date of endedAt), starting each new file with the
 * header. The day's file stays open: one synchronous write per call, so a record is on disk when the
 * call is over, without an open/stat/close per call.
 */
export class CdrCsvWriter {
  private fd: number | undefined;
  /** the day's file name the open descriptor stands for (the file itself may carry a suffix) */
  private day = '';

  constructor(private readonly dir: string) {}

  append(record: CallRecord): void {
    const file = path.join(this.dir, cdrCsvFileName(record.endedAt));
    try {
      if (file !== this.day || this.fd === undefined) this.open(file);
      fs.writeSync(this.fd!, recordLine(record));
    } catch (err) {
      this.close();
      throw new Error(`cannot write call record to ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    this.day = '';
  }

  private open(day: string): void {
    this.close();
    fs.mkdirSync(this.dir, { recursive: true });
    const fd = fs.openSync(withCurrentHeader(day), 'a');
    this.fd = fd;
    this.day = day;
    if (fs.fstatSync(fd).size === 0) fs.writeSync(fd, headerLine());
  }
}

/**
 * The day's file, or when an older release started it with other columns (an upgrade during the day),
 * the first of cdr-DAY-2.csv, cdr-DAY-3.csv, ... that is new or has today's header: rows never land
 * under a header that does not describe them.
 */
function withCurrentHeader(day: string): string {
  const header = headerLine();
  for (let n = 1; ; n++) {
    const file = n === 1 ? day : day.replace(/\.csv$/, `-${n}.csv`);
    if (!fs.existsSync(file)) return file;
    const fd = fs.openSync(file, 'r');
    try {
      const start = Buffer.alloc(header.length);
      const read = fs.readSync(fd, start, 0, header.length, 0);
      if (read === 0 || start.subarray(0, read).toString('utf8') === header) return file;
    } finally {
      fs.closeSync(fd);
    }
  }
}

export function cdrCsvFileName(endedAt: number): string {
  return `cdr-${new Date(endedAt).toISOString().slice(0, 10)}.csv`;
}

function headerLine(): string {
  return CDR_CSV_COLUMNS.join(',') + LINE_END;
}

function recordLine(r: CallRecord): string {
  const fields = [
    String(r.id),
    text(r.callId),
    text(r.domain),
    text(r.caller),
    text(r.callee),
    isoTime(r.startedAt),
    r.answeredAt === null ? '' : isoTime(r.answeredAt),
    isoTime(r.endedAt),
    String(r.durationSeconds),
    r.disposition,
    String(r.finalStatus),
    r.hangupBy ?? '',
    r.endReason ?? '',
  ];
  return fields.map(quote).join(',') + LINE_END;
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Caller, callee and Call-ID come from SIP headers an attacker controls; a leading '=' or '@' (or
 * '+'/'-' not followed by a plain number, so E.164 numbers stay intact) would run as a formula
 * when an admin opens the file in a spreadsheet, so such values get a leading apostrophe.
 */
function text(value: string): string {
  const formula = /^[=@\t\r]/.test(value) || (/^[+-]/.test(value) && !/^[+-]\d+$/.test(value));
  return formula ? `'${value}` : value;
}

function quote(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}
