import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, DEFAULT_DOMAIN, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;

before(async () => {
  fixture = await createApiFixture();
});
after(() => fixture.close());

function call(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) {
  return fixture.app.inject({ method, url, payload: payload as object, headers: { authorization: fixture.adminAuth } });
}

test('adds, lists and deletes a domain, telling the SIP side each time', async () => {
  const created = await call('POST', '/api/v1/domains', { name: 'Branch.Example' });
  assert.equal(created.statusCode, 201);
  assert.deepEqual(created.json(), { name: 'branch.example', isDefault: false });
  assert.equal(fixture.runtime.domainChanges, 1);

  const list = (await call('GET', '/api/v1/domains')).json() as { name: string; isDefault: boolean }[];
  assert.deepEqual(list.map((d) => d.name).sort(), ['branch.example', DEFAULT_DOMAIN].sort());
  assert.equal(list.find((d) => d.name === DEFAULT_DOMAIN)?.isDefault, true);

  assert.equal((await call('DELETE', '/api/v1/domains/branch.example')).statusCode, 204);
  assert.equal(fixture.runtime.domainChanges, 2);
  assert.equal((await call('DELETE', '/api/v1/domains/branch.example')).statusCode, 404);
});

test('refuses a duplicate, a bad name, the default domain and a domain that still has extensions', async () => {
  await call('POST', '/api/v1/domains', { name: 'sales.example' });
  assert.equal((await call('POST', '/api/v1/domains', { name: 'sales.example' })).statusCode, 409);

  const bad = await call('POST', '/api/v1/domains', { name: 'no spaces allowed' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().error, /name/);

  assert.equal((await call('DELETE', `/api/v1/domains/${DEFAULT_DOMAIN}`)).statusCode, 409);

  const ext = await call('POST', '/api/v1/extensions', { number: '100', password: 'secret-100', domain: 'sales.example' });
  assert.equal(ext.statusCode, 201);
  const refused = await call('DELETE', '/api/v1/domains/sales.example');
  assert.equal(refused.statusCode, 409);
  assert.match(refused.json().error, /extensions/);
});
