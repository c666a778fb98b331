// lua/services/extension.lua in a real Lua worker: it takes the call settings the host hands it with the
// call (args.settings), and asks for them only when they are not there (a script overriding it may rely
// on either).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { HostValue } from '../../src/services/engine/protocol.js';
import { repoRoot } from '../support/repo-root.js';
import { LuaWorkerHarness } from './lua-worker-harness.js';

const SOURCE = readFileSync(path.join(repoRoot, 'lua', 'services', 'extension.lua'), 'utf8');
const HOST = ['extension.settings', 'extension.is_busy', 'call.forwarding', 'call.route', 'call.reject', 'call.dial'];

const settings = (changes: Record<string, HostValue>): HostValue => ({
  number: '201',
  dnd: false,
  forward: { always: null, busy: null, noAnswer: null, unreachable: null },
  forwardToVoicemail: { busy: true, noAnswer: true, unreachable: true },
  callWaiting: true,
  ringSeconds: null,
  restrictionLevel: 9,
  pickupGroups: [],
  voicemail: false,
  ...changes,
});

test('with its settings in args it asks the host for nothing before acting on them', async (t) => {
  const harness = await LuaWorkerHarness.loaded(SOURCE, { host: HOST });
  t.after(() => harness.close());

  const { requests } = await harness.run('dnd', { extension: '201', settings: settings({ dnd: true }) });
  assert.deepEqual(requests.map((r) => [r.name, r.args]), [['call.reject', [486, 'Busy Here']]]);

  const dialled = await harness.run('ring', { extension: '201', settings: settings({ ringSeconds: 25 }) }, () => ({ status: 'answered', answered_by: '201' }));
  assert.deepEqual(dialled.requests.map((r) => [r.name, r.args]), [['call.dial', ['201', { timeout: 25 }]]]);
  assert.equal(dialled.end.type, 'finished');
});

test('without settings in args it reads them with extension.settings, and 404s an unknown extension', async (t) => {
  const harness = await LuaWorkerHarness.loaded(SOURCE, { host: HOST });
  t.after(() => harness.close());
  const answers: Record<string, HostValue> = { 'extension.settings': settings({ forward: { always: '300' } }) };
  const { requests } = await harness.run('asks', { extension: '201' }, (request) => answers[request.name] ?? null);
  assert.deepEqual(requests.map((r) => [r.name, r.args]), [['extension.settings', ['201']], ['call.forwarding', []], ['call.route', ['300']]]);

  const unknown = await harness.run('unknown', { extension: '299', settings: null }, () => null);
  assert.deepEqual(unknown.requests.map((r) => [r.name, r.args]), [['extension.settings', ['299']], ['call.reject', [404, 'Not Found']]]);
});
