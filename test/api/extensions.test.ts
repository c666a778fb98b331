import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { computeHa1 } from '../../src/auth/ha1.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
before(async () => {
  fixture = await createApiFixture();
  fixture.store.domains.create('other.example');
});
after(() => fixture.close());

function request(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  return fixture.app.inject({ method, url, payload, headers: { authorization: fixture.adminAuth } });
}

function assertNoSecrets(body: string): void {
  assert.doesNotMatch(body, /password|ha1/i);
}

test('create returns the extension without secrets, in the default domain, with correct HA1s stored', async () => {
  const response = await request('POST', '/api/v1/extensions', { number: '201', password: 'secret-201', displayName: 'Reception' });
  assert.equal(response.statusCode, 201);
  assertNoSecrets(response.body);
  const created = response.json();
  assert.equal(created.number, '201');
  assert.equal(created.domain, 'example.com');
  assert.equal(created.displayName, 'Reception');
  assert.deepEqual(created.settings, {});
  assert.equal(created.directMedia, false);
  assert.ok(Number.isInteger(created.id));

  const stored = fixture.store.extensions.get(created.id);
  assert.equal(stored?.directMedia, false);
  assert.equal(stored?.ha1Md5, computeHa1('MD5', '201', 'example.com', 'secret-201'));
  assert.equal(stored?.ha1Sha256, computeHa1('SHA-256', '201', 'example.com', 'secret-201'));
});

test('create in another domain keeps settings and uses that domain as realm', async () => {
  const response = await request('POST', '/api/v1/extensions', {
    number: 'alice.smith', password: 'pa55word', domain: 'Other.Example', settings: { dnd: true },
  });
  assert.equal(response.statusCode, 201);
  const created = response.json();
  assert.equal(created.domain, 'other.example');
  assert.deepEqual(created.settings, { dnd: true });
  assert.equal(fixture.store.extensions.get(created.id)?.ha1Md5, computeHa1('MD5', 'alice.smith', 'other.example', 'pa55word'));
});

test('invalid bodies are 400 naming the field', async () => {
  const cases: [object, string][] = [
    [{ password: 'secret-1' }, 'number: is required'],
    [{ number: '202' }, 'password: is required'],
    [{ number: 'bad number!', password: 'secret-1' }, 'number: must be 1-32 characters of digits, letters, . _ - +'],
    [{ number: '1'.repeat(33), password: 'secret-1' }, 'number: must be 1-32 characters of digits, letters, . _ - +'],
    [{ number: '202', password: '12345' }, 'password: must be 6-128 characters'],
    [{ number: '202', password: 'secret-1', settings: 'loud' }, 'settings: must be object'],
    [{ number: '202', password: 'secret-1', directMedia: 'yes' }, 'directMedia: must be boolean'],
    [{ number: '202', password: 'secret-1', colour: 'blue' }, 'colour: is not a known field'],
    [{ number: '202', password: 'secret-1', domain: 'nowhere.example' }, 'domain: no such domain "nowhere.example"'],
  ];
  for (const [payload, error] of cases) {
    const response = await request('POST', '/api/v1/extensions', payload);
    assert.equal(response.statusCode, 400, JSON.stringify(payload));
    assert.deepEqual(response.json(), { error });
  }
});

test('a body that is not JSON is a 400 with a JSON error', async () => {
  const response = await fixture.app.inject({
    method: 'POST', url: '/api/v1/extensions', headers: { authorization: fixture.adminAuth, 'content-type': 'application/json' }, payload: '{"number":',
  });
  assert.equal(response.statusCode, 400);
  assert.equal(typeof response.json().error, 'string');
  assert.doesNotMatch(response.body, /\bat .*\.js:\d+/, 'no stack trace');
});

test('a duplicate number in the same domain is 409', async () => {
  await request('POST', '/api/v1/extensions', { number: '300', password: 'secret-300' });
  const response = await request('POST', '/api/v1/extensions', { number: '300', password: 'another-one' });
  assert.equal(response.statusCode, 409);
  assert.deepEqual(response.json(), { error: 'extension 300@example.com already exists' });
});

test('list, filter by domain, and get one', async () => {
  const all = await request('GET', '/api/v1/extensions');
  assert.equal(all.statusCode, 200);
  assertNoSecrets(all.body);
  const numbers = all.json().map((e: { number: string }) => e.number);
  assert.ok(numbers.includes('201') && numbers.includes('alice.smith'));

  const other = await request('GET', '/api/v1/extensions?domain=other.example');
  assert.deepEqual(other.json().map((e: { number: string }) => e.number), ['alice.smith']);

  const id = all.json().find((e: { number: string }) => e.number === '201').id;
  const one = await request('GET', `/api/v1/extensions/${id}`);
  assert.equal(one.statusCode, 200);
  assert.equal(one.json().number, '201');
  assertNoSecrets(one.body);
});

test('unknown or malformed ids', async () => {
  const missing = await request('GET', '/api/v1/extensions/999999');
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json(), { error: 'no extension with id 999999' });
  assert.equal((await request('PATCH', '/api/v1/extensions/999999', { displayName: 'x' })).statusCode, 404);
  assert.equal((await request('DELETE', '/api/v1/extensions/999999')).statusCode, 404);
  const malformed = await request('GET', '/api/v1/extensions/abc');
  assert.equal(malformed.statusCode, 400);
  assert.equal(malformed.json().error, 'id: must be integer');
});

test('patch changes only what is given, and a new password recomputes both HA1s', async () => {
  const created = (await request('POST', '/api/v1/extensions', { number: '400', password: 'first-pass', displayName: 'Sales', settings: { a: 1 } })).json();
  const renamed = await request('PATCH', `/api/v1/extensions/${created.id}`, { displayName: 'Sales desk' });
  assert.equal(renamed.statusCode, 200);
  assert.equal(renamed.json().displayName, 'Sales desk');
  assert.deepEqual(renamed.json().settings, { a: 1 });
  assert.equal(fixture.store.extensions.get(created.id)?.ha1Md5, computeHa1('MD5', '400', 'example.com', 'first-pass'));

  const repassed = await request('PATCH', `/api/v1/extensions/${created.id}`, { password: 'second-pass', settings: { b: 2 } });
  assert.equal(repassed.statusCode, 200);
  assertNoSecrets(repassed.body);
  assert.equal(repassed.json().displayName, 'Sales desk');
  assert.deepEqual(repassed.json().settings, { b: 2 });
  const stored = fixture.store.extensions.get(created.id);
  assert.equal(stored?.ha1Md5, computeHa1('MD5', '400', 'example.com', 'second-pass'));
  assert.equal(stored?.ha1Sha256, computeHa1('SHA-256', '400', 'example.com', 'second-pass'));

  const invalid = await request('PATCH', `/api/v1/extensions/${created.id}`, { number: '401' });
  assert.equal(invalid.statusCode, 400);
  assert.equal(invalid.json().error, 'number: is not a known field');
});

test('directMedia is set on create, shown everywhere, and changed only by a patch that names it', async () => {
  const created = await request('POST', '/api/v1/extensions', { number: '450', password: 'secret-450', directMedia: true });
  assert.equal(created.statusCode, 201);
  const { id } = created.json();
  assert.equal(created.json().directMedia, true);
  assert.equal(fixture.store.extensions.get(id)?.directMedia, true);
  assert.equal((await request('GET', `/api/v1/extensions/${id}`)).json().directMedia, true);
  const listed = (await request('GET', '/api/v1/extensions')).json().find((e: { id: number }) => e.id === id);
  assert.equal(listed.directMedia, true);

  const renamed = await request('PATCH', `/api/v1/extensions/${id}`, { displayName: 'Lab' });
  assert.equal(renamed.json().directMedia, true);

  const relayed = await request('PATCH', `/api/v1/extensions/${id}`, { directMedia: false });
  assert.equal(relayed.statusCode, 200);
  assert.deepEqual([relayed.json().directMedia, relayed.json().displayName], [false, 'Lab']);
  assert.equal(fixture.store.extensions.get(id)?.directMedia, false);

  const invalid = await request('PATCH', `/api/v1/extensions/${id}`, { directMedia: 'sometimes' });
  assert.equal(invalid.statusCode, 400);
  assert.deepEqual(invalid.json(), { error: 'directMedia: must be boolean' });
  assert.equal(fixture.store.extensions.get(id)?.directMedia, false);
});

test('the OpenAPI document describes directMedia in the view and both bodies, defaulting to false on create', async () => {
  const document = (await fixture.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  const schemas = {
    view: document.paths['/api/v1/extensions/{id}'].get.responses['200'].content['application/json'].schema,
    create: document.paths['/api/v1/extensions'].post.requestBody.content['application/json'].schema,
    patch: document.paths['/api/v1/extensions/{id}'].patch.requestBody.content['application/json'].schema,
  };
  for (const [name, schema] of Object.entries(schemas)) {
    const field = schema.properties.directMedia;
    assert.equal(field?.type, 'boolean', name);
    assert.match(field.description, /NAT/, name);
  }
  assert.equal(schemas.create.properties.directMedia.default, false);
  assert.ok(schemas.view.required.includes('directMedia'));
  assert.ok(!schemas.create.required.includes('directMedia'));
});

test('delete removes the extension and its bindings and tells the runtime', async () => {
  const created = (await request('POST', '/api/v1/extensions', { number: '500', password: 'secret-500' })).json();
  const now = Date.now();
  fixture.store.bindings.upsert({
    domain: 'example.com', number: '500', contact: '<sip:500@192.0.2.5:5060>', contactUri: 'sip:500@192.0.2.5:5060', q: 1,
    expiresAt: now + 60_000, callId: 'c1', cseq: 1, transport: 'UDP', sourceAddress: '192.0.2.5', sourcePort: 5060,
    userAgent: 'Phone/1.0', registeredAt: now,
  });
  const response = await request('DELETE', `/api/v1/extensions/${created.id}`);
  assert.equal(response.statusCode, 204);
  assert.equal(fixture.store.extensions.get(created.id), undefined);
  assert.deepEqual(fixture.store.bindings.list('example.com', '500'), []);
  assert.deepEqual(fixture.runtime.deletedExtensions, ['500@example.com']);
  assert.equal((await request('GET', `/api/v1/extensions/${created.id}`)).statusCode, 404);
});
