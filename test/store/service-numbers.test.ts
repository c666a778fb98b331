import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { UnknownDomainError } from '../../src/store/errors.js';
import { ConflictError } from '../../src/store/types.js';
import { openTempStore, type TempStore } from './temp-store.js';

let temp: TempStore;
beforeEach(() => {
  temp = openTempStore();
  temp.store.domains.create('a.example');
  temp.store.domains.create('b.example');
});
afterEach(() => temp.cleanup());

test('create stores number, service, args and fallback, and find returns the same', () => {
  const { serviceNumbers } = temp.store;
  const created = serviceNumbers.create({ domain: 'A.Example', number: '*97', service: 'voicemail', args: { mode: 'check', depth: [1, 2] }, fallback: '200' });
  assert.equal(created.domain, 'a.example');
  assert.equal(created.number, '*97');
  assert.equal(created.service, 'voicemail');
  assert.deepEqual(created.args, { mode: 'check', depth: [1, 2] });
  assert.equal(created.fallback, '200');
  assert.ok(Number.isInteger(created.id));
  assert.equal(created.createdAt, created.updatedAt);
  assert.deepEqual(serviceNumbers.find('a.EXAMPLE', '*97'), created);
  assert.equal(serviceNumbers.find('b.example', '*97'), undefined);
  assert.equal(serviceNumbers.find('a.example', '97'), undefined);
});

test('args default to {} and fallback to null', () => {
  const created = temp.store.serviceNumbers.create({ domain: 'a.example', number: '7001', service: 'ivr' });
  assert.deepEqual(created.args, {});
  assert.equal(created.fallback, null);
});

test('a number is unique per domain, not across domains; an unknown domain is refused', () => {
  const { serviceNumbers } = temp.store;
  serviceNumbers.create({ domain: 'a.example', number: '7001', service: 'ivr' });
  assert.throws(() => serviceNumbers.create({ domain: 'a.example', number: '7001', service: 'echo' }), ConflictError);
  assert.equal(serviceNumbers.create({ domain: 'b.example', number: '7001', service: 'echo' }).service, 'echo');
  assert.throws(() => serviceNumbers.create({ domain: 'nowhere.example', number: '7002', service: 'ivr' }), UnknownDomainError);
  assert.equal(serviceNumbers.find('a.example', '7001')?.service, 'ivr');
});

test('list is ordered by domain and number, and filters by domain', () => {
  const { serviceNumbers } = temp.store;
  serviceNumbers.create({ domain: 'b.example', number: '1', service: 'x' });
  serviceNumbers.create({ domain: 'a.example', number: '9', service: 'x' });
  serviceNumbers.create({ domain: 'a.example', number: '*8', service: 'x' });
  assert.deepEqual(serviceNumbers.list().map((n) => `${n.number}@${n.domain}`), ['*8@a.example', '9@a.example', '1@b.example']);
  assert.deepEqual(serviceNumbers.list('B.example').map((n) => n.number), ['1']);
  assert.deepEqual(serviceNumbers.list('nowhere.example'), []);
});

test('replace sets service, args and fallback and keeps the id and createdAt; unknown numbers are undefined', () => {
  const { serviceNumbers } = temp.store;
  const created = serviceNumbers.create({ domain: 'a.example', number: '7001', service: 'ivr', args: { menu: 'main' }, fallback: '200' });
  const replaced = serviceNumbers.replace('A.example', '7001', { service: 'ring-group', args: {}, fallback: null });
  assert.deepEqual(replaced && { ...replaced, updatedAt: 0 }, { ...created, service: 'ring-group', args: {}, fallback: null, updatedAt: 0 });
  assert.ok(replaced!.updatedAt >= created.createdAt);
  assert.equal(serviceNumbers.replace('a.example', '7002', { service: 'ivr', args: {}, fallback: null }), undefined);
  assert.equal(serviceNumbers.replace('b.example', '7001', { service: 'ivr', args: {}, fallback: null }), undefined);
});

test('delete removes only the number named, and says whether it existed', () => {
  const { serviceNumbers } = temp.store;
  serviceNumbers.create({ domain: 'a.example', number: '7001', service: 'ivr' });
  serviceNumbers.create({ domain: 'b.example', number: '7001', service: 'ivr' });
  assert.equal(serviceNumbers.delete('a.example', '7001'), true);
  assert.equal(serviceNumbers.delete('a.example', '7001'), false);
  assert.equal(serviceNumbers.find('a.example', '7001'), undefined);
  assert.equal(serviceNumbers.find('b.example', '7001')?.service, 'ivr');
});

test('service numbers survive reopening the database', () => {
  temp.store.serviceNumbers.create({ domain: 'a.example', number: '#1', service: 'conference', args: { room: '#1' } });
  const reopened = temp.reopen();
  assert.deepEqual(reopened.serviceNumbers.find('a.example', '#1')?.args, { room: '#1' });
});
