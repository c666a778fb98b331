// Values crossing between Lua stacks and the host: HostValue (JSON-like data) both ways, strings as
// UTF-8 through one reused buffer in the WebAssembly memory.
import type { HostValue } from '../protocol.js';
import { type LuaExports, type LuaState, LuaType } from './lua-api.js';

/** A Lua value that has no HostValue form; `path` names where it sits inside the value ("menu[2].action"). */
export class BoundaryError extends Error {
  constructor(
    readonly what: string,
    readonly path = '',
  ) {
    super(`${path === '' ? '' : `field ${path}: `}${what} cannot be sent to the host`);
  }

  inside(key: string | number): BoundaryError {
    const step = typeof key === 'number' ? `[${key}]` : key;
    const rest = this.path === '' || this.path.startsWith('[') ? this.path : `.${this.path}`;
    return new BoundaryError(this.what, step + rest);
  }
}

const TYPE_NAMES = ['nil', 'boolean', 'userdata', 'number', 'string', 'table', 'function', 'userdata', 'thread'];

/** Tables nest at most this deep on the way to the host: deeper is almost surely a mistake. */
const MAX_DEPTH = 64;
const INITIAL_BUFFER_BYTES = 1024;

/** How Lua prints it: inf, -inf, nan. */
function luaNumberText(number: number): string {
  return Number.isNaN(number) ? 'nan' : number > 0 ? 'inf' : '-inf';
}

export function luaTypeName(type: number): string {
  return TYPE_NAMES[type] ?? 'value';
}

export class LuaValues {
  private readonly decoder = new TextDecoder();
  private readonly lengthSlot: number;
  private buffer: number;
  private bufferBytes = INITIAL_BUFFER_BYTES;
  /** tables being read, to refuse a table that contains itself */
  private readonly open = new Set<number>();

  constructor(private readonly lua: LuaExports) {
    this.lengthSlot = lua._malloc(4);
    this.buffer = lua._malloc(this.bufferBytes);
  }

  /** Reads the value at `index` of L's stack; throws BoundaryError for what has no HostValue form. */
  read(L: LuaState, index: number): HostValue {
    const top = this.lua._lua_gettop(L);
    this.open.clear();
    try {
      return this.readAt(L, index < 0 ? top + index + 1 : index, 0);
    } finally {
      this.lua._lua_settop(L, top);
    }
  }

  /** The string (or number, converted in place) at `index`. */
  readString(L: LuaState, index: number): string {
    const lua = this.lua;
    const bytes = lua._lua_tolstring(L, index, this.lengthSlot);
    const length = lua.HEAPU32[this.lengthSlot >> 2];
    return this.decoder.decode(lua.HEAPU8.subarray(bytes, bytes + length));
  }

  push(L: LuaState, value: HostValue): void {
    const lua = this.lua;
    switch (typeof value) {
      case 'string':
        this.pushString(L, value);
        return;
      case 'number':
        if (Number.isSafeInteger(value)) lua._lua_pushinteger(L, BigInt(value));
        else lua._lua_pushnumber(L, value);
        return;
      case 'boolean':
        lua._lua_pushboolean(L, value ? 1 : 0);
        return;
    }
    if (value === null || value === undefined) {
      lua._lua_pushnil(L);
      return;
    }
    if (lua._lua_checkstack(L, 3) === 0) throw new Error('the Lua stack cannot grow');
    if (Array.isArray(value)) {
      lua._lua_createtable(L, value.length, 0);
      for (let i = 0; i < value.length; i++) {
        this.push(L, value[i]);
        lua._lua_rawseti(L, -2, BigInt(i + 1));
      }
      return;
    }
    const keys = Object.keys(value);
    lua._lua_createtable(L, 0, keys.length);
    for (const key of keys) {
      this.pushString(L, key);
      this.push(L, value[key]);
      lua._lua_rawset(L, -3);
    }
  }

  pushString(L: LuaState, value: string): void {
    const length = this.write(value);
    this.lua._lua_pushlstring(L, this.buffer, length);
  }

  /** `value` NUL-terminated in the shared buffer, valid until the next write. */
  cString(value: string): number {
    this.write(value);
    return this.buffer;
  }

  /** A NUL-terminated copy of `value` that stays (for names used on every call). */
  permanentCString(value: string): number {
    const length = this.write(value);
    const copy = this.lua._malloc(length + 1);
    this.lua.HEAPU8.copyWithin(copy, this.buffer, this.buffer + length + 1);
    return copy;
  }

  /** Writes UTF-8 and a NUL into the buffer, growing it when needed; returns the byte length. */
  private write(value: string): number {
    const lua = this.lua;
    // UTF-16 code units take at most 3 bytes each in UTF-8
    const worstCase = value.length * 3 + 1;
    if (worstCase > this.bufferBytes) {
      lua._free(this.buffer);
      this.bufferBytes = Math.max(worstCase, this.bufferBytes * 2);
      this.buffer = lua._malloc(this.bufferBytes);
    }
    // ASCII (ids, numbers, field names: nearly every string) byte by byte; emscripten's encoder builds
    // an assertion message on every call
    const heap = lua.HEAPU8;
    const start = this.buffer;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) return lua.stringToUTF8(value, start, this.bufferBytes);
      heap[start + i] = code;
    }
    heap[start + value.length] = 0;
    return value.length;
  }

  private readAt(L: LuaState, index: number, depth: number): HostValue {
    const lua = this.lua;
    const type = lua._lua_type(L, index);
    switch (type) {
      case LuaType.Nil:
        return null;
      case LuaType.Boolean:
        return lua._lua_toboolean(L, index) !== 0;
      case LuaType.Number: {
        // messages cross as JSON (thread-channel.ts), which has no form for these
        const number = lua._lua_tonumberx(L, index, 0);
        if (!Number.isFinite(number)) throw new BoundaryError(`a number that is not finite (${luaNumberText(number)})`);
        return number;
      }
      case LuaType.String:
        return this.readString(L, index);
      case LuaType.Table:
        return this.readTable(L, index, depth);
      default:
        throw new BoundaryError(`a ${luaTypeName(type)}`);
    }
  }

  /** Keys 1..n exactly make an array; any other table is an object with string keys. */
  private readTable(L: LuaState, index: number, depth: number): HostValue {
    const lua = this.lua;
    const identity = lua._lua_topointer(L, index);
    if (this.open.has(identity)) throw new BoundaryError('a table that contains itself');
    if (depth >= MAX_DEPTH) throw new BoundaryError(`a table nested more than ${MAX_DEPTH} deep`);
    if (lua._lua_checkstack(L, 3) === 0) throw new Error('the Lua stack cannot grow');
    this.open.add(identity);
    const keys: (string | number)[] = [];
    const values: HostValue[] = [];
    let sequence = true;
    let largest = 0;
    lua._lua_pushnil(L);
    while (lua._lua_next(L, index) !== 0) {
      const key = this.readKey(L);
      if (typeof key === 'string' || !Number.isInteger(key) || key < 1) sequence = false;
      else if (key > largest) largest = key;
      try {
        values.push(this.readAt(L, lua._lua_gettop(L), depth + 1));
      } catch (err) {
        throw err instanceof BoundaryError ? err.inside(key) : err;
      }
      keys.push(key);
      lua._lua_settop(L, -2);
    }
    this.open.delete(identity);
    // distinct integer keys from 1 whose largest is their count are exactly 1..n
    if (sequence && keys.length > 0 && largest === keys.length) {
      const array: HostValue[] = new Array<HostValue>(keys.length);
      for (let i = 0; i < keys.length; i++) array[(keys[i] as number) - 1] = values[i];
      return array;
    }
    const object: { [key: string]: HostValue } = {};
    for (let i = 0; i < keys.length; i++) object[String(keys[i])] = values[i];
    return object;
  }

  /** The key under the value lua_next pushed; never converted in place, which would confuse lua_next. */
  private readKey(L: LuaState): string | number {
    const type = this.lua._lua_type(L, -2);
    if (type === LuaType.String) return this.readString(L, -2);
    if (type === LuaType.Number) return this.lua._lua_tonumberx(L, -2, 0);
    throw new BoundaryError(`a table with a ${luaTypeName(type)} key`);
  }
}
