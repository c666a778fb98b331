import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Binding } from '../../src/store/types.js';
import { openTempStore, type TempStore } from './temp-store.js';

let temp: TempStore;
beforeEach(() => { temp = openTempStore(); });
afterEach(() => temp.cleanup());

function binding(overrides: Partial<Binding>): Binding {
  return {
    domain: 'a.example', number: '100', contact: '<sip:100@192.0.2.1:5060>;expires=60', contactUri: 'sip:100@192.0.2.1:5060',
    q: 1, expiresAt: 1_000_000, callId: 'call-1', cseq: 1, transport: 'UDP', sourceAddress: '192.0.2.1',
    sourcePort: 5060, userAgent: 'Phone/1.0', registeredAt: 900_000, ...overrides,
  };
}

test('upsert inserts and then replaces by (domain, number, contactUri)', () => {
  const { bindings } = temp.store;
  const first = binding({});
  bindings.upsert(first);
  assert.deepEqual(bindings.list('a.example', '100'), [first]);
  const refreshed = binding({ expiresAt: 2_000_000, cseq: 2, sourcePort: 40000, contact: '<sip:100@192.0.2.1:5060>;expires=3600' });
  bindings.upsert(refreshed);
  assert.deepEqual(bindings.list('a.example', '100'), [refreshed]);
});

test('every field round-trips, including a fractional q', () => {
  const b = binding({ q: 0.5, transport: 'TLS', sourceAddress: '2001:db8::1', userAgent: 'Über "phone"', contact: '<sip:100@h;transport=tls?X-A=b%20c>;q=0.5' });
  temp.store.bindings.upsert(b);
  assert.deepEqual(temp.store.bindings.list(), [b]);
});

test('several contacts per AOR, listed by q then most recent', () => {
  const { bindings } = temp.store;
  bindings.upsert(binding({ contactUri: 'sip:low@h', q: 0.1, registeredAt: 3 }));
  bindings.upsert(binding({ contactUri: 'sip:old@h', q: 1, registeredAt: 1 }));
  bindings.upsert(binding({ contactUri: 'sip:new@h', q: 1, registeredAt: 2 }));
  assert.deepEqual(bindings.list('a.example', '100').map((b) => b.contactUri), ['sip:new@h', 'sip:old@h', 'sip:low@h']);
});

test('list filters by domain and number', () => {
  const { bindings } = temp.store;
  bindings.upsert(binding({}));
  bindings.upsert(binding({ number: '101', contactUri: 'sip:101@h' }));
  bindings.upsert(binding({ domain: 'b.example', contactUri: 'sip:100@b' }));
  assert.equal(bindings.list().length, 3);
  assert.equal(bindings.list('a.example').length, 2);
  assert.equal(bindings.list('A.EXAMPLE', '101').length, 1);
  assert.equal(bindings.list(undefined, '100').length, 2);
  assert.equal(bindings.list('c.example').length, 0);
});

test('remove and removeAll', () => {
  const { bindings } = temp.store;
  bindings.upsert(binding({ contactUri: 'sip:a@h' }));
  bindings.upsert(binding({ contactUri: 'sip:b@h' }));
  bindings.upsert(binding({ number: '101', contactUri: 'sip:c@h' }));
  bindings.remove('a.example', '100', 'sip:a@h');
  assert.deepEqual(bindings.list('a.example', '100').map((b) => b.contactUri), ['sip:b@h']);
  bindings.removeAll('a.example', '100');
  assert.deepEqual(bindings.list().map((b) => b.contactUri), ['sip:c@h']);
});

test('removeExpired deletes bindings with expiresAt <= now and counts them', () => {
  const { bindings } = temp.store;
  bindings.upsert(binding({ contactUri: 'sip:past@h', expiresAt: 100 }));
  bindings.upsert(binding({ contactUri: 'sip:now@h', expiresAt: 200 }));
  bindings.upsert(binding({ contactUri: 'sip:future@h', expiresAt: 201 }));
  assert.equal(bindings.removeExpired(200), 2);
  assert.deepEqual(bindings.list().map((b) => b.contactUri), ['sip:future@h']);
  assert.equal(bindings.removeExpired(200), 0);
});

test('bindings survive a restart', () => {
  const b = binding({});
  temp.store.bindings.upsert(b);
  assert.deepEqual(temp.reopen().bindings.list(), [b]);
});
