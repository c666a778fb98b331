-- The sandbox a service script runs in, and the glue between its calls and the host.
--
-- The worker runs this once, before the script, with base, table, string, math, utf8, coroutine and os
-- open. It keeps what the host needs as upvalues (out of a script's reach: there is no debug library),
-- cuts the globals down to the sandbox, and returns the host's private interface.
--
-- A host call is a yield of the call's own coroutine: coroutine.yield(index, args...) reaches the worker,
-- which sends the request and resumes the coroutine with (true, value) or (false, message) on the reply.

local rawerror, rawpcall, rawxpcall, rawsetmetatable = error, pcall, xpcall, setmetatable
local rawequal, rawget, rawtype, select, tostring = rawequal, rawget, type, select, tostring
local rawload, collect = load, collectgarbage
local create, resume, running, yield, close, isyieldable =
  coroutine.create, coroutine.resume, coroutine.running, coroutine.yield, coroutine.close, coroutine.isyieldable
local concat = table.concat
local sandbox = _G

-- Set by the worker's instruction-count hook when a resume overruns its event budget: from then on
-- no pcall, xpcall or coroutine.resume may swallow the error, so the coroutine ends whatever it does.
local guard = { aborting = false }

local function unlessAborting(...)
  if guard.aborting then rawerror(guard.aborting, 0) end
  return ...
end

pcall = function(f, ...) return unlessAborting(rawpcall(f, ...)) end
xpcall = function(f, handler, ...) return unlessAborting(rawxpcall(f, handler, ...)) end
coroutine.resume = function(co, ...) return unlessAborting(resume(co, ...)) end
coroutine.close = function(co) return unlessAborting(close(co)) end

-- each call's coroutine -> its call object; weak, so a dropped call's coroutine can be collected
local callOf = rawsetmetatable({}, { __mode = 'k' })

local OUTSIDE = "host functions can only be called from the call's own code, not inside a coroutine you created"
local INSIDE_C = 'host functions cannot be called from a function that table.sort, string.gsub or a metamethod called'

coroutine.yield = function(...)
  if callOf[running()] ~= nil then
    rawerror("coroutine.yield can only be used inside a coroutine you created", 2)
  end
  return yield(...)
end

load = function(chunk, chunkName, mode, env)
  if rawtype(chunk) ~= 'string' then rawerror('load: only a string of Lua source can be loaded', 2) end
  if mode ~= nil and mode ~= 't' then rawerror('load: only text chunks can be loaded (mode "t")', 2) end
  if env == nil then env = sandbox end
  return rawload(chunk, chunkName, 't', env)
end

collectgarbage = function(option)
  if option == 'count' then return collect('count') end
  rawerror('collectgarbage: only "count" is allowed', 2)
end

-- A finalizer would run outside any call, with the instruction hook off: nothing could stop it.
setmetatable = function(t, mt)
  if rawtype(mt) == 'table' and rawget(mt, '__gc') ~= nil then
    rawerror('setmetatable: __gc metamethods are not allowed', 2)
  end
  return rawsetmetatable(t, mt)
end

dofile, loadfile, require, warn = nil, nil, nil, nil
string.dump = nil
local stdOs = os
os = { time = stdOs.time, clock = stdOs.clock, date = stdOs.date, difftime = stdOs.difftime }

-- print goes to the host's log.info when it has one; nowhere else (never to stdout)
local logInfo = nil

local function joined(...)
  local n = select('#', ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  return concat(parts, '\t')
end

print = function(...)
  if logInfo ~= nil and callOf[running()] ~= nil and isyieldable() then logInfo(joined(...)) end
end

local function hostFunction(index)
  return function(...)
    if callOf[running()] == nil then rawerror(OUTSIDE, 2) end
    if not isyieldable() then rawerror(INSIDE_C, 2) end
    local ok, value = yield(index, ...)
    if ok then return value end
    rawerror(value, 2)
  end
end

local function hostMethod(index, method)
  local misuse = 'call.' .. method .. " is a method of the call: write call:" .. method .. '(...)'
  return function(self, ...)
    local owner = callOf[running()]
    if owner == nil then rawerror(OUTSIDE, 2) end
    if not rawequal(self, owner) then rawerror(misuse, 2) end
    if not isyieldable() then rawerror(INSIDE_C, 2) end
    local ok, value = yield(index, ...)
    if ok then return value end
    rawerror(value, 2)
  end
end

local methods = {}
local callMeta = { __index = methods, __metatable = false }

-- names: "call.answer", "log.info"...; the index of a name is what its stub yields to the worker
local function defineHost(names)
  for index, name in ipairs(names) do
    local prefix, short = name:match('^([%a_][%w_]*)%.([%a_][%w_]*)$')
    if prefix == 'call' then
      methods[short] = hostMethod(index, short)
    else
      local t = rawget(sandbox, prefix)
      if t == nil then
        t = {}
        sandbox[prefix] = t
      end
      t[short] = hostFunction(index)
    end
    if name == 'log.info' then logInfo = sandbox.log.info end
  end
end

local function spawn(main, id, domain, caller, callerName, dialled)
  local call = rawsetmetatable(
    { id = id, domain = domain, caller = caller, callerName = callerName, dialled = dialled }, callMeta)
  local co = create(main)
  callOf[co] = call
  return co, call
end

return {
  guard = guard,
  defineHost = defineHost,
  spawn = spawn,
  collect = function() collect('collect') end,
}
