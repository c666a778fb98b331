// Services that fail, seen from SIP (docs/decisions/0007-lua-service-engine.md): scripts in
// <data-dir>/lua/services that loop inside C, raise, allocate without bound, loop in Lua or try to
// leave the sandbox. Their calls go to the number's fallback (a registered SIPp phone) or get 500,
// while other services keep answering at their usual speed. Also hot reload of an edited script, and
// the guard against services that route to each other.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { callService, callTimes, type CallTimes } from '../support/service-caller.js';
import { explainSipp, serverProblems, until } from '../support/sip-test-helpers.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippHandle, type SippResult, type SippUser } from '../support/sipp.js';

const HOST = '127.0.0.1';
const WATCHDOG_MS = 600;
const EVENT_BUDGET_MS = 200;
/** what an answered call may take to set up while another service is stuck: the SIP promise is 50 ms */
const NORMAL_SETUP_MS = 300;
const PHONE = '200';
const CALLER = '201';

const user = (number: string): SippUser => ({ number, password: `Pw-${number}-Lua9` });

/** Each script fails before it answers, so its calls can still go to the fallback. */
const FAILING_SCRIPTS: Record<string, string> = {
  'c-loop': 'return function(call) return string.rep("a", 300000):find(".-.-.-.-b") end',
  raises: 'return function(call) error("raised on purpose") end',
  hog: 'return function(call) local t = {} for i = 1, 1e6 do t[i] = string.rep("x", 1024 * 1024) .. i end end',
  spin: 'return function(call) while true do end end',
  'escape-exit': 'return function(call) os.exit(1) end',
  'escape-io': 'return function(call, args) local f = io.open(args.path, "w") f:write("escaped") f:close() end',
  'escape-debug': 'return function(call) debug.sethook() while true do end end',
  'escape-require': 'return function(call) local io = require("io") io.write("escaped") end',
};

const ROUTE_TO = 'return function(call, args) call:route(args.to) end';
const RELOAD_V1 = 'return function(call) call:reject(486, "Busy Here") end\n';
const RELOAD_V2 = 'return function(call) call:reject(603, "Decline") end\n';
const RELOAD_BROKEN = 'return function(call)\n  local status = = 603\n  call:reject(status)\nend\n';
const RELOAD_FIXED = 'return function(call) call:reject(480, "Temporarily Unavailable") end\n';

const version = (source: string) => createHash('sha256').update(source).digest('hex').slice(0, 12);

interface ServiceStatusView {
  name: string;
  origin: string;
  version: string;
  state: string;
  restarts: number;
  lastFailure: { kind: string; message: string } | null;
  loadError: string | null;
}

describe('failing Lua services over SIP (Switchboard process, SIPp)', { timeout: 90_000 }, () => {
  let server: Switchboard;
  let dataDir: string;
  let overrides: string;
  let target: string;
  let phone: SippHandle;
  /** calls the phone has taken so far: each fallback must reach it */
  let phoneCalls = 0;
  const escapeFile = path.join(os.tmpdir(), `sb-lua-escape-${process.pid}.txt`);

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'sb-lua-faults-'));
    overrides = path.join(dataDir, 'lua', 'services');
    await mkdir(overrides, { recursive: true });
    for (const [name, source] of Object.entries(FAILING_SCRIPTS)) await writeFile(path.join(overrides, `${name}.lua`), source);
    await writeFile(path.join(overrides, 'route-to.lua'), ROUTE_TO);
    await writeFile(path.join(overrides, 'reload-me.lua'), RELOAD_V1);
    await writeFile(path.join(dataDir, 'mss_var_param.ini'), `[services]\nwatchdog_ms = ${WATCHDOG_MS}\nevent_budget_ms = ${EVENT_BUDGET_MS}\nmemory_limit_mb = 16\n`);
    server = await startSwitchboard({ dataDir });
    target = `${HOST}:${server.sipPort}`;
    for (const number of [PHONE, CALLER]) await server.createExtension(number, user(number).password);

    const numbers: Array<[string, string, Record<string, unknown>, string | null]> = [
      ['7100', 'c-loop', {}, PHONE],
      ['7101', 'echo', {}, null],
      ['7102', 'raises', {}, PHONE],
      ['7103', 'raises', {}, null],
      ['7104', 'hog', {}, PHONE],
      ['7105', 'spin', {}, PHONE],
      ['7106', 'escape-exit', {}, PHONE],
      ['7107', 'escape-io', { path: escapeFile }, PHONE],
      ['7108', 'escape-debug', {}, PHONE],
      ['7109', 'escape-require', {}, PHONE],
      ['7201', 'route-to', { to: '7202' }, null],
      ['7202', 'route-to', { to: '7201' }, null],
      ['7300', 'reload-me', {}, null],
    ];
    for (const [number, service, args, fallback] of numbers) await api('POST', '/api/v1/service-numbers', { number, service, args, fallback }, 201);

    phone = await startSipp({
      scenario: sippScenario('uas-answer'),
      register: true,
      target,
      injection: sippInjection([user(PHONE)]),
      // more calls than the tests make: the phone answers until after() stops it
      keys: { expires: '120', expect_calls: '100', wait_ms: '85000' },
      timeoutMs: 90_000,
    });
    await phone.waitForLog(`registered ${PHONE}`, 5_000);
  });

  after(async () => {
    await phone?.kill();
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await rm(escapeFile, { force: true });
  });

  async function api<T = unknown>(method: string, url: string, body: unknown, status: number): Promise<T> {
    const response = await server.api<T>(method, url, body);
    assert.equal(response.status, status, `${method} ${url}: ${JSON.stringify(response.body)}${serverProblems(server)}`);
    return response.body;
  }

  /** The service as GET /api/v1/services lists it. */
  async function service(name: string): Promise<ServiceStatusView> {
    const found = (await api<ServiceStatusView[]>('GET', '/api/v1/services', undefined, 200)).find((s) => s.name === name);
    assert.ok(found, `GET /api/v1/services lists ${name}`);
    return found;
  }

  /** A call from 201 that must be answered (by a service or the phone) and is then hung up by the caller. */
  async function answeredCall(callee: string): Promise<CallTimes> {
    const call = await callService({ target, caller: user(CALLER), callee, holdMs: 200, timeoutMs: 15_000 });
    const result = await call.done;
    assert.equal(result.code, 0, explainSipp(`call to ${callee}`, result) + serverProblems(server));
    const times = callTimes(result.log);
    assert.ok(times, `the call to ${callee} was answered:\n${result.log}`);
    return times;
  }

  /**
   * Calls to the echo test, the next as soon as the last is answered, until `done` settles; resolves
   * when all have ended. One start at a time: SIPp processes started together may pick the same port.
   */
  async function echoCallsUntil(done: Promise<unknown>): Promise<CallTimes[]> {
    let finished = false;
    void done.finally(() => (finished = true)).catch(() => undefined);
    const calls: Array<{ times: CallTimes; done: Promise<SippResult> }> = [];
    while (!finished) {
      const call = await callService({ target, caller: user(CALLER), callee: '7101', holdMs: 100, timeoutMs: 15_000 });
      calls.push({ times: await call.answered(5_000), done: call.done });
    }
    for (const call of calls) {
      const result = await call.done;
      assert.equal(result.code, 0, explainSipp('echo call', result) + serverProblems(server));
    }
    return calls.map((call) => call.times);
  }

  /** A call from 201 that must fail with `status`. */
  async function failedCall(callee: string, status: number): Promise<void> {
    const result = await runSipp({
      scenario: sippScenario('uac-expect-status'),
      target,
      injection: sippInjection([user(CALLER)]),
      keys: { callee, status: String(status) },
      timeoutMs: 10_000,
    });
    assert.equal(result.code, 0, explainSipp(`call to ${callee}, expecting ${status}`, result) + serverProblems(server));
  }

  /** Resolves once the phone has been rung `count` times in all. */
  async function phoneRang(count: number): Promise<void> {
    await phone.waitForLog(new RegExp(`(?:^incoming [^\\n]*\\n[\\s\\S]*?){${count}}`, 'm'), 5_000);
    phoneCalls = count;
  }

  it('hands a call stuck in a C function to the fallback after the watchdog, while echo calls keep their setup time', async () => {
    const usual = await answeredCall('7101');
    const stuck = await callService({ target, caller: user(CALLER), callee: '7100', holdMs: 200, timeoutMs: 15_000 });
    await stuck.sipp.waitForLog(/^invite /m, 5_000);
    const [stuckResult, meanwhile] = await Promise.all([stuck.done, echoCallsUntil(stuck.done)]);
    assert.equal(stuckResult.code, 0, explainSipp('call to 7100', stuckResult) + serverProblems(server));
    const fallback = callTimes(stuckResult.log);
    assert.ok(fallback, 'the call to 7100 was answered');
    await phoneRang(phoneCalls + 1);

    const waited = fallback.answeredAt - fallback.invitedAt;
    assert.ok(waited >= WATCHDOG_MS - 50 && waited < WATCHDOG_MS + 3_000, `the phone answered after the watchdog: ${waited.toFixed(0)} ms`);
    const duringTheStall = meanwhile.filter((echo) => echo.answeredAt < fallback.answeredAt);
    assert.ok(duringTheStall.length >= 2, `echo calls answered while c-loop was stuck: ${duringTheStall.length}`);
    for (const echo of meanwhile) {
      const setup = echo.answeredAt - echo.invitedAt;
      assert.ok(setup < NORMAL_SETUP_MS, `an echo call set up in ${setup.toFixed(0)} ms (usually ${(usual.answeredAt - usual.invitedAt).toFixed(0)} ms)`);
    }

    const status = await until('c-loop running again', async () => {
      const s = await service('c-loop');
      return s.state === 'running' ? s : undefined;
    });
    assert.equal(status.restarts, 1);
    assert.equal(status.lastFailure?.kind, 'unresponsive');
  });

  it('gives every other kind of failure its fallback (or 500 without one), and the echo test still answers', async () => {
    const fallbacks = ['7102', '7104', '7105', '7106', '7107', '7108', '7109'];
    const failing = (async () => {
      for (const number of fallbacks) await answeredCall(number);
      await failedCall('7103', 500);
    })();
    const [, echoes] = await Promise.all([failing, echoCallsUntil(failing)]);
    await phoneRang(phoneCalls + fallbacks.length);
    assert.ok(echoes.length >= 2, `echo calls answered meanwhile: ${echoes.length}`);
    for (const echo of echoes) {
      const setup = echo.answeredAt - echo.invitedAt;
      assert.ok(setup < NORMAL_SETUP_MS, `the echo test answered in ${setup.toFixed(0)} ms`);
    }

    const expected: Array<[string, string, RegExp]> = [
      ['raises', 'error', /raises\.lua:1: raised on purpose/],
      ['hog', 'memory', /^not enough memory/],
      ['spin', 'timeout', new RegExp(`spin\\.lua:1: the script ran longer than its ${EVENT_BUDGET_MS} ms event budget`)],
      ['escape-exit', 'error', /nil value \(field 'exit'\)/],
      ['escape-io', 'error', /nil value \(global 'io'\)/],
      ['escape-debug', 'error', /nil value \(global 'debug'\)/],
      ['escape-require', 'error', /nil value \(global 'require'\)/],
    ];
    for (const [name, kind, message] of expected) {
      const status = await service(name);
      assert.equal(status.lastFailure?.kind, kind, `${name}: ${JSON.stringify(status.lastFailure)}`);
      assert.match(status.lastFailure.message, message, name);
      assert.equal(status.state, 'running', `${name} serves calls again`);
    }
    assert.equal(existsSync(escapeFile), false, 'io.open wrote nothing');
    assert.equal((await server.api('GET', '/api/v1/health')).status, 200, 'os.exit did not end the server');
  });

  it('runs an edited script from the next call, keeps the last good one while an edit does not load, and takes the fix', async () => {
    await failedCall('7300', 486);
    const file = path.join(overrides, 'reload-me.lua');
    await writeFile(file, RELOAD_V2);
    await until('the edit loaded', async () => ((await service('reload-me')).version === version(RELOAD_V2) ? true : undefined));
    await failedCall('7300', 603);

    await writeFile(file, RELOAD_BROKEN);
    const status = await until('the broken edit reported', async () => {
      const s = await service('reload-me');
      return s.loadError !== null ? s : undefined;
    });
    assert.match(status.loadError!, /reload-me\.lua:2:/, 'the load error names the file and line');
    assert.equal(status.version, version(RELOAD_V2), 'the previous version keeps serving');
    assert.equal(status.origin, 'data-dir');
    await failedCall('7300', 603);

    await writeFile(file, RELOAD_FIXED);
    const fixed = await until('the fixed edit loaded', async () => {
      const s = await service('reload-me');
      return s.version === version(RELOAD_FIXED) ? s : undefined;
    });
    assert.equal(fixed.loadError, null, 'a good edit clears the load error');
    await failedCall('7300', 480);
  });

  it('answers 482 when two services route a call to each other', async () => {
    await failedCall('7201', 482);
  });
});
