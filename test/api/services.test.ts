import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServiceStatus } from '../../src/services/engine/service-status.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
before(async () => {
  fixture = await createApiFixture();
});
after(() => fixture.close());

const LOADED_AT = Date.UTC(2024, 4, 1, 8, 0, 0);
const FAILED_AT = Date.UTC(2024, 4, 1, 9, 30, 15, 250);

const ivr: ServiceStatus = {
  name: 'ivr', origin: 'builtin', file: '/opt/switchboard/lua/services/ivr.lua', version: '0123456789ab', loadedAt: LOADED_AT,
  state: 'running', activeCalls: 3, restarts: 0, memoryBytes: 524288, lastFailure: null, loadError: null,
};
const custom: ServiceStatus = {
  name: 'night-mode', origin: 'data-dir', file: '/var/lib/switchboard/lua/services/night-mode.lua', version: 'ba9876543210', loadedAt: LOADED_AT,
  state: 'restarting', activeCalls: 0, restarts: 2, memoryBytes: 0,
  lastFailure: { at: FAILED_AT, kind: 'unresponsive', message: 'no answer to the watchdog within 1200 ms' },
  loadError: 'night-mode.lua:12: unexpected symbol near \'end\'',
};

function get(url: string) {
  return fixture.app.inject({ method: 'GET', url, headers: { authorization: fixture.adminAuth } });
}

test('GET /services lists what the engine reports, times as ISO 8601', async () => {
  fixture.runtime.serviceStatuses = [ivr, custom];
  const response = await get('/api/v1/services');
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), [
    { ...ivr, loadedAt: '2024-05-01T08:00:00.000Z' },
    { ...custom, loadedAt: '2024-05-01T08:00:00.000Z', lastFailure: { ...custom.lastFailure, at: '2024-05-01T09:30:15.250Z' } },
  ]);
});

test('GET /services is empty when the engine knows no service', async () => {
  fixture.runtime.serviceStatuses = [];
  assert.deepEqual((await get('/api/v1/services')).json(), []);
});

test('GET /services/{name} returns one service, 404 naming an unknown one', async () => {
  fixture.runtime.serviceStatuses = [ivr, custom];
  const one = await get('/api/v1/services/night-mode');
  assert.equal(one.statusCode, 200);
  assert.equal(one.json().state, 'restarting');
  assert.equal(one.json().lastFailure.kind, 'unresponsive');
  const missing = await get('/api/v1/services/nosuch');
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json(), { error: 'no service named nosuch' });
});

test('the services need authentication', async () => {
  const response = await fixture.app.inject({ method: 'GET', url: '/api/v1/services' });
  assert.equal(response.statusCode, 401);
});
