import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServiceStatus } from '../../src/services/engine/service-status.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
before(async () => {
  fixture = await createApiFixture();
  fixture.store.domains.create('other.example');
  fixture.runtime.serviceStatuses = ['ivr', 'voicemail', 'ring-group'].map(serviceStatus);
});
after(() => fixture.close());

function serviceStatus(name: string): ServiceStatus {
  return {
    name, origin: 'builtin', file: `lua/services/${name}.lua`, version: 'abcdef012345', loadedAt: Date.now(), state: 'running',
    activeCalls: 0, restarts: 0, memoryBytes: 0, lastFailure: null, loadError: null,
  };
}

function request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) {
  return fixture.app.inject({ method, url, payload, headers: { authorization: fixture.adminAuth } });
}

test('create answers 201 with the stored item, in the default domain, args {} and fallback null unless given', async () => {
  const response = await request('POST', '/api/v1/service-numbers', { number: '7001', service: 'ivr' });
  assert.equal(response.statusCode, 201);
  const created = response.json();
  assert.deepEqual({ ...created, id: 0, createdAt: '', updatedAt: '' }, {
    id: 0, domain: 'example.com', number: '7001', service: 'ivr', args: {}, fallback: null, createdAt: '', updatedAt: '',
  });
  assert.match(created.createdAt, /^\d{4}-\d\d-\d\dT/);
  assert.equal(fixture.store.serviceNumbers.find('example.com', '7001')?.id, created.id);

  const full = await request('POST', '/api/v1/service-numbers', {
    number: '7002', service: 'ring-group', args: { group: '600', nested: { a: [1, 'b'] } }, fallback: '200', domain: 'Other.Example',
  });
  assert.equal(full.statusCode, 201);
  assert.deepEqual([full.json().domain, full.json().args, full.json().fallback], ['other.example', { group: '600', nested: { a: [1, 'b'] } }, '200']);
});

test('feature codes with * and # work in bodies and, percent-encoded, in paths', async () => {
  assert.equal((await request('POST', '/api/v1/service-numbers', { number: '*97', service: 'voicemail' })).statusCode, 201);
  assert.equal((await request('POST', '/api/v1/service-numbers', { number: '#8', service: 'voicemail' })).statusCode, 201);
  assert.equal((await request('GET', '/api/v1/service-numbers/*97')).json().number, '*97');
  assert.equal((await request('GET', '/api/v1/service-numbers/%2A97')).json().number, '*97');
  assert.equal((await request('GET', '/api/v1/service-numbers/%238')).json().number, '#8');
  assert.equal((await request('DELETE', '/api/v1/service-numbers/%238')).statusCode, 204);
  assert.equal(fixture.store.serviceNumbers.find('example.com', '#8'), undefined);
});

test('invalid bodies are 400 naming the field, and nothing is stored', async () => {
  const bigArgs = { text: 'x'.repeat(16 * 1024) };
  const cases: [object, string][] = [
    [{ service: 'ivr' }, 'number: is required'],
    [{ number: '7100' }, 'service: is required'],
    [{ number: '71 00', service: 'ivr' }, 'number: must be 1-32 characters of digits, letters, * # . _ - + (the number callers dial)'],
    [{ number: '7100', service: 'nosuch' }, 'service: no service named "nosuch"'],
    [{ number: '7100', service: 'IVR!' }, 'service: must be 1-64 characters of lower-case letters, digits, _ - (the service lua/services/<name>.lua)'],
    [{ number: '7100', service: 'ivr', args: 'menu' }, 'args: must be object'],
    [{ number: '7100', service: 'ivr', args: bigArgs }, 'args: must be a JSON object of at most 16 KB'],
    [{ number: '7100', service: 'ivr', fallback: 'not a number' }, 'fallback: must be 1-32 characters of digits, letters, * # . _ - +'],
    [{ number: '7100', service: 'ivr', colour: 'blue' }, 'colour: is not a known field'],
    [{ number: '7100', service: 'ivr', domain: 'nowhere.example' }, 'domain: no such domain "nowhere.example"'],
  ];
  for (const [payload, error] of cases) {
    const response = await request('POST', '/api/v1/service-numbers', payload);
    assert.equal(response.statusCode, 400, JSON.stringify(payload).slice(0, 80));
    assert.deepEqual(response.json(), { error });
  }
  assert.equal(fixture.store.serviceNumbers.find('example.com', '7100'), undefined);
});

test('a duplicate is 409 and keeps the stored service', async () => {
  await request('POST', '/api/v1/service-numbers', { number: '7200', service: 'ivr' });
  const response = await request('POST', '/api/v1/service-numbers', { number: '7200', service: 'voicemail' });
  assert.equal(response.statusCode, 409);
  assert.deepEqual(response.json(), { error: 'service number 7200@example.com already exists' });
  assert.equal(fixture.store.serviceNumbers.find('example.com', '7200')?.service, 'ivr');
});

test('a service number and an extension cannot share a number in a domain', async () => {
  assert.equal((await request('POST', '/api/v1/extensions', { number: '7300', password: 'secret-7300' })).statusCode, 201);
  const taken = await request('POST', '/api/v1/service-numbers', { number: '7300', service: 'ivr' });
  assert.equal(taken.statusCode, 409);
  assert.deepEqual(taken.json(), { error: '7300@example.com is an extension' });
  assert.equal((await request('POST', '/api/v1/service-numbers', { number: '7300', service: 'ivr', domain: 'other.example' })).statusCode, 201);

  await request('POST', '/api/v1/service-numbers', { number: '7301', service: 'voicemail' });
  const extension = await request('POST', '/api/v1/extensions', { number: '7301', password: 'secret-7301' });
  assert.equal(extension.statusCode, 409);
  assert.deepEqual(extension.json(), { error: '7301@example.com is a service number (service voicemail)' });
  assert.equal(fixture.store.extensions.find('example.com', '7301'), undefined);
});

test('list all or one domain; get one by number and domain; unknown numbers are 404', async () => {
  await request('POST', '/api/v1/service-numbers', { number: '7400', service: 'ivr', domain: 'other.example' });
  const all = (await request('GET', '/api/v1/service-numbers')).json().map((n: { number: string; domain: string }) => `${n.number}@${n.domain}`);
  assert.ok(all.includes('7001@example.com') && all.includes('7400@other.example'));
  const other = (await request('GET', '/api/v1/service-numbers?domain=other.example')).json();
  assert.ok(other.length > 0 && other.every((n: { domain: string }) => n.domain === 'other.example'));

  assert.equal((await request('GET', '/api/v1/service-numbers/7400?domain=other.example')).json().service, 'ivr');
  const missing = await request('GET', '/api/v1/service-numbers/7400');
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json(), { error: 'no service number 7400 in example.com' });
  assert.equal((await request('PUT', '/api/v1/service-numbers/7999', { service: 'ivr' })).statusCode, 404);
  assert.equal((await request('DELETE', '/api/v1/service-numbers/7999')).statusCode, 404);
});

test('PUT replaces service, args and fallback; a bad PUT changes nothing', async () => {
  await request('POST', '/api/v1/service-numbers', { number: '7500', service: 'ivr', args: { menu: 'main' }, fallback: '200' });
  const replaced = await request('PUT', '/api/v1/service-numbers/7500', { service: 'ring-group', args: { group: '600' } });
  assert.equal(replaced.statusCode, 200);
  assert.deepEqual([replaced.json().service, replaced.json().args, replaced.json().fallback], ['ring-group', { group: '600' }, null]);

  for (const payload of [{ service: 'nosuch' }, { service: 'ivr', number: '7501' }, { args: {} }]) {
    assert.equal((await request('PUT', '/api/v1/service-numbers/7500', payload)).statusCode, 400, JSON.stringify(payload));
  }
  const stored = fixture.store.serviceNumbers.find('example.com', '7500');
  assert.deepEqual([stored?.service, stored?.args], ['ring-group', { group: '600' }]);
});

test('DELETE removes the number from its domain only', async () => {
  await request('POST', '/api/v1/service-numbers', { number: '7600', service: 'ivr' });
  await request('POST', '/api/v1/service-numbers', { number: '7600', service: 'ivr', domain: 'other.example' });
  assert.equal((await request('DELETE', '/api/v1/service-numbers/7600')).statusCode, 204);
  assert.equal(fixture.store.serviceNumbers.find('example.com', '7600'), undefined);
  assert.equal(fixture.store.serviceNumbers.find('other.example', '7600')?.service, 'ivr');
  assert.equal((await request('DELETE', '/api/v1/service-numbers/7600?domain=other.example')).statusCode, 204);
});
