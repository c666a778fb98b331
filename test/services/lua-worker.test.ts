// The Lua worker over its protocol, in real worker threads: loading, calls as coroutines, host calls,
// values both ways, completion and failure, drop and ping.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CallInfo, ToWorker } from '../../src/services/engine/protocol.js';
import { CHUNK, LuaWorkerHarness } from './lua-worker-harness.js';

const OUTSIDE = "host functions can only be called from the call's own code, not inside a coroutine you created";

test('load answers loaded, and ping answers pong with the Lua memory in use', async (t) => {
  const harness = await LuaWorkerHarness.loaded('return function(call) end');
  t.after(() => harness.close());
  const memory = await harness.ping(7);
  assert.ok(memory > 10_000 && memory < 1_000_000, `memory ${memory}`);
});

test('before its load a worker fails calls; it loads once; host names must be table.function', async (t) => {
  const harness = new LuaWorkerHarness();
  t.after(() => harness.close());
  assert.equal(await harness.ping(), 0);
  harness.start('early');
  assert.deepEqual(await harness.next(), { type: 'failed', callId: 'early', kind: 'error', error: 'no script is loaded in this worker' });
  assert.deepEqual(await harness.load('return function() end'), { type: 'loaded' });
  assert.deepEqual(await harness.load('return function() end'), { type: 'load-failed', error: `${CHUNK}: this worker has already loaded its script` });
  const error = await LuaWorkerHarness.loadError('return function() end', { host: ['call.answer', 'hangup'] });
  assert.equal(error, 'host function name "hangup" is not table.function');
});

test('a syntax error fails the load with the chunk name and line', async () => {
  const error = await LuaWorkerHarness.loadError('local x = 1\nlocal = 2\nreturn function() end');
  assert.match(error, /^lua\/services\/test\.lua:2: .*near '='/);
});

test('a script that does not return a function fails the load, naming what it returned', async () => {
  assert.equal(await LuaWorkerHarness.loadError('return 42'), `${CHUNK}: the script must return a function(call, args), it returned a number`);
  assert.equal(await LuaWorkerHarness.loadError('local x = 1'), `${CHUNK}: the script must return a function(call, args), it returned nothing`);
});

test('a runtime error at the top level fails the load at its line', async () => {
  const error = await LuaWorkerHarness.loadError('local t = nil\nlocal y = t.x\nreturn function() end');
  assert.match(error, /^lua\/services\/test\.lua:2: attempt to index a nil value \(local 't'\)/);
});

test('top-level code that never ends is stopped by the event budget and fails the load', async () => {
  const started = performance.now();
  const error = await LuaWorkerHarness.loadError('local n = 0\nwhile true do n = n + 1 end\nreturn function() end', { limits: { eventBudgetMs: 40 } });
  assert.match(error, /^lua\/services\/test\.lua:2: the script ran longer than its 40 ms event budget/);
  assert.ok(performance.now() - started < 2000);
});

test('a host call at the top level is refused: there is no call yet', async () => {
  const error = await LuaWorkerHarness.loadError('voicemail.count("x")\nreturn function() end');
  assert.equal(error, `${CHUNK}:1: ${OUTSIDE}`);
});

test('a call runs fn(call, args) with the call fields and the args as Lua values', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call, args)
      return { call.id, call.domain, call.caller, call.callerName, call.dialled, args.greeting, #args.digits, math.type(args.n) }
    end`);
  t.after(() => harness.close());
  const result = await harness.result('c1', { greeting: 'hi', digits: [1, 2, 3], n: 5 });
  assert.deepEqual(result, ['c1', 'example.com', '1001', 'Alice', '2000', 'hi', 3, 'integer']);
});

test('call methods and table functions become requests; the reply is what the host call returns', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call, args)
      local answered = call:answer(180, 'ringing')
      local saved = voicemail.save({ box = '2000' })
      local count = voicemail.count('2000')
      return { answered = answered, saved = saved, count = count }
    end`);
  t.after(() => harness.close());
  const replies: Record<string, unknown> = { 'call.answer': true, 'voicemail.save': 'msg-1', 'voicemail.count': 3 };
  const { end, requests } = await harness.run('c1', null, (request) => replies[request.name] as string);
  assert.deepEqual(
    requests.map((r) => [r.name, r.args]),
    [
      ['call.answer', [180, 'ringing']],
      ['voicemail.save', [{ box: '2000' }]],
      ['voicemail.count', ['2000']],
    ],
  );
  assert.deepEqual(end, { type: 'finished', callId: 'c1', result: { answered: true, saved: 'msg-1', count: 3 } });
  const ids = requests.map((r) => r.requestId);
  assert.equal(new Set(ids).size, ids.length, 'request ids are distinct');
});

test('calls interleave: each waits in its own coroutine for its own reply', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call)
      local first = call:answer()
      local second = call:play(first)
      return call.id .. ':' .. first .. ':' .. second
    end`);
  t.after(() => harness.close());
  harness.start('a');
  harness.start('b');
  const a1 = await harness.nextRequest('a');
  const b1 = await harness.nextRequest('b');
  harness.answer(b1, 'B1');
  const b2 = await harness.nextRequest('b');
  assert.deepEqual(b2.args, ['B1']);
  harness.answer(a1, 'A1');
  const a2 = await harness.nextRequest('a');
  assert.deepEqual(a2.args, ['A1']);
  harness.answer(a2, 'A2');
  assert.deepEqual(await harness.next(), { type: 'finished', callId: 'a', result: 'a:A1:A2' });
  harness.answer(b2, 'B2');
  assert.deepEqual(await harness.next(), { type: 'finished', callId: 'b', result: 'b:B1:B2' });
});

test('a start for a call id already running is refused; the running call goes on', async (t) => {
  const harness = await LuaWorkerHarness.loaded('return function(call) return call:answer() end');
  t.after(() => harness.close());
  harness.start('c1');
  const request = await harness.nextRequest('c1');
  harness.start('c1');
  assert.deepEqual(await harness.next(), { type: 'failed', callId: 'c1', kind: 'error', error: 'call c1 is already running in this service' });
  harness.answer(request, 'still here');
  assert.deepEqual(await harness.next(), { type: 'finished', callId: 'c1', result: 'still here' });
});

test('a failed host call raises its error at the script line, and pcall catches it', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call)
      local ok, err = pcall(function()
        call:play('missing')
      end)
      return { ok, err }
    end`);
  t.after(() => harness.close());
  const result = await harness.result('c1', null, () => ({ error: 'call.play: no such prompt' }));
  assert.deepEqual(result, [false, `${CHUNK}:4: call.play: no such prompt`]);
});

test('an error the script does not catch fails the call with chunk:line and a traceback', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    local function greet(call)
      call:play('hello')
    end
    return function(call)
      greet(call)
    end`);
  t.after(() => harness.close());
  const { end } = await harness.run('c1', null, () => ({ error: 'call.play: the call has ended' }));
  assert.equal(end.type, 'failed');
  assert.equal(end.type === 'failed' && end.kind, 'error');
  const [message, ...trace] = (end.type === 'failed' ? end.error : '').split('\n');
  assert.equal(message, `${CHUNK}:3: call.play: the call has ended`);
  assert.equal(trace[0], 'stack traceback:');
  assert.ok(trace.some((line) => line.includes(`${CHUNK}:3: in `)), trace.join('\n'));
  assert.ok(trace.some((line) => line.includes(`${CHUNK}:6: in function <${CHUNK}:5>`)), trace.join('\n'));
});

test('Lua values cross as host values: arrays for 1..n, objects otherwise, nil as null', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call)
      call:play({ 'a', 'b', 'c' }, { x = 1, y = { true, false } }, { [1] = 'one', [3] = 'three' }, nil, 2.5, {}, 'é\\0z')
      return nil
    end`);
  t.after(() => harness.close());
  const { end, requests } = await harness.run('c1');
  assert.deepEqual(requests[0].args, [['a', 'b', 'c'], { x: 1, y: [true, false] }, { 1: 'one', 3: 'three' }, null, 2.5, {}, 'é\0z']);
  assert.deepEqual(end, { type: 'finished', callId: 'c1', result: null });
});

test('a value that cannot cross is an error at the call site naming the argument', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call)
      local results = {}
      results[1] = select(2, pcall(function() call:play('ok', function() end) end))
      results[2] = select(2, pcall(function() call:play({ menu = { { action = coroutine.create(print) } } }) end))
      local loop = {}
      loop.self = loop
      results[3] = select(2, pcall(function() voicemail.save(loop) end))
      results[4] = select(2, pcall(function() voicemail.save({ [true] = 1 }) end))
      results[5] = select(2, pcall(function() call:play('ok', { timeout = math.huge }) end))
      results[6] = select(2, pcall(function() call:play(0/0) end))
      return results
    end`);
  t.after(() => harness.close());
  const { end, requests } = await harness.run('c1');
  assert.equal(requests.length, 0, 'nothing that fails to cross reaches the host');
  assert.deepEqual(end, {
    type: 'finished',
    callId: 'c1',
    result: [
      `${CHUNK}:4: argument 2 of call.play: a function cannot be sent to the host`,
      `${CHUNK}:5: argument 1 of call.play: field menu[1].action: a thread cannot be sent to the host`,
      `${CHUNK}:8: argument 1 of voicemail.save: field self: a table that contains itself cannot be sent to the host`,
      `${CHUNK}:9: argument 1 of voicemail.save: a table with a boolean key cannot be sent to the host`,
      `${CHUNK}:10: argument 2 of call.play: field timeout: a number that is not finite (inf) cannot be sent to the host`,
      `${CHUNK}:11: argument 1 of call.play: a number that is not finite (nan) cannot be sent to the host`,
    ],
  });
});

test('host values cross into Lua: objects and arrays as tables, null as nil', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call)
      local v = call:answer()
      return { #v.list, v.list[2], v.obj.gone == nil, v.obj.flag, math.type(v.int), math.type(v.float), v.text, v.big }
    end`);
  t.after(() => harness.close());
  const result = await harness.result('c1', null, () => ({
    list: [10, 20, 30],
    obj: { gone: null, flag: true },
    int: 7,
    float: 7.5,
    text: 'ünïcode ✓',
    big: 'x'.repeat(5000),
  }));
  assert.deepEqual(result, [3, 20, true, true, 'integer', 'float', 'ünïcode ✓', 'x'.repeat(5000)]);
});

test('the result is the first return value; a function result fails the call', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call, args)
      if args == 'fn' then return print end
      return 'first', 'second'
    end`);
  t.after(() => harness.close());
  assert.equal(await harness.result('c1'), 'first');
  const { end } = await harness.run('c2', 'fn');
  assert.deepEqual(end, { type: 'failed', callId: 'c2', kind: 'error', error: `${CHUNK}: the service's result: a function cannot be sent to the host` });
});

test("the script's own coroutines work, but a host call inside one is refused", async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call)
      local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i * 10) end end)
      local sum = gen() + gen() + gen()
      local co = coroutine.create(function() call:answer() end)
      local ok, err = coroutine.resume(co)
      local yielded, yieldErr = pcall(coroutine.yield, 1)
      return { sum, ok, err, yielded, yieldErr }
    end`);
  t.after(() => harness.close());
  const { end, requests } = await harness.run('c1');
  assert.equal(requests.length, 0);
  assert.deepEqual(end, {
    type: 'finished',
    callId: 'c1',
    result: [60, false, `${CHUNK}:5: ${OUTSIDE}`, false, 'coroutine.yield can only be used inside a coroutine you created'],
  });
});

test('a method called with a dot instead of a colon is an error that says so', async (t) => {
  const harness = await LuaWorkerHarness.loaded('return function(call) call.answer() end');
  t.after(() => harness.close());
  const { end } = await harness.run('c1');
  assert.equal(end.type === 'failed' && end.error.split('\n')[0], `${CHUNK}:1: call.answer is a method of the call: write call:answer(...)`);
});

test('print goes to log.info as a request, tab-separated', async (t) => {
  const harness = await LuaWorkerHarness.loaded('return function(call) print("dialled", call.dialled, nil, 1.5) return 1 end');
  t.after(() => harness.close());
  const { end, requests } = await harness.run('c1');
  assert.deepEqual(
    requests.map((r) => [r.name, r.args]),
    [['log.info', ['dialled\t2000\tnil\t1.5']]],
  );
  assert.equal(end.type, 'finished');
});

test('without log.info among the host functions, print is dropped', async (t) => {
  const harness = await LuaWorkerHarness.loaded('return function(call) print("lost") return "done" end', { host: ['call.answer'] });
  t.after(() => harness.close());
  const { end, requests } = await harness.run('c1');
  assert.deepEqual(requests, []);
  assert.deepEqual(end, { type: 'finished', callId: 'c1', result: 'done' });
});

test('drop forgets a waiting call: its late reply is ignored, other calls go on', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    local finished = 0
    return function(call, args)
      if args == 'count' then return finished end
      call:answer()
      finished = finished + 1
      return 'resumed'
    end`);
  t.after(() => harness.close());
  harness.start('gone');
  const request = await harness.nextRequest('gone');
  harness.send({ type: 'drop', callId: 'gone' });
  harness.answer(request, null);
  harness.send({ type: 'reply', callId: 'never-started', requestId: 99, ok: true, value: 1 });
  await harness.ping(1);
  assert.equal(await harness.result('counter', 'count'), 0, 'the dropped call was never resumed');
});

test('after a reply saying the caller hung up, what the call sends waits and crosses with the next message', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call, args)
      local digits = call:answer()
      if args == 'more' then call:play(digits) end
      return digits
    end`);
  t.after(() => harness.close());
  harness.start('live');
  harness.answer(await harness.nextRequest('live'), 'x');
  assert.deepEqual(await harness.next(), { type: 'finished', callId: 'live', result: 'x' });
  assert.equal(harness.batches.length, 0, 'messages of live calls cross alone');

  harness.start('gone');
  const question = await harness.nextRequest('gone');
  // in one postMessage, as the host's outbox sends them: the reply cannot have waited alone
  harness.send([
    { type: 'reply', callId: 'gone', requestId: question.requestId, callEnded: true, ok: true, value: '42' },
    { type: 'ping', seq: 1 },
  ] satisfies ToWorker[]);
  assert.deepEqual(await harness.next(), { type: 'finished', callId: 'gone', result: '42' });
  assert.equal((await harness.next()).type, 'pong');
  assert.deepEqual(harness.batches.map((batch) => batch.map((m) => m.type)), [['finished', 'pong']], 'the end crossed with the pong');

  harness.start('more', 'more');
  harness.answer(await harness.nextRequest('more'), '7', true);
  const hungUpAt = performance.now();
  const request = await harness.nextRequest('more');
  assert.deepEqual(request.args, ['7']);
  assert.ok(performance.now() - hungUpAt >= 10, 'with nothing else to cross, the request crossed after a few ms');
});

test('a reply to a request the call is not waiting for is ignored', async (t) => {
  const harness = await LuaWorkerHarness.loaded('return function(call) return call:answer() end');
  t.after(() => harness.close());
  harness.start('c1');
  const request = await harness.nextRequest('c1');
  harness.send({ type: 'reply', callId: 'c1', requestId: request.requestId + 1, ok: true, value: 'stale' });
  await harness.ping(2);
  harness.answer(request, 'fresh');
  assert.deepEqual(await harness.next(), { type: 'finished', callId: 'c1', result: 'fresh' });
});

test('an exception that is no Lua error ends the worker with a non-zero exit code', async () => {
  const harness = await LuaWorkerHarness.loaded('return function(call) end');
  // a start without a call reaches the VM code as a TypeError, like any broken state would
  harness.send({ type: 'start', call: null as unknown as CallInfo, args: null });
  const code = await harness.exited;
  assert.notEqual(code, 0);
  assert.match(harness.stderr, /the VM is unusable: TypeError/);
});
