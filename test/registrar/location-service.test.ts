import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocationService } from '../../src/registrar/location-service.js';
import type { Binding } from '../../src/store/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { openTempStore } from '../store/temp-store.js';
import { MemoryBindingRepository } from './memory-bindings.js';

const START = 1_700_000_000_000;

function binding(contactUri: string, expiresAt: number, extra: Partial<Binding> = {}): Binding {
  return {
    domain: 'example.com', number: '100', contact: `<${contactUri}>`, contactUri, q: 1, expiresAt,
    callId: 'c', cseq: 1, transport: 'UDP', sourceAddress: '192.0.2.1', sourcePort: 5060, userAgent: '', registeredAt: START,
    ...extra,
  };
}

test('bindings disappear from memory and the repository when they expire', () => {
  const clock = new FakeClock(START);
  const repo = new MemoryBindingRepository();
  const location = new LocationService(repo, clock);
  location.load();
  location.update([], [binding('sip:a@192.0.2.1', START + 60_000), binding('sip:b@192.0.2.2', START + 120_000)]);
  clock.advance(59_999);
  assert.equal(location.count(), 2);
  clock.advance(1);
  assert.deepEqual(location.lookup('example.com', '100').map((b) => b.contactUri), ['sip:b@192.0.2.2']);
  assert.deepEqual(repo.list().map((b) => b.contactUri), ['sip:b@192.0.2.2']);
  clock.advance(60_000);
  assert.equal(location.count(), 0);
  assert.equal(repo.list().length, 0);
  assert.equal(clock.pending(), 0);
});

test('a refreshed binding outlives its first expiry', () => {
  const clock = new FakeClock(START);
  const repo = new MemoryBindingRepository();
  const location = new LocationService(repo, clock);
  location.update([], [binding('sip:a@192.0.2.1', START + 60_000)]);
  clock.advance(30_000);
  location.update([], [binding('sip:a@192.0.2.1', START + 90_000)]);
  clock.advance(31_000);
  assert.equal(location.count(), 1);
  assert.equal(repo.list().length, 1);
  clock.advance(30_000);
  assert.equal(location.count(), 0);
  assert.equal(repo.list().length, 0);
});

test('sweeps run at most once a second', () => {
  const clock = new FakeClock(START);
  const location = new LocationService(new MemoryBindingRepository(), clock);
  location.update([], [binding('sip:a@192.0.2.1', START + 1000)]);
  clock.advance(1000);
  location.update([], [binding('sip:b@192.0.2.2', START + 1001)]);
  clock.advance(1);
  assert.equal(location.lookup('example.com', '100').length, 0, 'lookup hides it already');
  assert.equal(location.all().length, 0);
  clock.advance(998);
  assert.equal(clock.pending(), 1);
  clock.advance(1);
  assert.equal(clock.pending(), 0);
});

test('load drops expired bindings and keeps the rest', () => {
  const clock = new FakeClock(START);
  const repo = new MemoryBindingRepository();
  repo.upsert(binding('sip:old@192.0.2.1', START - 1));
  repo.upsert(binding('sip:now@192.0.2.2', START));
  repo.upsert(binding('sip:live@192.0.2.3', START + 5000, { q: 0.2 }));
  repo.upsert(binding('sip:best@192.0.2.4', START + 5000, { number: '200' }));
  const location = new LocationService(repo, clock);
  location.load();
  assert.deepEqual(location.all().map((b) => b.contactUri).sort(), ['sip:best@192.0.2.4', 'sip:live@192.0.2.3']);
  assert.equal(repo.list().length, 2);
  clock.advance(5000);
  assert.equal(location.count(), 0);
  assert.equal(repo.list().length, 0);
});

test('removeAll clears one address of record; close cancels the sweep timer', () => {
  const clock = new FakeClock(START);
  const repo = new MemoryBindingRepository();
  const location = new LocationService(repo, clock);
  location.update([], [binding('sip:a@192.0.2.1', START + 60_000), binding('sip:b@192.0.2.2', START + 60_000, { number: '200' })]);
  location.removeAll('example.com', '100');
  assert.deepEqual(location.all().map((b) => b.number), ['200']);
  assert.deepEqual(repo.list().map((b) => b.number), ['200']);
  assert.equal(clock.pending(), 1);
  location.close();
  assert.equal(clock.pending(), 0);
});

test('bindings survive a restart with the SQLite store', () => {
  const temp = openTempStore();
  try {
    const clock = new FakeClock(START);
    const first = new LocationService(temp.store.bindings, clock);
    first.load();
    first.update([], [
      binding('sip:a@192.0.2.1;transport=tcp', START + 60_000, { contact: '"A" <sip:a@192.0.2.1;transport=tcp>;+sip.instance="<urn:uuid:x>"', q: 0.5 }),
      binding('sip:b@192.0.2.2', START + 10_000),
    ]);
    first.close();
    clock.advance(20_000);
    const second = new LocationService(temp.reopen().bindings, clock);
    second.load();
    const [only, ...rest] = second.all();
    assert.deepEqual(rest, []);
    assert.equal(only.contact, '"A" <sip:a@192.0.2.1;transport=tcp>;+sip.instance="<urn:uuid:x>"');
    assert.equal(only.q, 0.5);
    assert.equal(temp.store.bindings.list().length, 1);
    second.close();
  } finally {
    temp.cleanup();
  }
});
