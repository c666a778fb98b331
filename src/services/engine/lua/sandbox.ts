// Builds a service's sandbox in a fresh Lua state: the safe libraries, then lua/prelude.lua, which
// strips the globals and hands back the host's private functions (kept in the registry, out of reach).
import { LUA_REGISTRYINDEX, LuaStatus, type LuaExports, type LuaState } from './lua-api.js';
import type { LuaValues } from './lua-values.js';

/** Registry references to what the prelude returned. */
export interface PreludeRefs {
  /** table: `aborting` is set while a resume is being stopped for overrunning its budget */
  guard: bigint;
  /** spawn(fn, id, domain, caller, callerName, dialled) -> coroutine, call object */
  spawn: bigint;
  /** a full garbage collection */
  collect: bigint;
}

const HOST_NAME = /^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/;

/** The first host function name that is not `table.function`, if any. */
export function invalidHostName(names: readonly string[]): string | undefined {
  return names.find((name) => !HOST_NAME.test(name));
}

export function buildSandbox(lua: LuaExports, values: LuaValues, L: LuaState, prelude: string, hostNames: readonly string[]): PreludeRefs {
  const libraries: [(L: LuaState) => number, string][] = [
    [lua._luaopen_base, '_G'],
    [lua._luaopen_table, 'table'],
    [lua._luaopen_string, 'string'],
    [lua._luaopen_math, 'math'],
    [lua._luaopen_utf8, 'utf8'],
    [lua._luaopen_coroutine, 'coroutine'],
    // the prelude keeps os.time, clock, date and difftime and drops the rest
    [lua._luaopen_os, 'os'],
  ];
  for (const [open, name] of libraries) {
    open(L);
    lua._lua_setglobal(L, values.cString(name));
  }

  const source = lua._malloc(prelude.length * 3 + 1);
  try {
    const length = lua.stringToUTF8(prelude, source, prelude.length * 3 + 1);
    check(L, values, lua._luaL_loadbufferx(L, source, length, values.cString('=prelude'), 0), 'loading');
  } finally {
    lua._free(source);
  }
  check(L, values, lua._lua_pcallk(L, 0, 1, 0, 0, 0), 'running');

  const field = (name: string): bigint => {
    lua._lua_getfield(L, -1, values.cString(name));
    return BigInt(lua._luaL_ref(L, LUA_REGISTRYINDEX));
  };
  const refs: PreludeRefs = { guard: field('guard'), spawn: field('spawn'), collect: field('collect') };
  lua._lua_getfield(L, -1, values.cString('defineHost'));
  values.push(L, hostNames as string[]);
  check(L, values, lua._lua_pcallk(L, 1, 0, 0, 0, 0), 'running defineHost of');
  lua._lua_settop(L, -2);
  return refs;
}

/** The prelude is ours: an error in it is a bug, not a script's failure. */
function check(L: LuaState, values: LuaValues, status: number, doing: string): void {
  if (status !== LuaStatus.Ok) throw new Error(`${doing} the Lua prelude failed: ${values.readString(L, -1)}`);
}
