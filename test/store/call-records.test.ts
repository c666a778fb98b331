import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { NewCallRecord } from '../../src/store/types.js';
import { openTempStore, type TempStore } from './temp-store.js';

let temp: TempStore;
beforeEach(() => { temp = openTempStore(); });
afterEach(() => temp.cleanup());

function record(overrides: Partial<NewCallRecord>): NewCallRecord {
  return {
    callId: 'c', domain: 'a.example', caller: '100', callee: '101', startedAt: 1000, answeredAt: 2000, endedAt: 62000,
    durationSeconds: 60, disposition: 'answered', finalStatus: 200, hangupBy: 'caller', endReason: null, ...overrides,
  };
}

test('insert returns the record with its id; get reads it back', () => {
  const inserted = temp.store.callRecords.insert(record({ answeredAt: null, durationSeconds: 0, disposition: 'busy', finalStatus: 486, hangupBy: null }));
  assert.ok(inserted.id > 0);
  assert.deepEqual(temp.store.callRecords.get(inserted.id), inserted);
  assert.equal(temp.store.callRecords.get(inserted.id + 1), undefined);
});

test('the end reason is stored and read back, by get and by query', () => {
  const { callRecords } = temp.store;
  const timedOut = callRecords.insert(record({ hangupBy: 'system', endReason: 'media_timeout' }));
  const ordinary = callRecords.insert(record({ startedAt: 5000 }));
  assert.equal(callRecords.get(timedOut.id)?.endReason, 'media_timeout');
  assert.equal(callRecords.get(ordinary.id)?.endReason, null);
  assert.deepEqual(callRecords.query({}).items.map((r) => r.endReason), [null, 'media_timeout']);
});

test('query orders by startedAt desc then id desc', () => {
  const { callRecords } = temp.store;
  const a = callRecords.insert(record({ startedAt: 10 }));
  const b = callRecords.insert(record({ startedAt: 30 }));
  const c = callRecords.insert(record({ startedAt: 10 }));
  assert.deepEqual(callRecords.query({}).items.map((r) => r.id), [b.id, c.id, a.id]);
});

test('query filters combine and total counts all matches', () => {
  const { callRecords } = temp.store;
  callRecords.insert(record({ caller: '100', callee: '200', startedAt: 100 }));
  callRecords.insert(record({ caller: '100', callee: '201', startedAt: 200, disposition: 'no_answer' }));
  callRecords.insert(record({ caller: '101', callee: '200', startedAt: 300 }));
  callRecords.insert(record({ caller: '100', callee: '200', startedAt: 400, domain: 'b.example', hangupBy: 'system', endReason: 'shutdown' }));
  const count = (filter: Parameters<typeof callRecords.query>[0]) => callRecords.query(filter).total;
  assert.equal(count({}), 4);
  assert.equal(count({ caller: '100' }), 3);
  assert.equal(count({ callee: '200' }), 3);
  assert.equal(count({ caller: '100', callee: '200' }), 2);
  assert.equal(count({ domain: 'a.example', caller: '100', callee: '200' }), 1);
  assert.equal(count({ disposition: 'no_answer' }), 1);
  assert.equal(count({ endReason: 'shutdown' }), 1);
  assert.equal(count({ endReason: 'shutdown', domain: 'a.example' }), 0);
  assert.equal(count({ endReason: 'hangup_api' }), 0);
  assert.equal(count({ from: 200 }), 3);
  assert.equal(count({ to: 200 }), 1);
  assert.equal(count({ from: 200, to: 400 }), 2);
  assert.deepEqual(callRecords.query({ from: 200, to: 400 }).items.map((r) => r.startedAt), [300, 200]);
});

test('paging: limit and offset, total independent of the page', () => {
  const { callRecords } = temp.store;
  for (let i = 0; i < 25; i++) callRecords.insert(record({ startedAt: i }));
  const page = callRecords.query({ limit: 10, offset: 20 });
  assert.equal(page.total, 25);
  assert.deepEqual(page.items.map((r) => r.startedAt), [4, 3, 2, 1, 0]);
  assert.equal(callRecords.query({ limit: 10, offset: 30 }).items.length, 0);
});

test('limit defaults to 100 and is capped at 1000', () => {
  const { callRecords } = temp.store;
  temp.store.transaction(() => {
    for (let i = 0; i < 1005; i++) callRecords.insert(record({ startedAt: i }));
  });
  assert.equal(callRecords.query({}).items.length, 100);
  assert.equal(callRecords.query({ limit: 5000 }).items.length, 1000);
  assert.equal(callRecords.query({ limit: 0 }).items.length, 1);
  assert.equal(callRecords.query({ limit: 5000 }).total, 1005);
});
