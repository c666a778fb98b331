// What a service script can reach: the safe standard library and its host functions, nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LuaWorkerHarness } from './lua-worker-harness.js';

const STANDARD_FUNCTIONS = [
  'assert', 'collectgarbage', 'error', 'getmetatable', 'ipairs', 'load', 'next', 'pairs', 'pcall', 'print', 'rawequal', 'rawget',
  'rawlen', 'rawset', 'select', 'setmetatable', 'tonumber', 'tostring', 'type', 'xpcall',
  'coroutine.close', 'coroutine.create', 'coroutine.isyieldable', 'coroutine.resume', 'coroutine.running', 'coroutine.status',
  'coroutine.wrap', 'coroutine.yield',
  'math.abs', 'math.acos', 'math.asin', 'math.atan', 'math.ceil', 'math.cos', 'math.deg', 'math.exp', 'math.floor', 'math.fmod',
  'math.log', 'math.max', 'math.min', 'math.modf', 'math.rad', 'math.random', 'math.randomseed', 'math.sin', 'math.sqrt',
  'math.tan', 'math.tointeger', 'math.type', 'math.ult',
  'os.clock', 'os.date', 'os.difftime', 'os.time',
  'string.byte', 'string.char', 'string.find', 'string.format', 'string.gmatch', 'string.gsub', 'string.len', 'string.lower',
  'string.match', 'string.pack', 'string.packsize', 'string.rep', 'string.reverse', 'string.sub', 'string.unpack', 'string.upper',
  'table.concat', 'table.insert', 'table.move', 'table.pack', 'table.remove', 'table.sort', 'table.unpack',
  'utf8.char', 'utf8.codepoint', 'utf8.codes', 'utf8.len', 'utf8.offset',
];
const HOST_FUNCTIONS = ['log.info', 'voicemail.count', 'voicemail.save'];

test('every function a script can reach is a standard one or a host function; no JS object is reachable', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    return function(call)
      local functions, others, seen = {}, {}, {}
      local function walk(value, path)
        local kind = type(value)
        if kind == 'function' then functions[#functions + 1] = path
        elseif kind == 'userdata' or kind == 'thread' then others[#others + 1] = path .. ':' .. kind
        elseif kind == 'table' and not seen[value] then
          seen[value] = true
          for key, inner in pairs(value) do walk(inner, path == '' and tostring(key) or path .. '.' .. tostring(key)) end
          local meta = getmetatable(value)
          if meta ~= nil then walk(meta, path .. '<meta>') end
        end
      end
      walk(_G, '')
      walk(getmetatable(''), 'string<meta>')
      walk(call, 'call')
      table.sort(functions)
      return {
        functions = functions,
        others = table.concat(others, ', '),
        callMeta = getmetatable(call),
        stringIndex = getmetatable('').__index == string,
      }
    end`);
  t.after(() => harness.close());
  const result = (await harness.result('c1')) as { functions: string[]; others: string; callMeta: unknown; stringIndex: unknown };
  const reachable = result.functions.filter((path) => !path.startsWith('string<meta>'));
  assert.deepEqual(reachable, [...STANDARD_FUNCTIONS, ...HOST_FUNCTIONS].sort());
  assert.equal(result.others, '', 'no userdata (a JS object) or thread anywhere');
  assert.equal(result.callMeta, false, "the call object's metatable is hidden");
  // strings' metatable: __index is the string table walked above, and Lua 5.4's arithmetic on strings
  assert.equal(result.stringIndex, true);
  assert.deepEqual(
    result.functions.filter((path) => path.startsWith('string<meta>')),
    ['__add', '__div', '__idiv', '__mod', '__mul', '__pow', '__sub', '__unm'].map((name) => `string<meta>.${name}`),
  );
});

test('the ways out of the sandbox are absent or refused with an error the script sees', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    local function refused(f, ...)
      local ok, err = pcall(f, ...)
      return ok and 'allowed' or err
    end
    return function(call)
      setmetatable(_G, { __index = function(_, name) return nil end })
      return {
        absent = { os.exit == nil, os.execute == nil, os.getenv == nil, os.remove == nil, io == nil, debug == nil, require == nil,
                   package == nil, dofile == nil, loadfile == nil, string.dump == nil, ('').dump == nil, null == nil },
        binary = select(2, load('\\27LuaT\\0\\25\\147\\r\\n\\26\\n')),
        binaryMode = refused(load, 'return 1', 'chunk', 'b'),
        reader = refused(load, function() return nil end),
        collect = refused(collectgarbage, 'collect'),
        collectDefault = refused(collectgarbage),
        count = math.type(collectgarbage('count')),
        finalizer = refused(setmetatable, {}, { __gc = function() end }),
      }
    end`);
  t.after(() => harness.close());
  assert.deepEqual(await harness.result('c1'), {
    absent: new Array(13).fill(true),
    binary: "attempt to load a binary chunk (mode is 't')",
    binaryMode: 'load: only text chunks can be loaded (mode "t")',
    reader: 'load: only a string of Lua source can be loaded',
    collect: 'collectgarbage: only "count" is allowed',
    collectDefault: 'collectgarbage: only "count" is allowed',
    count: 'float',
    finalizer: 'setmetatable: __gc metamethods are not allowed',
  });
});

test('load runs text in the sandbox globals, or in the env it is given', async (t) => {
  const harness = await LuaWorkerHarness.loaded(`
    greeting = 'hello'
    return function(call)
      return { load('return greeting')(), load('return greeting', 'chunk', 't', { greeting = 'own env' })(), select(2, load('return +')) }
    end`);
  t.after(() => harness.close());
  assert.deepEqual(await harness.result('c1'), ['hello', 'own env', `[string "return +"]:1: unexpected symbol near '+'`]);
});

test('print writes nothing to the worker stdout, with or without log.info', async (t) => {
  for (const host of [['call.answer'], ['log.info']]) {
    const harness = await LuaWorkerHarness.loaded('print("top level") return function(call) print("in a call") return 1 end', { host });
    t.after(() => harness.close());
    await harness.run('c1');
    await harness.ping();
    assert.equal(harness.stdout, '', `host ${host.join(',')}`);
  }
});
