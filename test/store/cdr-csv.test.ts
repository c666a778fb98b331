import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CdrCsvWriter, callRecordsToCsv } from '../../src/store/cdr-csv.js';
import type { CallRecord } from '../../src/store/types.js';
import { makeTempDir } from './temp-store.js';

const HEADER = 'id,call_id,domain,caller,callee,start_time,answer_time,end_time,duration_seconds,disposition,final_status,hangup_by,end_reason\r\n';

function record(overrides: Partial<CallRecord>): CallRecord {
  return {
    id: 1, callId: 'abc@host', domain: 'a.example', caller: '100', callee: '101',
    startedAt: Date.UTC(2024, 4, 31, 23, 59, 0), answeredAt: Date.UTC(2024, 4, 31, 23, 59, 5),
    endedAt: Date.UTC(2024, 5, 1, 0, 1, 5, 250), durationSeconds: 120, disposition: 'answered',
    finalStatus: 200, hangupBy: 'callee', endReason: null, ...overrides,
  };
}

let dir: string;
beforeEach(() => { dir = makeTempDir(); });
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('one row per record with ISO 8601 UTC times and empty nulls', () => {
  const csv = callRecordsToCsv([
    record({}),
    record({ id: 2, answeredAt: null, durationSeconds: 0, disposition: 'busy', finalStatus: 486, hangupBy: null }),
    record({ id: 3, hangupBy: 'system', endReason: 'media_timeout' }),
  ]);
  assert.equal(csv, HEADER
    + '1,abc@host,a.example,100,101,2024-05-31T23:59:00.000Z,2024-05-31T23:59:05.000Z,2024-06-01T00:01:05.250Z,120,answered,200,callee,\r\n'
    + '2,abc@host,a.example,100,101,2024-05-31T23:59:00.000Z,,2024-06-01T00:01:05.250Z,0,busy,486,,\r\n'
    + '3,abc@host,a.example,100,101,2024-05-31T23:59:00.000Z,2024-05-31T23:59:05.000Z,2024-06-01T00:01:05.250Z,120,answered,200,system,media_timeout\r\n');
});

test('no records gives the header only', () => {
  assert.equal(callRecordsToCsv([]), HEADER);
});

test('RFC 4180 quoting of commas, quotes and line breaks', () => {
  const csv = callRecordsToCsv([record({ caller: 'Smith, John', callee: 'say "hi"', callId: 'line\r\nbreak' })]);
  const row = csv.slice(HEADER.length);
  assert.ok(row.startsWith('1,"line\r\nbreak",a.example,"Smith, John","say ""hi""",'), row);
});

test('values that a spreadsheet would run as formulas are defused; E.164 numbers are not', () => {
  const row = callRecordsToCsv([record({ caller: '=HYPERLINK("http://x")', callee: '+4930123456', callId: '-1+1' })]).slice(HEADER.length);
  assert.ok(row.startsWith(`1,'-1+1,a.example,"'=HYPERLINK(""http://x"")",+4930123456,`), row);
});

test('a reopened writer appends to the day file without a second header', () => {
  const cdrDir = path.join(dir, 'cdr-reopen');
  for (const id of [1, 2]) {
    const writer = new CdrCsvWriter(cdrDir);
    writer.append(record({ id }));
    writer.close();
  }
  assert.equal(fs.readFileSync(path.join(cdrDir, 'cdr-2024-06-01.csv'), 'utf8'), callRecordsToCsv([record({ id: 1 }), record({ id: 2 })]));
});

test('a day file an older release started with other columns is left as it is; the day goes on in cdr-DAY-2.csv', () => {
  const cdrDir = path.join(dir, 'cdr-upgrade');
  fs.mkdirSync(cdrDir);
  const oldHeader = HEADER.replace(',end_reason', '');
  const oldFile = path.join(cdrDir, 'cdr-2024-06-01.csv');
  fs.writeFileSync(oldFile, `${oldHeader}7,x@y,a.example,100,101,t,t,t,5,answered,200,caller\r\n`);
  const before = fs.readFileSync(oldFile, 'utf8');
  for (const id of [1, 2]) {
    const writer = new CdrCsvWriter(cdrDir);
    writer.append(record({ id }));
    writer.close();
  }
  assert.equal(fs.readFileSync(oldFile, 'utf8'), before, 'the old file is untouched');
  assert.equal(fs.readFileSync(path.join(cdrDir, 'cdr-2024-06-01-2.csv'), 'utf8'), callRecordsToCsv([record({ id: 1 }), record({ id: 2 })]));
});

test('append writes the header once per new daily file named by the UTC end date', () => {
  const cdrDir = path.join(dir, 'cdr');
  const writer = new CdrCsvWriter(cdrDir);
  writer.append(record({ id: 1 }));
  writer.append(record({ id: 2 }));
  writer.append(record({ id: 3, endedAt: Date.UTC(2024, 5, 2, 8, 0, 0) }));
  writer.close();
  assert.deepEqual(fs.readdirSync(cdrDir).sort(), ['cdr-2024-06-01.csv', 'cdr-2024-06-02.csv']);
  const day1 = fs.readFileSync(path.join(cdrDir, 'cdr-2024-06-01.csv'), 'utf8');
  assert.equal(day1, callRecordsToCsv([record({ id: 1 }), record({ id: 2 })]));
  const day2 = fs.readFileSync(path.join(cdrDir, 'cdr-2024-06-02.csv'), 'utf8').split('\r\n');
  assert.equal(day2[0] + '\r\n', HEADER);
  assert.match(day2[1], /^3,/);
});

test('an unwritable directory gives a one-line error naming the file', () => {
  const blocker = path.join(dir, 'file-not-dir');
  fs.writeFileSync(blocker, '');
  assert.throws(() => new CdrCsvWriter(blocker).append(record({})), (err: Error) => {
    assert.ok(err.message.startsWith(`cannot write call record to ${path.join(blocker, 'cdr-2024-06-01.csv')}: `), err.message);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
});
