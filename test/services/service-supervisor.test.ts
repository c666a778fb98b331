// The supervisor's bookkeeping, driven through a fake worker (service-fake-worker.ts) whose behaviour
// each call chooses, and a fake clock for the watchdog and the restart backoff.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { CallInfo, HostValue, VmLimits } from '../../src/services/engine/protocol.js';
import type { ServiceScript } from '../../src/services/engine/service-catalog.js';
import type { ServiceStatus } from '../../src/services/engine/service-status.js';
import { ServiceSupervisor, type HostApi, type HostHandler } from '../../src/services/engine/service-supervisor.js';
import type { Clock } from '../../src/transaction/clock.js';
import { systemClock } from '../../src/transaction/clock.js';
import { FakeClock } from '../support/fake-clock.js';
import type { FakeAction, FakeScript } from './service-fake-worker.js';

const FAKE_WORKER = new URL('./service-fake-worker.js', import.meta.url);

/** Scripts in memory; set() and remove() report the change as the file watcher would. */
class MemoryCatalog {
  private readonly scripts = new Map<string, ServiceScript>();
  private listener: ((name: string) => void) | undefined;

  set(name: string, script: FakeScript | string): void {
    const source = typeof script === 'string' ? script : JSON.stringify(script);
    const version = createHash('sha256').update(source).digest('hex').slice(0, 12);
    this.scripts.set(name, { name, origin: 'builtin', file: `/services/${name}.lua`, chunkName: `lua/services/${name}.lua`, source, version });
    this.listener?.(name);
  }

  remove(name: string): void {
    this.scripts.delete(name);
    this.listener?.(name);
  }

  list(): ServiceScript[] {
    return [...this.scripts.values()];
  }

  get(name: string): ServiceScript | undefined {
    return this.scripts.get(name);
  }

  watch(onChange: (name: string) => void): () => void {
    this.listener = onChange;
    return () => {
      this.listener = undefined;
    };
  }
}

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

interface FixtureOptions {
  clock?: Clock;
  host?: Record<string, HostHandler>;
  limits?: VmLimits;
  scripts?: Record<string, FakeScript | string>;
  watchdogIntervalMs?: number;
}

async function fixture(t: TestContext, options: FixtureOptions = {}) {
  const catalog = new MemoryCatalog();
  for (const [name, script] of Object.entries(options.scripts ?? { a: { tag: 'a1' } })) catalog.set(name, script);
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const host: HostApi = new Map(Object.entries(options.host ?? {}));
  const limits = options.limits ?? { memoryBytes: 1_000_000, eventBudgetMs: 100 };
  const supervisor = new ServiceSupervisor({
    catalog,
    host,
    limits: () => limits,
    hostFunctions: Object.keys(options.host ?? {}).map((name) => ({ name })),
    clock: options.clock ?? systemClock,
    logger,
    watchdogIntervalMs: options.watchdogIntervalMs ?? 1_000,
    workerUrl: FAKE_WORKER,
  });
  t.after(() => supervisor.close());
  await supervisor.start();
  const statusOf = (name: string): ServiceStatus => {
    const status = supervisor.status().find((s) => s.name === name);
    assert.ok(status, `no status for ${name}`);
    return status;
  };
  return { supervisor, catalog, logs, statusOf };
}

const callInfo = (id: string): CallInfo => ({ id, domain: 'example.com', caller: '100', callerName: 'Alice', dialled: '200' });
const act = (action: FakeAction): HostValue => action as unknown as HostValue;
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ok: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await tick(5);
  }
}

/** Whether the promise has settled by the time the workers had a moment to answer. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await tick(50);
  return done;
}

function deferred<T>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('a call runs on its service and resolves with what the script returned', async (t) => {
  const { supervisor, statusOf } = await fixture(t);
  assert.deepEqual(await supervisor.run('a', callInfo('c1'), act({ do: 'finish', result: { digits: '1234' } })), {
    ok: true,
    result: { digits: '1234' },
  });
  assert.ok(supervisor.has('a'));
  const status = statusOf('a');
  assert.equal(status.state, 'running');
  assert.equal(status.activeCalls, 0);
  assert.equal(status.origin, 'builtin');
  assert.equal(status.file, '/services/a.lua');
  assert.equal(status.version.length, 12);
});

test('an unknown service is unavailable at once', async (t) => {
  const { supervisor } = await fixture(t);
  assert.equal(supervisor.has('nope'), false);
  const outcome = await supervisor.run('nope', callInfo('c1'), null);
  assert.deepEqual(outcome, { ok: false, kind: 'unavailable', error: 'no service nope' });
});

test('a script that does not load is listed as failed with its error and takes no calls', async (t) => {
  const { supervisor, statusOf } = await fixture(t, { scripts: { good: {}, bad: 'syntax error' } });
  const bad = statusOf('bad');
  assert.equal(bad.state, 'failed');
  assert.equal(bad.loadError, 'lua/services/bad.lua:1: not JSON');
  const outcome = await supervisor.run('bad', callInfo('c1'), act({ do: 'whoami' }));
  assert.equal(outcome.ok, false);
  assert.equal(!outcome.ok && outcome.kind, 'unavailable');
  assert.equal(statusOf('good').state, 'running');
});

test('a script error fails only that call and is the last failure; the worker stays', async (t) => {
  const { supervisor, statusOf, logs } = await fixture(t);
  const outcome = await supervisor.run('a', callInfo('c1'), act({ do: 'fail', kind: 'timeout', error: 'a.lua:3: event budget exceeded' }));
  assert.deepEqual(outcome, { ok: false, kind: 'timeout', error: 'a.lua:3: event budget exceeded' });
  assert.deepEqual(await supervisor.run('a', callInfo('c2'), act({ do: 'received' })), { ok: true, result: ['load', 'start:c1', 'start:c2'] });
  const status = statusOf('a');
  assert.equal(status.restarts, 0);
  assert.equal(status.lastFailure?.kind, 'timeout');
  assert.ok(logs.some((l) => l.msg === 'service call failed' && l.callId === 'c1' && l.kind === 'timeout'));
});

test('host requests reach the handler with the service and call; value, thrown error and unknown name come back', async (t) => {
  const seen: unknown[] = [];
  const { supervisor } = await fixture(t, {
    host: {
      'call.answer': (ctx, args) => {
        seen.push(ctx, args);
        return 'answered';
      },
      'voicemail.save': async () => {
        await tick(10);
        throw new Error('disk full');
      },
      'log.info': () => undefined as unknown as HostValue,
    },
  });
  const run = (id: string, name: string, args: HostValue[]) => supervisor.run('a', callInfo(id), act({ do: 'host', name, args }));

  assert.deepEqual(await run('c1', 'call.answer', [1, 'x']), { ok: true, result: { value: 'answered' } });
  assert.deepEqual(seen, [{ service: 'a', callId: 'c1' }, [1, 'x']]);
  assert.deepEqual(await run('c2', 'voicemail.save', []), { ok: true, result: { error: 'disk full' } });
  assert.deepEqual(await run('c3', 'no.such', []), { ok: true, result: { error: 'no host function no.such' } });
  assert.deepEqual(await run('c4', 'log.info', []), { ok: true, result: { value: null } });
});

test('end() drops the call in its worker and the run resolves as dropped; a late host reply is not sent', async (t) => {
  const answer = deferred<HostValue>();
  const { supervisor } = await fixture(t, { host: { 'call.collect': () => answer.promise } });
  const waiting = supervisor.run('a', callInfo('c1'), act({ do: 'wait' }));
  const asking = supervisor.run('a', callInfo('c2'), act({ do: 'host', name: 'call.collect', args: [] }));
  await tick(50);
  supervisor.end('c1');
  supervisor.end('c2');
  supervisor.end('never-started');
  assert.deepEqual(await waiting, { ok: false, kind: 'error', error: 'dropped' });
  assert.deepEqual(await asking, { ok: false, kind: 'error', error: 'dropped' });
  answer.resolve('1234');
  await tick(20);
  const received = await supervisor.run('a', callInfo('c3'), act({ do: 'received' }));
  assert.deepEqual(received, { ok: true, result: ['load', 'start:c1', 'start:c2', 'drop:c1', 'drop:c2', 'start:c3'] });
});

test('once the caller hung up, a host reply waits to cross with the next message, or for a few ms', async (t) => {
  const clock = new FakeClock(0);
  const first = deferred<HostValue>();
  const second = deferred<HostValue>();
  const answers = [first, second];
  const { supervisor } = await fixture(t, { clock, host: { 'call.collect': () => answers.shift()!.promise } });
  const ask = (id: string) => supervisor.run('a', callInfo(id), act({ do: 'host', name: 'call.collect', args: [] }));

  const live = ask('c1');
  await tick(30);
  first.resolve('1234');
  assert.deepEqual(await live, { ok: true, result: { value: '1234' } }, 'a live call\'s reply crosses at once');

  const hungUp = ask('c2');
  await tick(30);
  supervisor.callEnded('c2');
  supervisor.callEnded('never-started');
  second.resolve('#');
  assert.equal(await settled(hungUp), false, 'the reply waits');
  assert.deepEqual(await supervisor.run('a', callInfo('c3'), act({ do: 'finish', result: 3 })), { ok: true, result: 3 });
  assert.deepEqual(await hungUp, { ok: true, result: { value: '#', callEnded: true } }, 'it crossed with the next start');
});

test('a waiting reply crosses on its own within the delay', async (t) => {
  const clock = new FakeClock(0);
  const answer = deferred<HostValue>();
  const { supervisor } = await fixture(t, { clock, host: { 'call.collect': () => answer.promise } });
  const hungUp = supervisor.run('a', callInfo('c1'), act({ do: 'host', name: 'call.collect', args: [] }));
  await tick(30);
  supervisor.callEnded('c1');
  answer.resolve('#');
  assert.equal(await settled(hungUp), false);
  clock.advance(20);
  assert.deepEqual(await hungUp, { ok: true, result: { value: '#', callEnded: true } });
});

test('a call id already running a service is refused, not mixed up', async (t) => {
  const { supervisor } = await fixture(t);
  const first = supervisor.run('a', callInfo('c1'), act({ do: 'wait' }));
  const second = await supervisor.run('a', callInfo('c1'), act({ do: 'finish', result: 2 }));
  assert.equal(second.ok, false);
  assert.equal(await settled(first), false);
  supervisor.end('c1');
  assert.deepEqual(await first, { ok: false, kind: 'error', error: 'dropped' });
});

test('a crash fails every call of that worker, spares other services, and is logged without call arguments', async (t) => {
  const clock = new FakeClock(1_000_000);
  const { supervisor, statusOf, logs } = await fixture(t, {
    clock,
    scripts: { a: { tag: 'a' }, b: { tag: 'b' } },
    host: { 'call.check': () => new Promise(() => {}) },
  });
  const onA = [
    supervisor.run('a', callInfo('a1'), act({ do: 'wait' })),
    supervisor.run('a', callInfo('a2'), act({ do: 'host', name: 'call.check', args: ['PIN 4711'] })),
  ];
  const onB = supervisor.run('b', callInfo('b1'), act({ do: 'wait' }));
  await tick(30);
  const crash = await supervisor.run('a', callInfo('a3'), act({ do: 'crash' }));
  assert.equal(crash.ok, false);
  assert.equal(!crash.ok && crash.kind, 'crashed');
  assert.match(!crash.ok ? crash.error : '', /fake worker crashed/);
  for (const outcome of await Promise.all(onA)) assert.equal(!outcome.ok && outcome.kind, 'crashed');

  assert.equal(await settled(onB), false);
  assert.deepEqual(await supervisor.run('b', callInfo('b2'), act({ do: 'whoami' })), { ok: true, result: 'b' });
  assert.equal(statusOf('b').activeCalls, 1);
  assert.equal(statusOf('b').restarts, 0);

  const a = statusOf('a');
  assert.equal(a.state, 'restarting');
  assert.equal(a.restarts, 1);
  assert.equal(a.activeCalls, 0);
  assert.deepEqual(a.lastFailure && { at: a.lastFailure.at, kind: a.lastFailure.kind }, { at: 1_000_000, kind: 'crashed' });
  const restarting = await supervisor.run('a', callInfo('a4'), null);
  assert.deepEqual(restarting, { ok: false, kind: 'unavailable', error: 'service a is restarting' });

  const failure = logs.find((l) => l.msg === 'service worker failed');
  assert.ok(failure);
  assert.equal(failure.level, 50);
  assert.equal(failure.service, 'a');
  assert.equal(failure.kind, 'crashed');
  assert.match(String(failure.message), /fake worker crashed/);
  assert.ok(!JSON.stringify(logs).includes('4711'), 'a host call argument reached the log');

  clock.advance(0);
  await until(() => statusOf('a').state === 'running', 'the restart');
  assert.deepEqual(await supervisor.run('a', callInfo('a5'), act({ do: 'whoami' })), { ok: true, result: 'a' });
});

test('repeated crashes restart after 0, 1, 5 and 30 s, and a quiet minute starts over', async (t) => {
  const clock = new FakeClock(0);
  // No watchdog rounds while the clock jumps ahead by seconds: they would find the workers silent.
  const { supervisor, statusOf } = await fixture(t, { clock, watchdogIntervalMs: 1e9 });
  let n = 0;
  const crash = async () => {
    const outcome = await supervisor.run('a', callInfo(`crash${++n}`), act({ do: 'crash' }));
    assert.equal(!outcome.ok && outcome.kind, 'crashed');
    assert.equal(statusOf('a').state, 'restarting');
  };
  /** The restart does not come before `delay` ms, and does come then. */
  const restartsAfter = async (delay: number) => {
    if (delay > 0) {
      clock.advance(delay - 1);
      await tick(100);
      assert.equal(statusOf('a').state, 'restarting', `restarted before ${delay} ms`);
    }
    clock.advance(delay > 0 ? 1 : 0);
    await until(() => statusOf('a').state === 'running', `the restart after ${delay} ms`);
  };

  for (const delay of [0, 1_000, 5_000, 30_000, 30_000]) {
    await crash();
    await restartsAfter(delay);
  }
  assert.equal(statusOf('a').restarts, 5);

  clock.advance(60_001);
  await crash();
  await restartsAfter(0);
  await crash();
  await restartsAfter(1_000);
  assert.equal(statusOf('a').restarts, 7);
});

test('a worker that stops answering the watchdog is terminated; its calls fail as unresponsive', async (t) => {
  const clock = new FakeClock(0);
  const { supervisor, statusOf, logs } = await fixture(t, { clock, limits: { memoryBytes: 1_000_000, eventBudgetMs: 100 } });

  // An answering worker survives rounds that each pass the previous ping's deadline.
  clock.advance(1_000);
  for (let i = 0; i < 3; i++) {
    await tick(30);
    clock.advance(1_000);
  }
  await tick(30);
  assert.equal(statusOf('a').state, 'running');

  const hung = supervisor.run('a', callInfo('c1'), act({ do: 'hang' }));
  await tick(30);
  clock.advance(1_000);
  await tick(30);
  clock.advance(299);
  await tick(30);
  assert.equal(await settled(hung), false, 'terminated before the grace of budget + 200 ms');
  clock.advance(1);
  const outcome = await hung;
  assert.equal(!outcome.ok && outcome.kind, 'unresponsive');
  assert.equal(statusOf('a').lastFailure?.kind, 'unresponsive');
  assert.equal(statusOf('a').restarts, 1);
  assert.ok(logs.some((l) => l.msg === 'service worker failed' && l.kind === 'unresponsive'));

  clock.advance(0);
  await until(() => statusOf('a').state === 'running', 'the restart');
  assert.deepEqual(await supervisor.run('a', callInfo('c2'), act({ do: 'received' })), { ok: true, result: ['load', 'start:c2'] });
});

test('an idle VM above 90 % of its memory is replaced by a fresh one; a busy one is left alone', async (t) => {
  const clock = new FakeClock(0);
  const { supervisor, statusOf } = await fixture(t, { clock, limits: { memoryBytes: 1_000, eventBudgetMs: 100 } });
  const pongRound = async () => {
    clock.advance(1_000);
    await tick(50);
  };

  await supervisor.run('a', callInfo('c1'), act({ do: 'hold', bytes: 900 }));
  await pongRound();
  assert.equal(statusOf('a').memoryBytes, 900);
  assert.equal(statusOf('a').restarts, 0, 'replaced at 90 %');

  await supervisor.run('a', callInfo('c2'), act({ do: 'hold', bytes: 950 }));
  const busy = supervisor.run('a', callInfo('c3'), act({ do: 'wait' }));
  await pongRound();
  assert.equal(statusOf('a').memoryBytes, 950);
  assert.equal(statusOf('a').restarts, 0, 'replaced while running a call');

  supervisor.end('c3');
  await busy;
  await pongRound();
  await until(() => statusOf('a').restarts === 1, 'the replacement');
  assert.equal(statusOf('a').lastFailure?.kind, 'memory');
  await until(() => statusOf('a').memoryBytes === 0, 'the fresh VM');
  assert.deepEqual(await supervisor.run('a', callInfo('c4'), act({ do: 'received' })), { ok: true, result: ['load', 'start:c4'] });
});

test('a reload serves new calls from the new script while running calls finish on the old one', async (t) => {
  const answer = deferred<HostValue>();
  const { supervisor, catalog, statusOf } = await fixture(t, { scripts: { a: { tag: 'v1' } }, host: { 'call.collect': () => answer.promise } });
  const before = statusOf('a');
  const running = supervisor.run('a', callInfo('c1'), act({ do: 'host', name: 'call.collect', args: [] }));
  await tick(30);

  catalog.set('a', { tag: 'v2' });
  await until(() => statusOf('a').version !== before.version, 'the reload');
  assert.deepEqual(await supervisor.run('a', callInfo('c2'), act({ do: 'whoami' })), { ok: true, result: 'v2' });
  const status = statusOf('a');
  assert.equal(status.activeCalls, 1);
  assert.equal(status.restarts, 0);
  assert.ok(status.loadedAt >= before.loadedAt);

  answer.resolve('42');
  assert.deepEqual(await running, { ok: true, result: { value: '42' } });
  assert.equal(statusOf('a').activeCalls, 0);
});

test('an edit that does not load leaves the previous version serving and reports where it failed', async (t) => {
  const { supervisor, catalog, statusOf, logs } = await fixture(t, { scripts: { a: { tag: 'v1' } } });
  const v1 = statusOf('a').version;

  catalog.set('a', 'broken');
  await until(() => statusOf('a').loadError !== null, 'the load error');
  assert.equal(statusOf('a').loadError, 'lua/services/a.lua:1: not JSON');
  assert.equal(statusOf('a').version, v1);
  assert.equal(statusOf('a').state, 'running');
  assert.deepEqual(await supervisor.run('a', callInfo('c1'), act({ do: 'whoami' })), { ok: true, result: 'v1' });
  const warning = logs.find((l) => l.msg.startsWith('service script did not load'));
  assert.equal(warning?.level, 40);
  assert.equal(warning?.error, 'lua/services/a.lua:1: not JSON');

  catalog.set('a', { tag: 'v3' });
  await until(() => statusOf('a').loadError === null, 'the fixed edit');
  assert.deepEqual(await supervisor.run('a', callInfo('c2'), act({ do: 'whoami' })), { ok: true, result: 'v3' });
});

test('a service that appears is loaded; one deleted takes no new calls but finishes those it runs', async (t) => {
  const answer = deferred<HostValue>();
  const { supervisor, catalog } = await fixture(t, { scripts: { a: {} }, host: { 'call.collect': () => answer.promise } });
  catalog.set('fresh', { tag: 'fresh' });
  await until(() => supervisor.status().some((s) => s.name === 'fresh' && s.state === 'running'), 'the new service');
  assert.deepEqual(await supervisor.run('fresh', callInfo('c1'), act({ do: 'whoami' })), { ok: true, result: 'fresh' });

  const running = supervisor.run('a', callInfo('c2'), act({ do: 'host', name: 'call.collect', args: [] }));
  await tick(30);
  catalog.remove('a');
  assert.equal(supervisor.has('a'), false);
  const refused = await supervisor.run('a', callInfo('c3'), null);
  assert.equal(!refused.ok && refused.kind, 'unavailable');
  answer.resolve('done');
  assert.deepEqual(await running, { ok: true, result: { value: 'done' } });
});

test('close() terminates the workers and fails the calls still running', async (t) => {
  const { supervisor } = await fixture(t);
  const running = supervisor.run('a', callInfo('c1'), act({ do: 'wait' }));
  await tick(20);
  await supervisor.close();
  const outcome = await running;
  assert.equal(outcome.ok, false);
  assert.equal(supervisor.status().length, 0);
  const after = await supervisor.run('a', callInfo('c2'), null);
  assert.equal(!after.ok && after.kind, 'unavailable');
});
