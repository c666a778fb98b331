import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, type Binding } from '../../src/store/types.js';
import { UnknownDomainError } from '../../src/store/errors.js';
import { openTempStore, type TempStore } from './temp-store.js';

let temp: TempStore;
beforeEach(() => { temp = openTempStore(); });
afterEach(() => temp.cleanup());

function binding(number: string, contactUri: string): Binding {
  return {
    domain: 'a.example', number, contact: `<${contactUri}>`, contactUri, q: 1, expiresAt: Date.now() + 60_000,
    callId: 'cid', cseq: 1, transport: 'UDP', sourceAddress: '192.0.2.1', sourcePort: 5060, userAgent: 'ua', registeredAt: Date.now(),
  };
}

test('domains: create, get (case-insensitive), list, delete', () => {
  const { domains } = temp.store;
  const b = domains.create('B.example');
  domains.create('a.example');
  assert.deepEqual(b, { id: b.id, name: 'b.example', isDefault: false });
  assert.deepEqual(domains.get('B.EXAMPLE'), b);
  assert.deepEqual(domains.list().map((d) => d.name), ['a.example', 'b.example']);
  assert.throws(() => domains.create('b.example'), ConflictError);
  assert.equal(domains.delete('b.example'), true);
  assert.equal(domains.delete('b.example'), false);
  assert.equal(domains.get('b.example'), undefined);
});

test('domains: ensureDefault creates or marks, and keeps exactly one default', () => {
  const { domains } = temp.store;
  domains.create('a.example');
  assert.equal(domains.ensureDefault('b.example').isDefault, true);
  assert.equal(domains.ensureDefault('a.example').isDefault, true);
  assert.deepEqual(domains.list().map((d) => [d.name, d.isDefault]), [['a.example', true], ['b.example', false]]);
  assert.equal(domains.ensureDefault('b.example').isDefault, true);
  assert.deepEqual(domains.list().filter((d) => d.isDefault).map((d) => d.name), ['b.example']);
  const again = domains.ensureDefault('b.example');
  assert.equal(domains.list().length, 2);
  assert.equal(again.isDefault, true);
});

test('domains: a domain with extensions cannot be deleted', () => {
  const { domains, extensions } = temp.store;
  domains.create('a.example');
  extensions.create({ domain: 'a.example', number: '100', ha1Md5: 'm', ha1Sha256: 's' });
  assert.throws(() => domains.delete('a.example'), (err: Error) => err instanceof ConflictError && /still has extensions/.test(err.message));
  assert.ok(domains.get('a.example'));
});

test('extensions: create fills defaults and timestamps', () => {
  temp.store.domains.create('a.example');
  const before = Date.now();
  const ext = temp.store.extensions.create({ domain: 'A.Example', number: '100', ha1Md5: 'm', ha1Sha256: 's' });
  assert.equal(ext.domain, 'a.example');
  assert.equal(ext.displayName, '');
  assert.deepEqual(ext.settings, {});
  assert.equal(ext.directMedia, false);
  assert.ok(ext.createdAt >= before && ext.updatedAt === ext.createdAt);
  assert.deepEqual(temp.store.extensions.get(ext.id), ext);
  assert.deepEqual(temp.store.extensions.find('a.example', '100'), ext);
  assert.equal(temp.store.extensions.find('a.example', '101'), undefined);
  assert.equal(temp.store.extensions.get(ext.id + 1000), undefined);
});

test('extensions: duplicate (domain, number) throws ConflictError; same number in another domain is fine', () => {
  const { domains, extensions } = temp.store;
  domains.create('a.example');
  domains.create('b.example');
  extensions.create({ domain: 'a.example', number: '100', ha1Md5: 'm', ha1Sha256: 's' });
  assert.throws(() => extensions.create({ domain: 'a.example', number: '100', ha1Md5: 'x', ha1Sha256: 'y' }),
    (err: Error) => err instanceof ConflictError && err.message === 'extension 100@a.example already exists');
  extensions.create({ domain: 'b.example', number: '100', ha1Md5: 'm', ha1Sha256: 's' });
  assert.equal(extensions.list().length, 2);
});

test('extensions: an unknown domain is refused', () => {
  assert.throws(() => temp.store.extensions.create({ domain: 'nowhere.example', number: '1', ha1Md5: 'm', ha1Sha256: 's' }),
    (err: Error) => err instanceof UnknownDomainError && err.message === 'domain nowhere.example does not exist');
});

test('extensions: list by domain, ordered by number', () => {
  const { domains, extensions } = temp.store;
  domains.create('a.example');
  domains.create('b.example');
  for (const n of ['102', '100', '101']) extensions.create({ domain: 'a.example', number: n, ha1Md5: 'm', ha1Sha256: 's' });
  extensions.create({ domain: 'b.example', number: '100', ha1Md5: 'm', ha1Sha256: 's' });
  assert.deepEqual(extensions.list('a.example').map((e) => e.number), ['100', '101', '102']);
  assert.deepEqual(extensions.list().map((e) => `${e.number}@${e.domain}`), ['100@a.example', '101@a.example', '102@a.example', '100@b.example']);
});

test('extensions: update changes only the given fields', () => {
  temp.store.domains.create('a.example');
  const ext = temp.store.extensions.create({ domain: 'a.example', number: '100', displayName: 'Old', ha1Md5: 'm', ha1Sha256: 's', settings: { dnd: false } });
  const updated = temp.store.extensions.update(ext.id, { displayName: 'New', settings: { dnd: true, forward: '200' } });
  assert.equal(updated?.displayName, 'New');
  assert.equal(updated?.ha1Md5, 'm');
  assert.deepEqual(updated?.settings, { dnd: true, forward: '200' });
  assert.ok(updated!.updatedAt >= ext.updatedAt);
  const rehashed = temp.store.extensions.update(ext.id, { ha1Md5: 'm2', ha1Sha256: 's2' });
  assert.deepEqual([rehashed?.displayName, rehashed?.ha1Md5, rehashed?.ha1Sha256], ['New', 'm2', 's2']);
  assert.equal(temp.store.extensions.update(ext.id + 1000, { displayName: 'x' }), undefined);
});

test('extensions: directMedia is stored on create and changed only by a patch that names it', () => {
  temp.store.domains.create('a.example');
  const direct = temp.store.extensions.create({ domain: 'a.example', number: '100', ha1Md5: 'm', ha1Sha256: 's', directMedia: true });
  const relayed = temp.store.extensions.create({ domain: 'a.example', number: '101', ha1Md5: 'm', ha1Sha256: 's', directMedia: false });
  assert.equal(direct.directMedia, true);
  assert.equal(relayed.directMedia, false);
  assert.equal(temp.store.extensions.find('a.example', '100')?.directMedia, true);

  assert.equal(temp.store.extensions.update(direct.id, { displayName: 'Desk' })?.directMedia, true);
  const switchedOff = temp.store.extensions.update(direct.id, { directMedia: false });
  assert.deepEqual([switchedOff?.directMedia, switchedOff?.displayName], [false, 'Desk']);
  assert.equal(temp.store.extensions.update(relayed.id, { directMedia: true })?.directMedia, true);
  assert.deepEqual(temp.store.extensions.list('a.example').map((e) => [e.number, e.directMedia]), [['100', false], ['101', true]]);
  assert.equal(temp.reopen().extensions.get(relayed.id)?.directMedia, true);
});

test('extensions: delete removes its bindings and no others', () => {
  const { domains, extensions, bindings } = temp.store;
  domains.create('a.example');
  const e100 = extensions.create({ domain: 'a.example', number: '100', ha1Md5: 'm', ha1Sha256: 's' });
  extensions.create({ domain: 'a.example', number: '101', ha1Md5: 'm', ha1Sha256: 's' });
  bindings.upsert(binding('100', 'sip:100@192.0.2.1'));
  bindings.upsert(binding('100', 'sip:100@192.0.2.2'));
  bindings.upsert(binding('101', 'sip:101@192.0.2.3'));
  assert.equal(extensions.delete(e100.id), true);
  assert.equal(extensions.delete(e100.id), false);
  assert.equal(extensions.get(e100.id), undefined);
  assert.deepEqual(bindings.list().map((b) => b.number), ['101']);
});

test('extensions: find keeps what it read, frozen, and every write or transaction shows through', () => {
  const { domains, extensions } = temp.store;
  domains.create('a.example');
  const ext = extensions.create({ domain: 'a.example', number: '100', displayName: 'Old', ha1Md5: 'm', ha1Sha256: 's', settings: { dnd: false } });
  const found = extensions.find('A.Example', '100');
  assert.equal(extensions.find('a.example', '100'), found, 'the second find is the same object');
  assert.ok(Object.isFrozen(found) && Object.isFrozen(found!.settings), 'no caller can change what the others get');

  extensions.update(ext.id, { displayName: 'New' });
  assert.equal(extensions.find('a.example', '100')?.displayName, 'New');
  assert.throws(() => temp.store.transaction(() => {
    extensions.update(ext.id, { displayName: 'Rolled back' });
    assert.equal(extensions.find('a.example', '100')?.displayName, 'Rolled back');
    throw new Error('abort');
  }), /abort/);
  assert.equal(extensions.find('a.example', '100')?.displayName, 'New', 'a rolled-back change is not kept');
  extensions.delete(ext.id);
  assert.equal(extensions.find('a.example', '100'), undefined);
  extensions.create({ domain: 'a.example', number: '100', ha1Md5: 'm2', ha1Sha256: 's2' });
  assert.equal(extensions.find('a.example', '100')?.ha1Md5, 'm2');
});

test('extensions: find keeps at most 4096, the oldest going first, and still finds every one', () => {
  const { domains, extensions } = temp.store;
  domains.create('a.example');
  temp.store.transaction(() => {
    for (let n = 0; n < 4100; n++) extensions.create({ domain: 'a.example', number: String(10000 + n), ha1Md5: 'm', ha1Sha256: 's' });
  });
  const first = extensions.find('a.example', '10000');
  for (let n = 1; n < 4100; n++) assert.equal(extensions.find('a.example', String(10000 + n))?.number, String(10000 + n));
  const again = extensions.find('a.example', '10000');
  assert.notEqual(again, first, 'the first was read again after 4099 others pushed it out');
  assert.deepEqual(again, first);
});
