// callSettingsOf keeps the settings with their defaults filled in, by the stored document: whoever
// writes the settings, the next read sees the write, and what one read returns cannot change another's.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { callSettingsOf } from '../../src/services/data/accessors.js';
import { openTempStore, type TempStore } from '../store/temp-store.js';

let temp: TempStore;

beforeEach(() => {
  temp = openTempStore();
  temp.store.domains.create('example.com');
});

afterEach(() => temp.cleanup());

test('every write shows in the next read, also a write back to settings read before', () => {
  const { store } = temp;
  const put = (body: Record<string, unknown>) => store.serviceData.put('example.com', 'call-settings', '201', body);
  assert.equal(callSettingsOf(store, 'example.com', '201').dnd, false);
  put({ dnd: true });
  assert.equal(callSettingsOf(store, 'example.com', '201').dnd, true);
  put({ dnd: true, forward: { busy: '300' } });
  assert.deepEqual(callSettingsOf(store, 'example.com', '201').forward, { always: null, busy: '300', noAnswer: null, unreachable: null });
  put({ dnd: true });
  assert.deepEqual(callSettingsOf(store, 'example.com', '201').forward, { always: null, busy: null, noAnswer: null, unreachable: null });
  store.serviceData.delete('example.com', 'call-settings', '201');
  assert.equal(callSettingsOf(store, 'example.com', '201').dnd, false);
});

test('extensions with the same settings each get their own number; the shared parts cannot be changed', () => {
  const { store } = temp;
  const first = callSettingsOf(store, 'example.com', '201');
  const second = callSettingsOf(store, 'example.com', '202');
  const numberOf = (settings: object) => (settings as { number?: string }).number;
  assert.equal(numberOf(first), '201');
  assert.equal(numberOf(second), '202');
  first.dnd = true;
  assert.equal(callSettingsOf(store, 'example.com', '201').dnd, false, 'a change to one read is not seen by the next');
  assert.throws(() => {
    (first.forward as { busy: string | null }).busy = '999';
  }, TypeError);
  assert.throws(() => first.pickupGroups.push('office'), TypeError);
  assert.equal(callSettingsOf(store, 'example.com', '203').forward.busy, null);
});
