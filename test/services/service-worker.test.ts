// The worker handle with the real Lua worker (and the fake one for a crash the sandbox cannot cause),
// on the real clock: short intervals keep each test well under a second or two.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import type { VmLimits } from '../../src/services/engine/protocol.js';
import type { ServiceScript } from '../../src/services/engine/service-catalog.js';
import { ServiceWorker, type CallMessage, type ServiceWorkerOptions, type WorkerFailureKind } from '../../src/services/engine/service-worker.js';
import { systemClock } from '../../src/transaction/clock.js';

const FAKE_WORKER = new URL('./service-fake-worker.js', import.meta.url);
const LIMITS: VmLimits = { memoryBytes: 8 * 1024 * 1024, eventBudgetMs: 100 };
/** A backtracking match that runs inside string.find for far longer than any test: no Lua hook sees it. */
const C_LOOP = 'string.rep("a", 300000):find(".-.-.-.-b")';

function script(source: string, name = 'svc'): ServiceScript {
  const version = createHash('sha256').update(source).digest('hex').slice(0, 12);
  return { name, origin: 'builtin', file: `/services/${name}.lua`, chunkName: `lua/services/${name}.lua`, source, version };
}

interface Observed {
  messages: CallMessage[];
  memory: number[];
  failures: { kind: WorkerFailureKind; message: string; at: number }[];
}

function spawn(t: TestContext, source: string, options: Partial<ServiceWorkerOptions> = {}) {
  const observed: Observed = { messages: [], memory: [], failures: [] };
  const worker = new ServiceWorker({
    script: script(source),
    limits: LIMITS,
    hostFunctions: [{ name: 'call.answer' }],
    clock: systemClock,
    watchdogIntervalMs: 50,
    onCallMessage: (message) => observed.messages.push(message),
    onMemory: (bytes) => observed.memory.push(bytes),
    onFailure: (kind, message) => observed.failures.push({ kind, message, at: performance.now() }),
    ...options,
  });
  t.after(() => worker.terminate());
  return { worker, observed };
}

const call = (id: string) => ({ id, domain: 'example.com', caller: '100', callerName: '', dialled: '200' });
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ok: () => boolean, what: string, ms = 1500): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await tick(5);
  }
}

test('a loaded worker runs calls and passes their messages on; the watchdog reads its memory', async (t) => {
  const { worker, observed } = spawn(t, 'return function(call, args) local r = call:answer(args.n) return r * 2 end');
  await worker.load();
  worker.send({ type: 'start', call: call('c1'), args: { n: 20 } });
  await until(() => observed.messages.length === 1, 'the host request');
  const request = observed.messages[0];
  assert.equal(request.type, 'request');
  assert.deepEqual(request.type === 'request' && { name: request.name, args: request.args }, { name: 'call.answer', args: [20] });
  worker.send({ type: 'reply', callId: 'c1', requestId: request.type === 'request' ? request.requestId : -1, ok: true, value: 21 });
  await until(() => observed.messages.length === 2, 'the end of the call');
  assert.deepEqual(observed.messages[1], { type: 'finished', callId: 'c1', result: 42 });

  await until(() => observed.memory.length >= 2, 'two watchdog rounds');
  assert.ok(observed.memory[0] > 0);
  assert.equal(worker.memoryBytes, observed.memory[observed.memory.length - 1]);
  assert.deepEqual(observed.failures, []);
});

test('a script that does not load rejects with its chunk name and line', async (t) => {
  const { worker, observed } = spawn(t, 'return function(call)\n  local = 1\nend');
  await assert.rejects(worker.load(), /^Error: lua\/services\/svc\.lua:2: /);
  await tick(50);
  assert.deepEqual(observed.failures, [], 'a load failure is not also a crash');
});

test('a loop inside a C function is ended by the watchdog within interval + budget + grace', async (t) => {
  const { worker, observed } = spawn(t, `return function(call, args) ${C_LOOP} return 1 end`);
  await worker.load();
  const started = performance.now();
  worker.send({ type: 'start', call: call('c1'), args: null });
  await until(() => observed.failures.length > 0, 'the watchdog');
  const failure = observed.failures[0];
  assert.equal(failure.kind, 'unresponsive');
  assert.match(failure.message, /no answer to the watchdog within 300 ms/);
  const tookMs = failure.at - started;
  assert.ok(tookMs >= 300 && tookMs < 50 + 300 + 200, `took ${tookMs.toFixed(0)} ms`);
  assert.deepEqual(observed.messages, []);
  await tick(50);
  assert.equal(observed.failures.length, 1, 'reported once');
});

test('a load that never finishes times out', async (t) => {
  const { worker } = spawn(t, `${C_LOOP} return function() end`, { loadTimeoutMs: 300 });
  await assert.rejects(worker.load(), /did not load within 300 ms/);
});

test('a thread that dies is reported as crashed; one terminated on purpose is not reported', async (t) => {
  const crashing = spawn(t, '{}', { workerUrl: FAKE_WORKER });
  await crashing.worker.load();
  crashing.worker.send({ type: 'start', call: call('c1'), args: { do: 'crash' } });
  await until(() => crashing.observed.failures.length > 0, 'the crash');
  assert.equal(crashing.observed.failures[0].kind, 'crashed');
  assert.match(crashing.observed.failures[0].message, /fake worker crashed/);

  const stopped = spawn(t, 'return function() end');
  await stopped.worker.load();
  await stopped.worker.terminate();
  stopped.worker.send({ type: 'start', call: call('c2'), args: null });
  await tick(150);
  assert.deepEqual(stopped.observed.failures, []);
  assert.deepEqual(stopped.observed.messages, []);
});
