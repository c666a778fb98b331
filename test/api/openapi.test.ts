import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
before(async () => {
  fixture = await createApiFixture();
});
after(() => fixture.close());

test('openapi.json is public, OpenAPI 3 and lists every path with its methods', async () => {
  const response = await fixture.app.inject({ method: 'GET', url: '/api/openapi.json' });
  assert.equal(response.statusCode, 200);
  const document = response.json();
  assert.match(document.openapi, /^3\./);
  assert.equal(document.info.title, 'Switchboard API');
  assert.equal(document.info.version, '9.8.7');
  const methods = (path: string) => Object.keys(document.paths[path] ?? {}).sort();
  assert.deepEqual(methods('/api/v1/health'), ['get']);
  assert.deepEqual(methods('/api/v1/tokens'), ['get', 'post']);
  assert.deepEqual(methods('/api/v1/tokens/{id}'), ['delete']);
  assert.deepEqual(methods('/api/v1/extensions'), ['get', 'post']);
  assert.deepEqual(methods('/api/v1/extensions/{id}'), ['delete', 'get', 'patch']);
  assert.deepEqual(methods('/api/v1/registrations'), ['get']);
  assert.deepEqual(methods('/api/v1/calls'), ['get']);
  assert.deepEqual(methods('/api/v1/calls/{id}'), ['delete']);
  assert.deepEqual(methods('/api/v1/call-records'), ['get']);
  assert.deepEqual(methods('/api/v1/call-records.csv'), ['get']);
  assert.equal(document.paths['/api/openapi.json'], undefined, 'the document does not describe itself');
});

test('the document declares both authentication schemes, exempts health and documents 401 elsewhere', async () => {
  const document = (await fixture.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  assert.deepEqual(Object.keys(document.components.securitySchemes).sort(), ['basicAuth', 'bearerAuth']);
  assert.deepEqual(document.security, [{ basicAuth: [] }, { bearerAuth: [] }]);
  assert.deepEqual(document.paths['/api/v1/health'].get.security, []);
  const create = document.paths['/api/v1/extensions'].post;
  assert.ok(create.responses['401'], 'protected operations document 401');
  assert.ok(create.responses['409']);
  assert.deepEqual(create.requestBody.content['application/json'].schema.required.sort(), ['number', 'password']);
});
