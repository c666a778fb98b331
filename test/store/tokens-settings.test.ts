import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError } from '../../src/store/types.js';
import { openTempStore, type TempStore } from './temp-store.js';

let temp: TempStore;
beforeEach(() => { temp = openTempStore(); });
afterEach(() => temp.cleanup());

test('tokens: create, find by hash, touch, list, delete', () => {
  const { tokens } = temp.store;
  const ci = tokens.create('ci', 'hash-ci');
  const ops = tokens.create('ops', 'hash-ops');
  assert.equal(ci.name, 'ci');
  assert.equal(ci.lastUsedAt, null);
  assert.ok(ci.createdAt > 0);
  assert.deepEqual(tokens.findByHash('hash-ops'), ops);
  assert.equal(tokens.findByHash('nope'), undefined);
  tokens.touch(ci.id, 12345);
  assert.equal(tokens.findByHash('hash-ci')?.lastUsedAt, 12345);
  assert.deepEqual(tokens.list().map((t) => t.name), ['ci', 'ops']);
  assert.equal(tokens.delete(ci.id), true);
  assert.equal(tokens.delete(ci.id), false);
  assert.deepEqual(tokens.list().map((t) => t.name), ['ops']);
});

test('tokens: a repeated secret hash is a conflict', () => {
  temp.store.tokens.create('a', 'same');
  assert.throws(() => temp.store.tokens.create('b', 'same'), ConflictError);
});

test('tokens: the listing never includes the hash', () => {
  temp.store.tokens.create('a', 'secret-hash');
  assert.doesNotMatch(JSON.stringify(temp.store.tokens.list()), /secret-hash/);
});

test('settings: get, set, overwrite', () => {
  const { settings } = temp.store;
  assert.equal(settings.get('k'), undefined);
  settings.set('k', 'v1');
  settings.set('k', 'v2');
  settings.set('empty', '');
  assert.equal(settings.get('k'), 'v2');
  assert.equal(settings.get('empty'), '');
});
