// End to end on the real pieces: script files in temporary directories, the catalog watching them, the
// supervisor, and one Lua worker per service.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { HostValue } from '../../src/services/engine/protocol.js';
import { ServiceCatalog } from '../../src/services/engine/service-catalog.js';
import type { ServiceStatus } from '../../src/services/engine/service-status.js';
import { ServiceSupervisor, type HostHandler } from '../../src/services/engine/service-supervisor.js';
import { systemClock } from '../../src/transaction/clock.js';

async function engine(t: TestContext, builtins: Record<string, string>, host: Record<string, HostHandler> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'service-engine-'));
  const builtinDir = join(root, 'lua', 'services');
  const overrideDir = join(root, 'data', 'lua', 'services');
  mkdirSync(builtinDir, { recursive: true });
  for (const [name, source] of Object.entries(builtins)) writeFileSync(join(builtinDir, `${name}.lua`), source);
  const logger = pino({ level: 'silent' });
  const supervisor = new ServiceSupervisor({
    catalog: new ServiceCatalog({ builtinDir, overrideDir, logger, debounceMs: 30 }),
    host: new Map(Object.entries(host)),
    limits: () => ({ memoryBytes: 16 * 1024 * 1024, eventBudgetMs: 100 }),
    hostFunctions: Object.keys(host).map((name) => ({ name })),
    clock: systemClock,
    logger,
    watchdogIntervalMs: 100,
  });
  t.after(async () => {
    await supervisor.close();
    rmSync(root, { recursive: true, force: true });
  });
  await supervisor.start();
  const statusOf = (name: string): ServiceStatus | undefined => supervisor.status().find((s) => s.name === name);
  return { supervisor, overrideDir, statusOf };
}

const callInfo = (id: string) => ({ id, domain: 'example.com', caller: '100', callerName: 'Alice', dialled: '200' });
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ok: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await tick(5);
  }
}

test('a call runs its Lua service, with host calls answered by the host', async (t) => {
  const { supervisor } = await engine(
    t,
    { greet: 'return function(call, args) local ok, err = pcall(call.secret, call) return call:hello(call.caller, args.n) .. "/" .. tostring(err) end' },
    {
      'call.hello': (ctx, args) => `${ctx.service}:${ctx.callId}:${args.join(',')}`,
      'call.secret': async () => {
        throw new Error('not allowed');
      },
    },
  );
  const outcome = await supervisor.run('greet', callInfo('c1'), { n: 7 });
  assert.equal(outcome.ok, true);
  assert.match(outcome.ok ? String(outcome.result) : '', /^greet:c1:100,7\/.*not allowed/);
});

test('a service looping inside a C function is killed and restarted; another service keeps serving promptly', async (t) => {
  const { supervisor, statusOf } = await engine(t, {
    stuck: 'return function(call, args) if args.loop then string.rep("a", 300000):find(".-.-.-.-b") end return "free" end',
    quick: 'return function(call, args) return args.n * 2 end',
  });

  let expected = performance.now() + 10;
  let worstDriftMs = 0;
  const drift = setInterval(() => {
    const now = performance.now();
    worstDriftMs = Math.max(worstDriftMs, now - expected);
    expected = now + 10;
  }, 10);
  t.after(() => clearInterval(drift));

  const stuck = supervisor.run('stuck', callInfo('s1'), { loop: true });
  let stuckDone = false;
  void stuck.then(() => (stuckDone = true));
  const latencies: number[] = [];
  for (let i = 0; !stuckDone; i++) {
    const started = performance.now();
    const outcome = await supervisor.run('quick', callInfo(`q${i}`), { n: i });
    latencies.push(performance.now() - started);
    assert.deepEqual(outcome, { ok: true, result: i * 2 });
    await tick(5);
  }
  clearInterval(drift);

  const outcome = await stuck;
  assert.equal(!outcome.ok && outcome.kind, 'unresponsive');
  assert.ok(latencies.length >= 20, `only ${latencies.length} calls completed meanwhile`);
  const worstMs = Math.max(...latencies);
  assert.ok(worstMs < 50, `a call of the other service took ${worstMs.toFixed(1)} ms`);
  assert.ok(worstDriftMs < 50, `the main thread's event loop was blocked ${worstDriftMs.toFixed(1)} ms`);
  assert.equal(statusOf('quick')?.restarts, 0);

  await until(() => statusOf('stuck')?.state === 'running', 'the restart');
  assert.equal(statusOf('stuck')?.restarts, 1);
  assert.equal(statusOf('stuck')?.lastFailure?.kind, 'unresponsive');
  assert.deepEqual(await supervisor.run('stuck', callInfo('s2'), { loop: false }), { ok: true, result: 'free' });
});

test('script errors, timeouts and memory failures fail only their call', async (t) => {
  const { supervisor, statusOf } = await engine(t, {
    svc: `return function(call, args)
      if args.what == "error" then error("boom") end
      if args.what == "timeout" then while true do end end
      if args.what == "memory" then local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1000000) .. i end end
      return "fine"
    end`,
  });
  const kinds: HostValue[] = [];
  for (const what of ['error', 'timeout', 'memory']) {
    const outcome = await supervisor.run('svc', callInfo(what), { what });
    kinds.push(outcome.ok ? 'ok' : outcome.kind);
  }
  assert.deepEqual(kinds, ['error', 'timeout', 'memory']);
  assert.deepEqual(await supervisor.run('svc', callInfo('after'), { what: 'nothing' }), { ok: true, result: 'fine' });
  assert.equal(statusOf('svc')?.restarts, 0);
});

test('an override written in the data directory is loaded; a broken edit keeps it serving; deleting it goes back to the built-in', async (t) => {
  const { supervisor, overrideDir, statusOf } = await engine(t, { menu: 'return function() return "builtin" end' });
  const file = join(overrideDir, 'menu.lua');
  const ask = async (id: string) => {
    const outcome = await supervisor.run('menu', callInfo(id), null);
    return outcome.ok ? outcome.result : outcome.kind;
  };

  writeFileSync(file, 'return function() return "mine" end');
  await until(() => statusOf('menu')?.origin === 'data-dir', 'the override');
  assert.equal(await ask('c1'), 'mine');

  writeFileSync(file, 'return function() return "broken" end end');
  await until(() => statusOf('menu')?.loadError !== null, 'the load error');
  assert.match(statusOf('menu')?.loadError ?? '', /^<data-dir>\/lua\/services\/menu\.lua:1: /);
  assert.equal(await ask('c2'), 'mine');

  rmSync(file);
  await until(() => statusOf('menu')?.origin === 'builtin', 'the built-in again');
  assert.equal(await ask('c3'), 'builtin');
  assert.equal(statusOf('menu')?.loadError, null);
});
