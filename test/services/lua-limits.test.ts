// The event budget and the memory limit in a real worker: a runaway call fails alone and the VM
// goes on serving the others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHUNK, LuaWorkerHarness } from './lua-worker-harness.js';

const BUDGET_MS = 40;
const MEMORY_BYTES = 4 * 1024 * 1024;

/** A service whose `args` choose what the call does; 'ok' just finishes. */
const SERVICE = `
  local runaway = {
    spin = function() while true do end end,
    catch = function() while true do pcall(function() while true do end end) end end,
    xcatch = function() while true do xpcall(function() while true do end end, function(e) return e end) end end,
    resume = function() while true do coroutine.resume(coroutine.create(function() while true do end end)) end end,
    close = function()
      while true do
        pcall(function()
          local guard <close> = setmetatable({}, { __close = function() error('replaced') end })
          while true do end
        end)
      end
    end,
    sort = function()
      local t = {}
      for i = 1, 100 do t[i] = i end
      while true do pcall(table.sort, t, function(a, b) while true do end end) end
    end,
    allocate = function()
      local t = {}
      for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end
    end,
    recurse = function()
      local function f() return 1 + f() end
      return f()
    end,
    pcallRecurse = function()
      local function f() return pcall(f) end
      return f()
    end,
  }
  return function(call, what)
    if what == 'ok' then return 'ok' end
    if what == 'big' then
      local t = {}
      for i = 1, 2000 do t[i] = string.rep('y', 1000) .. i end
      return #t
    end
    call:answer()
    return runaway[what]()
  end`;

async function loaded(): Promise<LuaWorkerHarness> {
  return LuaWorkerHarness.loaded(SERVICE, { limits: { eventBudgetMs: BUDGET_MS, memoryBytes: 8 * 1024 * 1024 } });
}

/** Filling 4 MB takes this VM some 50 ms (every allocation passes through the JS allocator): the budget leaves room. */
async function loadedForMemory(): Promise<LuaWorkerHarness> {
  return LuaWorkerHarness.loaded(SERVICE, { limits: { eventBudgetMs: 2000, memoryBytes: MEMORY_BYTES } });
}

test('a resume that loops forever fails with timeout, and the next call finishes', async (t) => {
  const harness = await loaded();
  t.after(() => harness.close());
  const started = performance.now();
  const { end } = await harness.run('loop', 'spin');
  const elapsed = performance.now() - started;
  assert.equal(end.type === 'failed' && end.kind, 'timeout', JSON.stringify(end));
  assert.match(end.type === 'failed' ? end.error : '', new RegExp(`^${CHUNK}:3: the script ran longer than its ${BUDGET_MS} ms event budget\\nstack traceback:`));
  assert.ok(elapsed >= BUDGET_MS && elapsed < 1000, `took ${elapsed} ms`);
  assert.equal(await harness.result('next', 'ok'), 'ok');
});

test('the budget cannot be caught: pcall, xpcall, coroutine.resume, __close and C callbacks all fail with timeout', async (t) => {
  const harness = await loaded();
  t.after(() => harness.close());
  for (const what of ['catch', 'xcatch', 'resume', 'close', 'sort']) {
    const { end } = await harness.run(what, what);
    assert.equal(end.type === 'failed' && end.kind, 'timeout', `${what}: ${JSON.stringify(end)}`);
  }
  assert.equal(await harness.result('next', 'ok'), 'ok');
});

test('a call that allocates without bound fails with memory, and the VM has the memory back for the next call', async (t) => {
  const harness = await loadedForMemory();
  t.after(() => harness.close());
  const before = await harness.ping();
  const { end } = await harness.run('hog', 'allocate');
  assert.equal(end.type === 'failed' && end.kind, 'memory', JSON.stringify(end));
  assert.match(end.type === 'failed' ? end.error : '', /^not enough memory: the service's Lua memory is limited to 4194304 bytes\nstack traceback:/);
  const after = await harness.ping(2);
  assert.ok(after < before + 512 * 1024, `memory ${before} before, ${after} after`);
  // about 2 MB: it fits only if most of the failed call's garbage is gone
  assert.equal(await harness.result('next', 'big'), 2000);
});

test('recursion without end fails the call, never the worker', async (t) => {
  const harness = await loadedForMemory();
  t.after(() => harness.close());
  for (const what of ['recurse', 'pcallRecurse']) {
    const { end } = await harness.run(what, what);
    if (end.type === 'failed') {
      assert.ok(end.kind === 'memory' || (end.kind === 'error' && /stack overflow/.test(end.error)), `${what}: ${JSON.stringify(end)}`);
    } else {
      // pcall(f) recursion ends when the C stack limit is reached: the innermost pcall returns false
      assert.equal(what, 'pcallRecurse');
    }
  }
  assert.equal(await harness.result('next', 'ok'), 'ok');
});
