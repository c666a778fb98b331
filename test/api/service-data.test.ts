import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { callSettingsOf, mailboxOf } from '../../src/services/data/accessors.js';
import { DATA_KINDS } from '../../src/services/data/kinds.js';
import { verifyPin } from '../../src/services/data/pin.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
before(async () => {
  fixture = await createApiFixture();
  fixture.store.domains.create('other.example');
  for (const number of ['201', '202', '203']) {
    const created = await request('POST', '/api/v1/extensions', { number, password: `secret-${number}` });
    assert.equal(created.statusCode, 201);
  }
  await request('POST', '/api/v1/extensions', { number: '201', password: 'secret-201', domain: 'other.example' });
});
after(() => fixture.close());

function request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  return fixture.app.inject({ method, url, payload, headers: { authorization: fixture.adminAuth } });
}

async function expectError(method: 'POST' | 'PUT' | 'PATCH', url: string, payload: object, error: string) {
  const response = await request(method, url, payload);
  assert.equal(response.statusCode, 400, `${method} ${url} ${JSON.stringify(payload)}: ${response.body}`);
  assert.deepEqual(response.json(), { error });
}

const stored = (kind: string, key: string, domain = 'example.com') => fixture.store.serviceData.get(domain, kind, key)?.body;

test('the OpenAPI document has the routes of every kind and describes every field', async () => {
  const response = await fixture.app.inject({ method: 'GET', url: '/api/docs/json' });
  assert.equal(response.statusCode, 200);
  const document = response.json();
  const methods = (path: string) => Object.keys(document.paths[path] ?? {}).sort();
  for (const kind of DATA_KINDS) {
    const fields = Object.keys(kind.fields.properties);
    const readable = fields.map((field) => (kind.secrets.includes(field) ? `${field}Set` : field));
    if (kind.scope === 'domain') {
      const collection = `/api/v1${kind.path}`;
      const item = `${collection}/{${kind.key}}`;
      assert.deepEqual(methods(collection), ['get', 'post'], collection);
      assert.deepEqual(methods(item), ['delete', 'get', 'patch', 'put'], item);
      const create = document.paths[collection].post.requestBody.content['application/json'].schema;
      assert.deepEqual(Object.keys(create.properties).sort(), [kind.key, 'domain', ...fields].sort(), `${kind.kind} create body`);
      const view = document.paths[item].get.responses['200'].content['application/json'].schema;
      assert.deepEqual(Object.keys(view.properties).sort(), ['domain', kind.key, ...readable].sort(), `${kind.kind} view`);
      const patch = document.paths[item].patch.requestBody.content['application/json'].schema;
      assert.deepEqual(Object.keys(patch.properties).sort(), [...fields].sort(), `${kind.kind} patch body`);
      assert.equal(patch.required, undefined, 'nothing is required in a patch');
      for (const [field, schema] of Object.entries(create.properties as Record<string, { description?: string }>)) {
        assert.ok(schema.description, `${kind.kind}.${field} has a description`);
      }
    } else {
      const path = `/api/v1${kind.path.replace(`:${kind.key}`, `{${kind.key}}`)}`;
      assert.deepEqual(methods(path), ['get', 'patch', 'put'], path);
      const replace = document.paths[path].put.requestBody.content['application/json'].schema;
      assert.deepEqual(Object.keys(replace.properties).sort(), [...fields].sort());
      for (const [field, schema] of Object.entries(replace.properties as Record<string, { description?: string }>)) {
        assert.ok(schema.description, `${kind.kind}.${field} has a description`);
      }
    }
  }
  const forward = document.paths['/api/v1/extensions/{number}/call-settings'].put.requestBody.content['application/json'].schema.properties.forward;
  assert.deepEqual(Object.keys(forward.properties).sort(), ['always', 'busy', 'noAnswer', 'unreachable']);
  const queue = document.paths['/api/v1/hunt-groups'].post.requestBody.content['application/json'].schema.properties.queue;
  assert.deepEqual(Object.keys(queue.properties).sort(), ['announceEverySeconds', 'announcePosition', 'maxCallers', 'maxWaitSeconds', 'music']);
});

test('ring groups: create fills the defaults, and the item reads back the same', async () => {
  const created = await request('POST', '/api/v1/ring-groups', { number: '600', name: 'Sales', members: ['201', '202'] });
  assert.equal(created.statusCode, 201);
  const expected = { domain: 'example.com', number: '600', name: 'Sales', members: ['201', '202'], ringSeconds: 30, skipBusy: true, fallback: null };
  assert.deepEqual(created.json(), expected);
  assert.deepEqual((await request('GET', '/api/v1/ring-groups/600')).json(), expected);
  assert.deepEqual(stored('ring-groups', '600'), { name: 'Sales', members: ['201', '202'], ringSeconds: 30, skipBusy: true, fallback: null });
});

test('ring groups: invalid bodies are 400 naming the field, and nothing is stored', async () => {
  const url = '/api/v1/ring-groups';
  await expectError('POST', url, { number: '601' }, 'members: is required');
  await expectError('POST', url, { members: ['201'] }, 'number: is required');
  await expectError('POST', url, { number: '601', members: [] }, 'members: must NOT have fewer than 1 items');
  await expectError('POST', url, { number: '601', members: ['201', 'bad one'] }, 'members.1: must be an extension number, 1-32 characters of digits, letters, . _ - +');
  await expectError('POST', url, { number: '601', members: ['201', '299'] }, 'members: no extension 299 in example.com');
  await expectError('POST', url, { number: '601', members: ['201'], ringSeconds: 2 }, 'ringSeconds: must be >= 5');
  await expectError('POST', url, { number: '601', members: ['201'], ringSeconds: 301 }, 'ringSeconds: must be <= 300');
  await expectError('POST', url, { number: '601', members: ['201'], fallback: 'x y' }, 'fallback: must be 1-32 characters of digits, letters, * # . _ - +');
  await expectError('POST', url, { number: '601', members: ['201'], loud: true }, 'loud: is not a known field');
  await expectError('POST', url, { number: '601', members: ['201'], domain: 'nowhere.example' }, 'domain: no such domain "nowhere.example"');
  const tooMany = Array.from({ length: 65 }, (_, i) => `${300 + i}`);
  await expectError('POST', url, { number: '601', members: tooMany }, 'members: must NOT have more than 64 items');
  assert.equal(stored('ring-groups', '601'), undefined);
});

test('a duplicate is 409 and keeps what is stored; the same key in another domain is another item', async () => {
  await request('POST', '/api/v1/ring-groups', { number: '610', members: ['201'] });
  const duplicate = await request('POST', '/api/v1/ring-groups', { number: '610', members: ['202'] });
  assert.equal(duplicate.statusCode, 409);
  assert.deepEqual(duplicate.json(), { error: 'ring group 610@example.com already exists' });
  assert.deepEqual(stored('ring-groups', '610')?.members, ['201']);

  const other = await request('POST', '/api/v1/ring-groups', { number: '610', members: ['201'], domain: 'other.example' });
  assert.equal(other.statusCode, 201);
  assert.equal(other.json().domain, 'other.example');
  const listed = (await request('GET', '/api/v1/ring-groups?domain=other.example')).json();
  assert.deepEqual(listed.map((item: { number: string }) => item.number), ['610']);
  const all = (await request('GET', '/api/v1/ring-groups')).json();
  assert.ok(all.some((item: { domain: string }) => item.domain === 'example.com') && all.some((item: { domain: string }) => item.domain === 'other.example'));
  assert.equal((await request('GET', '/api/v1/ring-groups/610?domain=other.example')).json().domain, 'other.example');
});

test('PATCH changes only the fields given; PUT replaces all, the left out fields taking their defaults', async () => {
  await request('POST', '/api/v1/ring-groups', { number: '620', name: 'Support', members: ['201'], ringSeconds: 60, skipBusy: false, fallback: '200' });
  const patched = await request('PATCH', '/api/v1/ring-groups/620', { members: ['202', '203'] });
  assert.equal(patched.statusCode, 200);
  assert.deepEqual(patched.json(), { domain: 'example.com', number: '620', name: 'Support', members: ['202', '203'], ringSeconds: 60, skipBusy: false, fallback: '200' });

  const replaced = await request('PUT', '/api/v1/ring-groups/620', { members: ['201'] });
  assert.equal(replaced.statusCode, 200);
  assert.deepEqual(replaced.json(), { domain: 'example.com', number: '620', name: '', members: ['201'], ringSeconds: 30, skipBusy: true, fallback: null });
  assert.deepEqual((await request('GET', '/api/v1/ring-groups/620')).json(), replaced.json());
});

test('a bad PUT or PATCH changes nothing', async () => {
  await request('POST', '/api/v1/ring-groups', { number: '630', name: 'Kept', members: ['201'], ringSeconds: 40 });
  const before = stored('ring-groups', '630');
  await expectError('PUT', '/api/v1/ring-groups/630', { name: 'Lost' }, 'members: is required');
  await expectError('PUT', '/api/v1/ring-groups/630', { members: ['201'], number: '631' }, 'number: is not a known field');
  await expectError('PATCH', '/api/v1/ring-groups/630', { members: ['299'] }, 'members: no extension 299 in example.com');
  await expectError('PATCH', '/api/v1/ring-groups/630', { ringSeconds: 'long' }, 'ringSeconds: must be integer');
  assert.deepEqual(stored('ring-groups', '630'), before);
});

test('unknown items are 404 naming the item and domain; DELETE removes one item', async () => {
  const missing = await request('GET', '/api/v1/ring-groups/699');
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json(), { error: 'no ring group 699 in example.com' });
  assert.equal((await request('PUT', '/api/v1/ring-groups/699', { members: ['201'] })).statusCode, 404);
  assert.equal((await request('PATCH', '/api/v1/ring-groups/699', { name: 'x' })).statusCode, 404);
  assert.equal((await request('DELETE', '/api/v1/ring-groups/699')).statusCode, 404);
  assert.equal(stored('ring-groups', '699'), undefined, 'PUT does not create');

  await request('POST', '/api/v1/ring-groups', { number: '640', members: ['201'] });
  assert.equal((await request('DELETE', '/api/v1/ring-groups/640')).statusCode, 204);
  assert.equal((await request('GET', '/api/v1/ring-groups/640')).statusCode, 404);
});

test('hunt groups: the queue is filled with defaults, and given fields are checked', async () => {
  const created = await request('POST', '/api/v1/hunt-groups', { number: '650', members: ['203', '201'], queue: { maxCallers: 5, music: 'jazz' } });
  assert.equal(created.statusCode, 201);
  assert.deepEqual(created.json(), {
    domain: 'example.com', number: '650', name: '', members: ['203', '201'], strategy: 'linear', memberRingSeconds: 15,
    queue: { maxWaitSeconds: 300, maxCallers: 5, announcePosition: true, announceEverySeconds: 60, music: 'jazz' }, fallback: null,
  });
  await expectError('POST', '/api/v1/hunt-groups', { number: '651', members: ['201'], strategy: 'random' }, 'strategy: must be one of linear, circular');
  await expectError('POST', '/api/v1/hunt-groups', { number: '651', members: ['201'], queue: { maxWaitSeconds: 4000 } }, 'queue.maxWaitSeconds: must be <= 3600');
  await expectError('POST', '/api/v1/hunt-groups', { number: '651', members: ['201'], queue: { music: 'Loud Music' } },
    'queue.music: must be a sound name in kebab-case, at most 64 characters (played while waiting)');
  const patched = await request('PATCH', '/api/v1/hunt-groups/650', { queue: { announcePosition: false } });
  assert.deepEqual(patched.json().queue, { maxWaitSeconds: 300, maxCallers: 10, announcePosition: false, announceEverySeconds: 60, music: null },
    'a nested object given in a patch replaces the whole field');
});

test('IVR menus: named by name, options only for the keys of a phone', async () => {
  const created = await request('POST', '/api/v1/ivr-menus', { name: 'main', options: { '1': '600', '0': '201', '*': '*97', '#': '650' } });
  assert.equal(created.statusCode, 201);
  assert.deepEqual(created.json(), {
    domain: 'example.com', name: 'main', prompt: 'welcome-enter-extension', options: { '1': '600', '0': '201', '*': '*97', '#': '650' },
    dialByExtension: true, digitTimeoutSeconds: 3, timeoutSeconds: 10, retries: 2, invalidPrompt: 'invalid-entry', timeoutDestination: null, fallback: null,
  });
  await expectError('POST', '/api/v1/ivr-menus', { name: 'night', options: { '10': '600' } }, 'options.10: is not a known field');
  await expectError('POST', '/api/v1/ivr-menus', { name: 'night', prompt: '../../etc/passwd' },
    'prompt: must be a sound name in kebab-case, at most 64 characters (played when the menu starts and after each retry)');
  await expectError('POST', '/api/v1/ivr-menus', { name: 'night', retries: 11 }, 'retries: must be <= 10');
  await expectError('POST', '/api/v1/ivr-menus', { name: 'bad name' }, 'name: must be 1-64 characters of digits, letters, . _ - (the menu\'s name, given to the ivr service in its args)');
  assert.equal((await request('GET', '/api/v1/ivr-menus/main')).json().options['#'], '650');
});

test('mailboxes: the PIN is stored hashed, never returned, kept when left out and removed with null', async () => {
  const created = await request('POST', '/api/v1/mailboxes', { number: '201', pin: '4711', email: 'alice@example.com' });
  assert.equal(created.statusCode, 201);
  assert.equal(created.json().pinSet, true);
  assert.doesNotMatch(created.body, /4711|pinHash|scrypt|"pin"/);
  const hash = stored('mailboxes', '201')?.pinHash as string;
  assert.match(hash, /^scrypt\$/);
  assert.equal(await verifyPin(hash, '4711'), true);

  const listed = await request('GET', '/api/v1/mailboxes');
  assert.doesNotMatch(listed.body, /4711|pinHash|scrypt|"pin"/);

  const replaced = await request('PUT', '/api/v1/mailboxes/201', { email: 'a@example.com', maxMessages: 20 });
  assert.equal(replaced.json().pinSet, true);
  assert.equal(stored('mailboxes', '201')?.pinHash, hash, 'a PUT without pin keeps it');

  const changed = await request('PATCH', '/api/v1/mailboxes/201', { pin: '123456' });
  assert.equal(changed.json().pinSet, true);
  assert.equal(changed.json().maxMessages, 20);
  assert.equal(await verifyPin(stored('mailboxes', '201')?.pinHash as string, '123456'), true);

  const removed = await request('PATCH', '/api/v1/mailboxes/201', { pin: null });
  assert.equal(removed.json().pinSet, false);
  assert.equal(stored('mailboxes', '201')?.pinHash, null);
  assert.equal(mailboxOf(fixture.store, 'example.com', '201')?.email, 'a@example.com');

  const withoutPin = await request('POST', '/api/v1/mailboxes', { number: 'sales' });
  assert.equal(withoutPin.json().pinSet, false);
  await expectError('POST', '/api/v1/mailboxes', { number: '202', pin: '123' }, 'pin: must be 4-12 digits');
  await expectError('POST', '/api/v1/mailboxes', { number: '202', pin: '1234567890123' }, 'pin: must be 4-12 digits');
  await expectError('POST', '/api/v1/mailboxes', { number: '202', email: 'not-an-address' }, 'email: must be an e-mail address');
  await expectError('POST', '/api/v1/mailboxes', { number: '202', greeting: 'loud' }, 'greeting: must be one of default, recorded');
  assert.equal(stored('mailboxes', '202'), undefined);
});

test('conference rooms: optional PIN, member limits', async () => {
  const open = await request('POST', '/api/v1/conference-rooms', { number: '800', name: 'Open room' });
  assert.deepEqual(open.json(), { domain: 'example.com', number: '800', name: 'Open room', pinSet: false, maxMembers: 20, announceJoinLeave: true });
  const closed = await request('POST', '/api/v1/conference-rooms', { number: '801', pin: '9999', maxMembers: 2 });
  assert.equal(closed.json().pinSet, true);
  assert.equal(await verifyPin(stored('conference-rooms', '801')?.pinHash as string, '9999'), true);
  await expectError('POST', '/api/v1/conference-rooms', { number: '802', maxMembers: 1 }, 'maxMembers: must be >= 2');
  await expectError('POST', '/api/v1/conference-rooms', { number: '802', maxMembers: 51 }, 'maxMembers: must be <= 50');
});

test('call restrictions: named by prefix, the level is required and 0-9', async () => {
  const created = await request('POST', '/api/v1/call-restrictions', { prefix: '+49', level: 4, description: 'Germany' });
  assert.equal(created.statusCode, 201);
  assert.deepEqual(created.json(), { domain: 'example.com', prefix: '+49', level: 4, description: 'Germany' });
  assert.equal((await request('GET', '/api/v1/call-restrictions/%2B49')).json().level, 4);
  await request('POST', '/api/v1/call-restrictions', { prefix: '*', level: 1 });
  assert.equal((await request('PATCH', '/api/v1/call-restrictions/*', { level: 2 })).json().level, 2);
  await expectError('POST', '/api/v1/call-restrictions', { prefix: '00' }, 'level: is required');
  await expectError('POST', '/api/v1/call-restrictions', { prefix: '00', level: 10 }, 'level: must be <= 9');
  await expectError('POST', '/api/v1/call-restrictions', { prefix: '0a', level: 1 }, 'prefix: must be 1-32 digits, * # + (the start of the numbers restricted)');
});

test('call settings: the defaults until the first write, 404 for an unknown extension', async () => {
  const defaults = await request('GET', '/api/v1/extensions/202/call-settings');
  assert.equal(defaults.statusCode, 200);
  assert.deepEqual(defaults.json(), {
    domain: 'example.com', number: '202', dnd: false,
    forward: { always: null, busy: null, noAnswer: null, unreachable: null },
    forwardToVoicemail: { busy: true, noAnswer: true, unreachable: true },
    callWaiting: true, ringSeconds: null, restrictionLevel: 9, pickupGroups: [], voicemail: false,
  });
  assert.equal(stored('call-settings', '202'), undefined, 'reading does not create');

  const unknown = await request('GET', '/api/v1/extensions/299/call-settings');
  assert.equal(unknown.statusCode, 404);
  assert.deepEqual(unknown.json(), { error: 'no extension 299 in example.com' });
  assert.equal((await request('PUT', '/api/v1/extensions/299/call-settings', {})).statusCode, 404);
  assert.equal((await request('PATCH', '/api/v1/extensions/299/call-settings', { dnd: true })).statusCode, 404);
  assert.equal(stored('call-settings', '299'), undefined);
  assert.equal((await request('GET', '/api/v1/extensions/201/call-settings?domain=other.example')).json().domain, 'other.example');
});

test('call settings: PUT creates, PATCH merges, and the services read what was written', async () => {
  const put = await request('PUT', '/api/v1/extensions/203/call-settings', { dnd: true, forward: { noAnswer: '201' }, ringSeconds: 25 });
  assert.equal(put.statusCode, 200);
  assert.deepEqual(put.json().forward, { always: null, busy: null, noAnswer: '201', unreachable: null });
  assert.equal(put.json().ringSeconds, 25);

  const patched = await request('PATCH', '/api/v1/extensions/203/call-settings', { dnd: false, restrictionLevel: 3 });
  assert.deepEqual([patched.json().dnd, patched.json().restrictionLevel, patched.json().ringSeconds, patched.json().forward.noAnswer], [false, 3, 25, '201']);

  const settings = callSettingsOf(fixture.store, 'example.com', '203');
  assert.equal(settings.restrictionLevel, 3);
  assert.equal(settings.forward.noAnswer, '201');
  assert.equal(settings.ringSeconds, 25);

  await expectError('PATCH', '/api/v1/extensions/203/call-settings', { ringSeconds: 4 }, 'ringSeconds: must be >= 5');
  await expectError('PATCH', '/api/v1/extensions/203/call-settings', { restrictionLevel: -1 }, 'restrictionLevel: must be >= 0');
  await expectError('PATCH', '/api/v1/extensions/203/call-settings', { forward: { sometimes: '201' } }, 'forward.sometimes: is not a known field');
  await expectError('PUT', '/api/v1/extensions/203/call-settings', { pickupGroups: ['office'] }, 'pickupGroups: no pickup group office in example.com');
  assert.equal(callSettingsOf(fixture.store, 'example.com', '203').restrictionLevel, 3, 'a bad write changes nothing');
});

test('pickup groups: members must be extensions; call settings may then name the group', async () => {
  await expectError('POST', '/api/v1/pickup-groups', { name: 'office', members: ['201', '298'] }, 'members: no extension 298 in example.com');
  const created = await request('POST', '/api/v1/pickup-groups', { name: 'office', members: ['201', '202'] });
  assert.deepEqual(created.json(), { domain: 'example.com', name: 'office', members: ['201', '202'], description: '' });
  const settings = await request('PATCH', '/api/v1/extensions/203/call-settings', { pickupGroups: ['office'] });
  assert.equal(settings.statusCode, 200);
  assert.deepEqual(settings.json().pickupGroups, ['office']);
});

test('deleting an extension deletes its call settings; a new extension with the number starts from the defaults', async () => {
  const created = await request('POST', '/api/v1/extensions', { number: '250', password: 'secret-250' });
  await request('PUT', '/api/v1/extensions/250/call-settings', { dnd: true });
  await request('PUT', '/api/v1/extensions/201/call-settings', { dnd: true });
  assert.equal((await request('DELETE', `/api/v1/extensions/${created.json().id}`)).statusCode, 204);
  assert.equal(stored('call-settings', '250'), undefined);
  assert.equal(stored('call-settings', '201')?.dnd, true, 'other extensions keep theirs');
  await request('POST', '/api/v1/extensions', { number: '250', password: 'secret-250' });
  assert.equal((await request('GET', '/api/v1/extensions/250/call-settings')).json().dnd, false);
});
