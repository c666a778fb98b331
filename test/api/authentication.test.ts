import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { basicAuth, createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
before(async () => {
  fixture = await createApiFixture();
});
after(() => fixture.close());

function assertUnauthorized(response: { statusCode: number; headers: Record<string, unknown>; json(): unknown }): void {
  assert.equal(response.statusCode, 401);
  assert.equal(response.headers['www-authenticate'], 'Basic realm="Switchboard"');
  const body = response.json() as { error: unknown };
  assert.equal(typeof body.error, 'string');
}

test('health needs no credentials', async () => {
  const response = await fixture.app.inject({ method: 'GET', url: '/api/v1/health' });
  assert.equal(response.statusCode, 200);
  const body = response.json();
  assert.equal(body.status, 'ok');
  assert.equal(body.version, '9.8.7');
  assert.ok(body.uptimeSeconds >= 42 && body.uptimeSeconds < 100);
});

test('protected routes answer 401 without credentials', async () => {
  const response = await fixture.app.inject({ method: 'GET', url: '/api/v1/extensions' });
  assertUnauthorized(response);
  assert.match(response.json().error, /authentication required/);
});

test('wrong password, wrong user, bad token and unknown scheme are all 401', async () => {
  for (const authorization of [
    basicAuth('admin', 'wrong password'),
    basicAuth('root', 'correct horse battery staple'),
    'Basic !!!not-base64',
    'Bearer sbt_not-a-real-token',
    'Digest username="admin"',
  ]) {
    assertUnauthorized(await fixture.app.inject({ method: 'GET', url: '/api/v1/extensions', headers: { authorization } }));
  }
});

test('authentication is checked before the body is validated', async () => {
  assertUnauthorized(await fixture.app.inject({ method: 'POST', url: '/api/v1/extensions', payload: { nonsense: true } }));
});

test('HTTP Basic as admin works, repeatedly', async () => {
  for (let i = 0; i < 3; i++) {
    const response = await fixture.app.inject({ method: 'GET', url: '/api/v1/extensions', headers: { authorization: fixture.adminAuth } });
    assert.equal(response.statusCode, 200);
  }
});

test('a token is shown once, works as a bearer token, is listed without its secret and can be revoked', async () => {
  const created = await fixture.app.inject({
    method: 'POST', url: '/api/v1/tokens', headers: { authorization: fixture.adminAuth }, payload: { name: 'billing export' },
  });
  assert.equal(created.statusCode, 201);
  const { id, name, token, createdAt } = created.json();
  assert.equal(name, 'billing export');
  assert.match(token, /^sbt_[A-Za-z0-9_-]{40,}$/);
  assert.ok(!Number.isNaN(Date.parse(createdAt)));

  const bearer = { authorization: `Bearer ${token}` };
  const listed = await fixture.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: bearer });
  assert.equal(listed.statusCode, 200);
  const mine = listed.json().find((t: { id: number }) => t.id === id);
  assert.equal(mine.name, 'billing export');
  assert.equal(typeof mine.lastUsedAt, 'string', 'using the token records when');
  assert.ok(!listed.body.includes(token), 'the secret is never listed');

  const revoked = await fixture.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: bearer });
  assert.equal(revoked.statusCode, 204);
  assert.equal(revoked.body, '');
  assertUnauthorized(await fixture.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: bearer }));

  const again = await fixture.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: { authorization: fixture.adminAuth } });
  assert.equal(again.statusCode, 404);
  assert.match(again.json().error, new RegExp(`no token with id ${id}`));
});

test('a token needs a name', async () => {
  const response = await fixture.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: { authorization: fixture.adminAuth }, payload: {} });
  assert.equal(response.statusCode, 400);
  assert.equal(response.json().error, 'name: is required');
});

test('unknown routes are a JSON 404', async () => {
  const response = await fixture.app.inject({ method: 'GET', url: '/api/v1/nothing-here?x=1', headers: { authorization: fixture.adminAuth } });
  assert.equal(response.statusCode, 404);
  assert.deepEqual(response.json(), { error: 'no route for GET /api/v1/nothing-here' });
});

test('ten failed logins from one address get 429 until the window ends; other addresses are not affected', async () => {
  const wrong = { authorization: basicAuth('admin', 'not-the-password') };
  for (let i = 0; i < 10; i++) {
    const response = await fixture.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: wrong, remoteAddress: '192.0.2.77' });
    assertUnauthorized(response);
  }
  const blocked = await fixture.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: { authorization: fixture.adminAuth }, remoteAddress: '192.0.2.77' });
  assert.equal(blocked.statusCode, 429);
  assert.match(blocked.json().error, /too many failed logins/);
  const elsewhere = await fixture.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: { authorization: fixture.adminAuth }, remoteAddress: '192.0.2.78' });
  assert.equal(elsewhere.statusCode, 200);
});
