import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { NewCallRecord } from '../../src/store/types.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
const MAY_1 = Date.UTC(2024, 4, 1);
const HOUR = 3_600_000;

function record(hour: number, caller: string, callee: string, disposition: NewCallRecord['disposition'], domain = 'example.com',
  endReason: NewCallRecord['endReason'] = null): NewCallRecord {
  const startedAt = MAY_1 + hour * HOUR;
  const answered = disposition === 'answered';
  return {
    callId: `cid-${hour}`, domain, caller, callee, startedAt, answeredAt: answered ? startedAt + 5000 : null,
    endedAt: startedAt + 65_000, durationSeconds: answered ? 60 : 0, disposition, finalStatus: answered ? 200 : 486,
    hangupBy: endReason ? 'system' : answered ? 'caller' : null, endReason,
  };
}

before(async () => {
  fixture = await createApiFixture();
  fixture.store.callRecords.insert(record(0, '201', '202', 'answered'));
  fixture.store.callRecords.insert(record(1, '201', '203', 'busy'));
  fixture.store.callRecords.insert(record(2, '202', '201', 'answered'));
  fixture.store.callRecords.insert(record(3, '201', '202', 'answered', 'other.example', 'media_timeout'));
  fixture.store.callRecords.insert(record(26, '201', '202', 'answered'));
});
after(() => fixture.close());

function get(url: string) {
  return fixture.app.inject({ method: 'GET', url, headers: { authorization: fixture.adminAuth } });
}

test('lists all records with a total, times as ISO 8601', async () => {
  const response = await get('/api/v1/call-records');
  assert.equal(response.statusCode, 200);
  const { total, items } = response.json();
  assert.equal(total, 5);
  assert.equal(items.length, 5);
  const first = items.find((item: { callId: string }) => item.callId === 'cid-0');
  assert.equal(first.startedAt, '2024-05-01T00:00:00.000Z');
  assert.equal(first.answeredAt, '2024-05-01T00:00:05.000Z');
  assert.equal(first.disposition, 'answered');
  assert.equal(first.durationSeconds, 60);
  assert.equal(first.hangupBy, 'caller');
  assert.equal(first.endReason, null);
  const timedOut = items.find((item: { callId: string }) => item.callId === 'cid-3');
  assert.equal(timedOut.hangupBy, 'system');
  assert.equal(timedOut.endReason, 'media_timeout');
});

test('filters by caller, callee, domain, disposition, end reason and time range', async () => {
  const ids = async (query: string) => (await get(`/api/v1/call-records?${query}`)).json().items.map((item: { callId: string }) => item.callId).sort();
  assert.deepEqual(await ids('caller=201&domain=example.com'), ['cid-0', 'cid-1', 'cid-26']);
  assert.deepEqual(await ids('callee=201'), ['cid-2']);
  assert.deepEqual(await ids('disposition=busy'), ['cid-1']);
  assert.deepEqual(await ids('endReason=media_timeout'), ['cid-3']);
  assert.deepEqual(await ids('endReason=shutdown'), []);
  assert.deepEqual(await ids('domain=other.example'), ['cid-3']);
  assert.deepEqual(await ids('from=2024-05-01T01:00:00Z&to=2024-05-01T03:00:00Z'), ['cid-1', 'cid-2']);
  assert.deepEqual(await ids('from=2024-05-02'), ['cid-26'], 'a date alone is midnight UTC');
  assert.deepEqual(await ids('to=2024-05-01T03:00:00'), ['cid-0', 'cid-1', 'cid-2'], 'no offset means UTC');
  assert.deepEqual(await ids('from=2024-05-01T04:00:00%2B02:00&to=2024-05-01T05:00:00%2B02:00'), ['cid-2']);
});

test('pages with limit and offset while total counts every match', async () => {
  const page1 = (await get('/api/v1/call-records?limit=2')).json();
  const page2 = (await get('/api/v1/call-records?limit=2&offset=2')).json();
  const page3 = (await get('/api/v1/call-records?limit=2&offset=4')).json();
  assert.deepEqual([page1.total, page2.total, page3.total], [5, 5, 5]);
  assert.deepEqual([page1.items.length, page2.items.length, page3.items.length], [2, 2, 1]);
  const seen = new Set([...page1.items, ...page2.items, ...page3.items].map((item: { id: number }) => item.id));
  assert.equal(seen.size, 5);
});

test('bad filters are 400 naming the field', async () => {
  const cases: [string, string][] = [
    ['from=yesterday', 'from: must be an ISO 8601 timestamp such as 2024-05-01T08:00:00Z'],
    ['to=2024-13-45T99:00:00Z', 'to: must be an ISO 8601 timestamp such as 2024-05-01T08:00:00Z'],
    ['limit=0', 'limit: must be >= 1'],
    ['limit=5000', 'limit: must be <= 1000'],
    ['offset=-1', 'offset: must be >= 0'],
    ['disposition=happy', 'disposition: must be one of answered, busy, no_answer, cancelled, failed'],
    ['endReason=bored', 'endReason: must be one of media_timeout, ack_timeout, hangup_api, shutdown'],
  ];
  for (const [query, error] of cases) {
    const response = await get(`/api/v1/call-records?${query}`);
    assert.equal(response.statusCode, 400, query);
    assert.deepEqual(response.json(), { error }, query);
  }
  const csv = await get('/api/v1/call-records.csv?from=nope');
  assert.equal(csv.statusCode, 400);
  assert.equal(csv.json().error, 'from: must be an ISO 8601 timestamp such as 2024-05-01T08:00:00Z');
});

test('CSV export applies the same filters and has a header row', async () => {
  const response = await get('/api/v1/call-records.csv?caller=201&domain=example.com');
  assert.equal(response.statusCode, 200);
  assert.match(String(response.headers['content-type']), /^text\/csv/);
  assert.match(String(response.headers['content-disposition']), /attachment; filename="call-records.csv"/);
  const lines = response.body.trim().split(/\r?\n/);
  assert.match(lines[0], /^id,call_id,domain,caller,callee,/);
  assert.equal(lines.length, 4);
  assert.ok(lines.slice(1).every((line) => line.includes(',201,')));

  const timedOut = await get('/api/v1/call-records.csv?endReason=media_timeout');
  const [header, row] = timedOut.body.trim().split(/\r?\n/);
  assert.match(header, /,hangup_by,end_reason$/);
  assert.match(row, /^\d+,cid-3,.*,system,media_timeout$/);

  const limited = await get('/api/v1/call-records.csv?limit=1');
  assert.equal(limited.body.trim().split(/\r?\n/).length, 2);
});
