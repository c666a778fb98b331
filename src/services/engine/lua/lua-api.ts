// The slice of the Lua C API the worker drives, called straight on wasmoon's WebAssembly exports: the
// per-call path then marshals nothing (wasmoon's cwrap wrappers build argument arrays on every call).
import { LuaFactory, type LuaWasm } from 'wasmoon';

/** A lua_State* (a thread) in the WebAssembly memory. */
export type LuaState = number;

export const LUA_REGISTRYINDEX = -1_000_000 - 1000;

export const enum LuaStatus {
  Ok = 0,
  Yield = 1,
  ErrorRun = 2,
  ErrorSyntax = 3,
  ErrorMemory = 4,
  ErrorInHandler = 5,
}

export const enum LuaType {
  Nil = 0,
  Boolean = 1,
  LightUserdata = 2,
  Number = 3,
  String = 4,
  Table = 5,
  Function = 6,
  Userdata = 7,
  Thread = 8,
}

export const LUA_MASKCOUNT = 8;

/** Pointers and size_t are 32-bit; lua_Integer is 64-bit, hence bigint. */
export interface LuaExports {
  _malloc(size: number): number;
  _free(pointer: number): void;
  _lua_gettop(L: LuaState): number;
  _lua_settop(L: LuaState, index: number): void;
  _lua_checkstack(L: LuaState, n: number): number;
  _lua_xmove(from: LuaState, to: LuaState, n: number): void;
  _lua_type(L: LuaState, index: number): number;
  _lua_toboolean(L: LuaState, index: number): number;
  _lua_tonumberx(L: LuaState, index: number, isNumber: number): number;
  _lua_tolstring(L: LuaState, index: number, length: number): number;
  _lua_tothread(L: LuaState, index: number): LuaState;
  _lua_topointer(L: LuaState, index: number): number;
  _lua_next(L: LuaState, index: number): number;
  _lua_pushnil(L: LuaState): void;
  _lua_pushboolean(L: LuaState, value: number): void;
  _lua_pushinteger(L: LuaState, value: bigint): void;
  _lua_pushnumber(L: LuaState, value: number): void;
  _lua_pushlstring(L: LuaState, bytes: number, length: number): number;
  _lua_createtable(L: LuaState, arrayCount: number, fieldCount: number): void;
  _lua_rawset(L: LuaState, index: number): void;
  _lua_rawseti(L: LuaState, index: number, n: bigint): void;
  _lua_rawgeti(L: LuaState, index: number, n: bigint): number;
  _lua_getfield(L: LuaState, index: number, key: number): number;
  _lua_setfield(L: LuaState, index: number, key: number): void;
  _lua_newthread(L: LuaState): LuaState;
  _lua_resume(L: LuaState, from: LuaState, nargs: number, nresults: number): number;
  _lua_pcallk(L: LuaState, nargs: number, nresults: number, handler: number, ctx: number, k: number): number;
  _lua_error(L: LuaState): number;
  _lua_sethook(L: LuaState, hook: number, mask: number, count: number): void;
  _luaL_ref(L: LuaState, table: number): number;
  _luaL_unref(L: LuaState, table: number, ref: number): void;
  _luaL_where(L: LuaState, level: number): void;
  _luaL_traceback(L: LuaState, L1: LuaState, message: number, level: number): void;
  _luaL_loadbufferx(L: LuaState, bytes: number, length: number, name: number, mode: number): number;
  _luaopen_base(L: LuaState): number;
  _luaopen_coroutine(L: LuaState): number;
  _luaopen_table(L: LuaState): number;
  _luaopen_string(L: LuaState): number;
  _luaopen_math(L: LuaState): number;
  _luaopen_utf8(L: LuaState): number;
  _luaopen_os(L: LuaState): number;
  _lua_setglobal(L: LuaState, name: number): void;
  stringToUTF8(value: string, pointer: number, maxBytes: number): number;
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  HEAPU32: Uint32Array;
  addFunction(fn: (...args: number[]) => unknown, signature: string): number;
}

export function luaExports(wasm: LuaWasm): LuaExports {
  return wasm.module as unknown as LuaExports;
}

/**
 * wasmoon's module with its exports bare. Its emscripten build wraps each export in a checking shim
 * that builds two assertion messages and an arguments object on every call: hundreds of calls per Lua
 * call (the allocator's too), measured at about a quarter of the worker's CPU per call. What the shim
 * checks (the runtime started, the export exists) holds once the module is loaded. wasmoon keeps its
 * instance to itself, so the instance is caught on its way out of WebAssembly.instantiate.
 */
export async function loadLuaWasm(): Promise<LuaWasm> {
  const instantiate = WebAssembly.instantiate;
  let exports: WebAssembly.Exports | undefined;
  const watching = async (...args: unknown[]): Promise<unknown> => {
    const result = await (instantiate as (...a: unknown[]) => Promise<WebAssembly.WebAssemblyInstantiatedSource | WebAssembly.Instance>)(...args);
    exports = 'instance' in result ? result.instance.exports : result.exports;
    return result;
  };
  WebAssembly.instantiate = watching as typeof WebAssembly.instantiate;
  let wasm: LuaWasm;
  try {
    wasm = await new LuaFactory().getLuaModule();
  } finally {
    WebAssembly.instantiate = instantiate;
  }
  if (exports === undefined) throw new Error('wasmoon did not instantiate its WebAssembly through WebAssembly.instantiate');
  const module = wasm.module as unknown as Record<string, unknown>;
  for (const name of Object.keys(module)) {
    const bare = name.startsWith('_') ? exports[name.slice(1)] : undefined;
    if (typeof bare === 'function') module[name] = bare;
  }
  return wasm;
}
