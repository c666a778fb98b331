import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import Database from 'better-sqlite3';
import {
  callSettingsOf, conferenceRoomOf, getItem, huntGroupOf, ivrMenuOf, mailboxOf, mayDial, pickupGroupOf, requiredLevel, ringGroupOf,
} from '../../src/services/data/accessors.js';
import { hashPin, verifyPin } from '../../src/services/data/pin.js';
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

function addExtension(number: string, domain = 'a.example') {
  return temp.store.extensions.create({ domain, number, ha1Md5: 'x', ha1Sha256: 'y' });
}

test('create, get and delete one item, named by domain, kind and key', () => {
  const { serviceData } = temp.store;
  const created = serviceData.create('A.example', 'ring-groups', '600', { members: ['201', '202'], ringSeconds: 20 });
  assert.deepEqual({ ...created, createdAt: 0, updatedAt: 0 }, {
    domain: 'a.example', kind: 'ring-groups', key: '600', body: { members: ['201', '202'], ringSeconds: 20 }, createdAt: 0, updatedAt: 0,
  });
  assert.deepEqual(serviceData.get('a.example', 'ring-groups', '600'), created);
  assert.equal(serviceData.get('b.example', 'ring-groups', '600'), undefined);
  assert.equal(serviceData.get('a.example', 'hunt-groups', '600'), undefined);
  assert.equal(serviceData.delete('a.example', 'ring-groups', '600'), true);
  assert.equal(serviceData.delete('a.example', 'ring-groups', '600'), false);
  assert.equal(serviceData.get('a.example', 'ring-groups', '600'), undefined);
});

test('create refuses a duplicate and an unknown domain; the stored item is kept', () => {
  const { serviceData } = temp.store;
  serviceData.create('a.example', 'mailboxes', '201', { email: 'a@example.com' });
  assert.throws(() => serviceData.create('a.example', 'mailboxes', '201', { email: 'b@example.com' }), ConflictError);
  assert.throws(() => serviceData.create('nowhere.example', 'mailboxes', '201', {}), UnknownDomainError);
  assert.throws(() => serviceData.put('nowhere.example', 'mailboxes', '201', {}), UnknownDomainError);
  assert.deepEqual(serviceData.get('a.example', 'mailboxes', '201')?.body, { email: 'a@example.com' });
});

test('put creates, then replaces the body and keeps createdAt', () => {
  const { serviceData } = temp.store;
  const first = serviceData.put('a.example', 'call-settings', '201', { dnd: true });
  const second = serviceData.put('a.example', 'call-settings', '201', { callWaiting: false });
  assert.deepEqual(second.body, { callWaiting: false });
  assert.equal(second.createdAt, first.createdAt);
  assert.ok(second.updatedAt >= first.updatedAt);
});

test('list is per kind, ordered by domain then key, optionally for one domain', () => {
  const { serviceData } = temp.store;
  serviceData.create('b.example', 'pickup-groups', 'a', { members: [] });
  serviceData.create('a.example', 'pickup-groups', 'z', { members: [] });
  serviceData.create('a.example', 'pickup-groups', 'm', { members: [] });
  serviceData.create('a.example', 'ivr-menus', 'main', {});
  assert.deepEqual(serviceData.list(undefined, 'pickup-groups').map((i) => `${i.key}@${i.domain}`), ['m@a.example', 'z@a.example', 'a@b.example']);
  assert.deepEqual(serviceData.list('A.EXAMPLE', 'pickup-groups').map((i) => i.key), ['m', 'z']);
  assert.deepEqual(serviceData.list('a.example', 'ivr-menus').map((i) => i.key), ['main']);
  assert.deepEqual(serviceData.list('a.example', 'mailboxes'), []);
});

test('items survive reopening the database', () => {
  temp.store.serviceData.create('a.example', 'conference-rooms', '800', { name: 'Board', maxMembers: 5 });
  assert.deepEqual(temp.reopen().serviceData.get('a.example', 'conference-rooms', '800')?.body, { name: 'Board', maxMembers: 5 });
});

test('getItem returns the stored document as written; the typed accessors fill the defaults and name the key', () => {
  const { store } = temp;
  store.serviceData.create('a.example', 'ring-groups', '600', { members: ['201'], ringSeconds: 45 });
  assert.deepEqual(getItem(store, 'a.example', 'ring-groups', '600'), { members: ['201'], ringSeconds: 45 });
  assert.equal(getItem(store, 'a.example', 'ring-groups', '601'), undefined);
  assert.deepEqual(ringGroupOf(store, 'a.example', '600'), {
    number: '600', name: '', members: ['201'], ringSeconds: 45, skipBusy: true, fallback: null,
  });
  assert.equal(ringGroupOf(store, 'b.example', '600'), undefined);

  store.serviceData.create('a.example', 'hunt-groups', '610', { members: ['201', '202'], queue: { maxCallers: 3 } });
  const hunt = huntGroupOf(store, 'a.example', '610');
  assert.equal(hunt?.strategy, 'linear');
  assert.deepEqual(hunt?.queue, { maxWaitSeconds: 300, maxCallers: 3, announcePosition: true, announceEverySeconds: 60, music: null });

  store.serviceData.create('a.example', 'ivr-menus', 'main', { options: { '1': '600' } });
  const menu = ivrMenuOf(store, 'a.example', 'main');
  assert.equal(menu?.name, 'main');
  assert.equal(menu?.prompt, 'welcome-enter-extension');
  assert.equal(menu?.options['1'], '600');
  assert.equal(menu?.retries, 2);

  store.serviceData.create('a.example', 'pickup-groups', 'office', { members: ['201'] });
  assert.deepEqual(pickupGroupOf(store, 'a.example', 'office'), { name: 'office', members: ['201'], description: '' });
});

test('callSettingsOf: the defaults for an extension without settings, stored settings completed otherwise', () => {
  const { store } = temp;
  const defaults = callSettingsOf(store, 'a.example', '201');
  assert.equal(defaults.dnd, false);
  assert.deepEqual(defaults.forward, { always: null, busy: null, noAnswer: null, unreachable: null });
  assert.deepEqual(defaults.forwardToVoicemail, { busy: true, noAnswer: true, unreachable: true });
  assert.equal(defaults.callWaiting, true);
  assert.equal(defaults.ringSeconds, null);
  assert.equal(defaults.restrictionLevel, 9);
  assert.deepEqual(defaults.pickupGroups, []);
  assert.equal(defaults.voicemail, false);

  store.serviceData.put('a.example', 'call-settings', '201', { dnd: true, forward: { busy: '300' } });
  const stored = callSettingsOf(store, 'a.example', '201');
  assert.equal(stored.dnd, true);
  assert.deepEqual(stored.forward, { always: null, busy: '300', noAnswer: null, unreachable: null });
  assert.equal(stored.callWaiting, true);
  assert.equal(callSettingsOf(store, 'b.example', '201').dnd, false);
});

test('mailboxOf: the stored mailbox, else the defaults for an extension with voicemail on, else undefined', async () => {
  const { store } = temp;
  const pinHash = await hashPin('4321');
  store.serviceData.create('a.example', 'mailboxes', 'sales', { pinHash, email: 'sales@example.com' });
  const sales = mailboxOf(store, 'a.example', 'sales');
  assert.equal(sales?.email, 'sales@example.com');
  assert.equal(sales?.maxMessages, 100);
  assert.equal(await verifyPin(sales!.pinHash!, '4321'), true);

  addExtension('201');
  assert.equal(mailboxOf(store, 'a.example', '201'), undefined, 'voicemail is off by default');
  store.serviceData.put('a.example', 'call-settings', '201', { voicemail: true });
  assert.deepEqual(mailboxOf(store, 'a.example', '201'), {
    number: '201', pinHash: null, email: null, attachAudio: true, greeting: 'default', maxMessages: 100, maxMessageSeconds: 180, deleteAfterEmail: false,
  });
  store.serviceData.put('a.example', 'call-settings', '201', { voicemail: false });
  assert.equal(mailboxOf(store, 'a.example', '201'), undefined);
  assert.equal(mailboxOf(store, 'a.example', '299'), undefined, 'no extension, no mailbox');
});

test('conferenceRoomOf shows pinHash null for a room without PIN', () => {
  temp.store.serviceData.create('a.example', 'conference-rooms', '800', { name: 'Board' });
  const room = conferenceRoomOf(temp.store, 'a.example', '800');
  assert.equal(room?.pinHash, null);
  assert.equal(room?.maxMembers, 20);
  assert.equal(room?.announceJoinLeave, true);
});

test('requiredLevel: the longest matching prefix decides; mayDial compares with the caller\'s restriction level', () => {
  const { store } = temp;
  store.serviceData.create('a.example', 'call-restrictions', '0', { level: 3 });
  store.serviceData.create('a.example', 'call-restrictions', '00', { level: 7 });
  store.serviceData.create('a.example', 'call-restrictions', '0800', { level: 0 });
  store.serviceData.create('b.example', 'call-restrictions', '1', { level: 9 });
  assert.equal(requiredLevel(store, 'a.example', '0049301234'), 7);
  assert.equal(requiredLevel(store, 'a.example', '0301234'), 3);
  assert.equal(requiredLevel(store, 'a.example', '08001234'), 0);
  assert.equal(requiredLevel(store, 'a.example', '1234'), 0);
  assert.equal(requiredLevel(store, 'b.example', '1234'), 9);

  store.serviceData.put('a.example', 'call-settings', '201', { restrictionLevel: 5 });
  assert.equal(mayDial(store, 'a.example', '201', '0301234'), true);
  assert.equal(mayDial(store, 'a.example', '201', '0049301234'), false);
  assert.equal(mayDial(store, 'a.example', '202', '0049301234'), true, 'the default level 9 dials everything');
});

test('PINs: hashed with a fresh salt, verified only by the right PIN, and only 4-12 digits are accepted', async () => {
  const first = await hashPin('1234');
  const second = await hashPin('1234');
  assert.notEqual(first, second);
  assert.doesNotMatch(first, /1234/);
  assert.equal(await verifyPin(first, '1234'), true);
  assert.equal(await verifyPin(second, '1234'), true);
  assert.equal(await verifyPin(first, '1235'), false);
  assert.equal(await verifyPin(first, ''), false);
  assert.equal(await verifyPin('not a hash', '1234'), false);
  assert.equal(await verifyPin('scrypt$0$8$1$c2FsdA==$a2V5', '1234'), false);
  await assert.rejects(hashPin('123'), RangeError);
  await assert.rejects(hashPin('1234567890123'), RangeError);
  await assert.rejects(hashPin('12a4'), RangeError);
  assert.equal(await verifyPin(await hashPin('123456789012'), '123456789012'), true);
});

test('get keeps what it read, an absent item too, and every write or transaction of the store shows through', () => {
  const { serviceData } = temp.store;
  assert.equal(serviceData.get('a.example', 'call-settings', '201'), undefined);
  serviceData.put('a.example', 'call-settings', '201', { dnd: true });
  assert.deepEqual(serviceData.get('A.example', 'call-settings', '201')?.body, { dnd: true }, 'the absence read before is not kept past a write');

  const behindTheStore = new Database(temp.file);
  behindTheStore.prepare("UPDATE service_data SET body = '{\"dnd\":false}'").run();
  behindTheStore.close();
  assert.deepEqual(serviceData.get('a.example', 'call-settings', '201')?.body, { dnd: true }, 'the second read is the kept one, not a query');

  const read = serviceData.get('a.example', 'call-settings', '201')!;
  read.body.dnd = 'changed by a caller';
  assert.deepEqual(serviceData.get('a.example', 'call-settings', '201')?.body, { dnd: true }, 'each caller gets a body of its own');

  assert.throws(() => temp.store.transaction(() => {
    serviceData.put('a.example', 'call-settings', '201', { dnd: 'rolled back' });
    assert.deepEqual(serviceData.get('a.example', 'call-settings', '201')?.body, { dnd: 'rolled back' });
    throw new Error('abort');
  }), /abort/);
  assert.deepEqual(serviceData.get('a.example', 'call-settings', '201')?.body, { dnd: false }, 'a rolled-back write is not kept');
  serviceData.delete('a.example', 'call-settings', '201');
  assert.equal(serviceData.get('a.example', 'call-settings', '201'), undefined);
});
