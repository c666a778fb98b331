// One service's Lua VM: the script's function, run for each call in a coroutine of its own. A host call
// yields the coroutine (see lua/prelude.lua); the reply resumes it. Every resume runs under the event
// budget (an instruction-count hook) and the memory limit, so one call's runaway code fails that call
// and leaves the VM serving the others.
//
// Lua errors never escape as exceptions: they are statuses turned into 'failed' messages. Whatever this
// class throws is a broken VM (a trap in the WebAssembly, a bug here), for the worker to die of.
import { LuaEngine, type LuaGlobal, type LuaWasm } from 'wasmoon';
import type { CallInfo, FailureKind, FromWorker, HostValue, VmLimits } from './protocol.js';
import { LUA_MASKCOUNT, LUA_REGISTRYINDEX, LuaStatus, LuaType, luaExports, type LuaExports, type LuaState } from './lua/lua-api.js';
import { BoundaryError, LuaValues, luaTypeName } from './lua/lua-values.js';
import { buildSandbox, invalidHostName, type PreludeRefs } from './lua/sandbox.js';

export type CallMessage = Extract<FromWorker, { callId: string }>;

export interface LuaVmScript {
  /** the file path errors show: "lua/services/ivr.lua" */
  chunkName: string;
  source: string;
  limits: VmLimits;
  /** "call.answer", "log.info"... */
  hostNames: readonly string[];
}

export type LoadOutcome = { ok: true; vm: LuaVm } | { ok: false; error: string };

export type ReplyOutcome = { ok: true; value: HostValue } | { ok: false; error: string };

/** Lua instructions between two looks at the clock: microseconds apart; the hook's cost is lost in the noise. */
const HOOK_INSTRUCTIONS = 1000;

interface CallSlot {
  id: string;
  thread: LuaState;
  /** registry reference that keeps the coroutine alive */
  ref: number;
  /** the host request it waits for; 0 while it runs */
  requestId: number;
}

export class LuaVm {
  private readonly lua: LuaExports;
  private readonly global: LuaGlobal;
  private readonly main: LuaState;
  private readonly values: LuaValues;
  private readonly calls = new Map<string, CallSlot>();
  private readonly resultCount: number;
  private readonly abortingKey: number;
  private readonly refs: PreludeRefs;
  private serviceFunction = 0n;
  private lastRequestId = 0;
  /** when the running resume must stop (performance.now() ms) */
  private deadline = Infinity;
  /** set by the hook once the running resume overran its budget */
  private abortMessage: string | undefined;

  /** Builds the sandbox and runs the script's top level, which must return the service function. */
  static load(wasm: LuaWasm, prelude: string, script: LuaVmScript, send: (message: CallMessage) => void): LoadOutcome {
    const badName = invalidHostName(script.hostNames);
    if (badName !== undefined) return { ok: false, error: `host function name "${badName}" is not table.function` };
    const vm = new LuaVm(wasm, prelude, script, send);
    const error = vm.compile();
    return error === undefined ? { ok: true, vm } : { ok: false, error };
  }

  private constructor(
    wasm: LuaWasm,
    prelude: string,
    private readonly script: LuaVmScript,
    private readonly send: (message: CallMessage) => void,
  ) {
    // proxies would hand JS objects to Lua; no standard libraries until the sandbox picks them
    const engine = new LuaEngine(wasm, { openStandardLibs: false, injectObjects: false, enableProxy: false, traceAllocations: true });
    this.lua = luaExports(wasm);
    this.global = engine.global;
    this.main = engine.global.address;
    this.values = new LuaValues(this.lua);
    this.resultCount = this.lua._malloc(4);
    this.abortingKey = this.values.permanentCString('aborting');
    // set before the sandbox creates any thread: a thread inherits the hook of the thread that creates it
    const hook = this.lua.addFunction((L: number) => this.onInstructions(L), 'vii');
    this.lua._lua_sethook(this.main, hook, LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
    this.refs = buildSandbox(this.lua, this.values, this.main, prelude, script.hostNames);
  }

  /** What the Lua allocator holds. */
  get memoryBytes(): number {
    return this.global.getMemoryUsed();
  }

  /** Runs `fn(call, args)` in a new coroutine, up to its first host request or its end. */
  start(call: CallInfo, args: HostValue): void {
    if (this.calls.has(call.id)) {
      this.send({ type: 'failed', callId: call.id, kind: 'error', error: `call ${call.id} is already running in this service` });
      return;
    }
    const { lua, main, values } = this;
    lua._lua_rawgeti(main, LUA_REGISTRYINDEX, this.refs.spawn);
    lua._lua_rawgeti(main, LUA_REGISTRYINDEX, this.serviceFunction);
    values.pushString(main, call.id);
    values.pushString(main, call.domain);
    values.pushString(main, call.caller);
    values.pushString(main, call.callerName);
    values.pushString(main, call.dialled);
    this.protectedCall(6, 2);
    const thread = lua._lua_tothread(main, -2);
    lua._lua_xmove(main, thread, 1);
    const slot: CallSlot = { id: call.id, thread, ref: lua._luaL_ref(main, LUA_REGISTRYINDEX), requestId: 0 };
    this.calls.set(call.id, slot);
    values.push(thread, args);
    this.run(slot, 2);
  }

  /** Resumes the call waiting for `requestId` with the host's answer; anything else is stale, ignored. */
  reply(callId: string, requestId: number, outcome: ReplyOutcome): void {
    const slot = this.calls.get(callId);
    if (slot === undefined || slot.requestId !== requestId) return;
    slot.requestId = 0;
    this.pushReply(slot.thread, outcome);
    this.run(slot, 2);
  }

  /** Forgets the call: its coroutine is never resumed again and goes with the next collection. */
  drop(callId: string): void {
    const slot = this.calls.get(callId);
    if (slot !== undefined) this.release(slot);
  }

  private compile(): string | undefined {
    const { lua, main, values, script } = this;
    const thread = lua._lua_newthread(main);
    const threadRef = lua._luaL_ref(main, LUA_REGISTRYINDEX);
    try {
      const source = lua._malloc(script.source.length * 3 + 1);
      let status: number;
      try {
        const length = lua.stringToUTF8(script.source, source, script.source.length * 3 + 1);
        // text only: a crafted binary chunk can crash the VM
        const mode = values.permanentCString('t');
        status = lua._luaL_loadbufferx(thread, source, length, values.cString(`@${script.chunkName}`), mode);
      } finally {
        lua._free(source);
      }
      if (status !== LuaStatus.Ok) return this.errorMessage(thread);
      status = this.resume(thread, 0);
      if (this.abortMessage !== undefined) return this.endAbort();
      if (status === LuaStatus.Yield) return `${script.chunkName}: the script's top level yielded; only a call's code may wait`;
      if (status === LuaStatus.ErrorMemory) return `${script.chunkName}: ${this.memoryMessage()}`;
      if (status !== LuaStatus.Ok) return this.errorMessage(thread);
      const count = this.results();
      const type = count === 0 ? LuaType.Nil : lua._lua_type(thread, -count);
      if (type !== LuaType.Function) {
        const returned = count === 0 ? 'nothing' : `a ${luaTypeName(type)}`;
        return `${script.chunkName}: the script must return a function(call, args), it returned ${returned}`;
      }
      lua._lua_settop(thread, -count);
      lua._lua_xmove(thread, main, 1);
      this.serviceFunction = BigInt(lua._luaL_ref(main, LUA_REGISTRYINDEX));
      return undefined;
    } finally {
      lua._luaL_unref(main, LUA_REGISTRYINDEX, threadRef);
    }
  }

  /** Resumes until the call waits for the host or ends; a reply that cannot cross is an error at the call site. */
  private run(slot: CallSlot, argCount: number): void {
    for (;;) {
      const status = this.resume(slot.thread, argCount);
      if (this.abortMessage !== undefined) {
        const message = this.endAbort();
        this.fail(slot, 'timeout', `${message}\n${this.traceback(slot.thread)}`);
        return;
      }
      if (status === LuaStatus.Ok) {
        this.finish(slot);
        return;
      }
      if (status === LuaStatus.ErrorMemory) {
        this.fail(slot, 'memory', `${this.memoryMessage()}\n${this.traceback(slot.thread)}`);
        this.collect();
        return;
      }
      if (status !== LuaStatus.Yield) {
        this.fail(slot, 'error', `${this.errorMessage(slot.thread)}\n${this.traceback(slot.thread)}`);
        return;
      }
      const refused = this.request(slot);
      if (refused === undefined) return;
      this.pushReply(slot.thread, { ok: false, error: refused });
      argCount = 2;
    }
  }

  /** One resume under the budget and the memory limit; host-side work outside it is not limited. */
  private resume(thread: LuaState, argCount: number): number {
    this.deadline = performance.now() + this.script.limits.eventBudgetMs;
    this.global.setMemoryMax(this.script.limits.memoryBytes);
    const status = this.lua._lua_resume(thread, this.main, argCount, this.resultCount);
    this.global.setMemoryMax(undefined);
    this.deadline = Infinity;
    return status;
  }

  private results(): number {
    return this.lua.HEAP32[this.resultCount >> 2];
  }

  /**
   * The count hook. Past the deadline it raises an error, and again every HOOK_INSTRUCTIONS until the
   * resume returns; the prelude's pcall, xpcall and coroutine.resume rethrow it while guard.aborting is
   * set, so the script cannot catch it.
   */
  private onInstructions(L: LuaState): void {
    if (this.abortMessage === undefined && performance.now() <= this.deadline) return;
    const { lua, values } = this;
    this.global.setMemoryMax(undefined);
    if (this.abortMessage === undefined) {
      lua._luaL_where(L, 0);
      this.abortMessage = `${values.readString(L, -1)}the script ran longer than its ${this.script.limits.eventBudgetMs} ms event budget`;
      lua._lua_settop(L, -2);
      this.setAborting(L, this.abortMessage);
    }
    values.pushString(L, this.abortMessage);
    this.global.setMemoryMax(this.script.limits.memoryBytes);
    lua._lua_error(L);
  }

  private endAbort(): string {
    const message = this.abortMessage ?? '';
    this.abortMessage = undefined;
    this.setAborting(this.main, undefined);
    return message;
  }

  private setAborting(L: LuaState, message: string | undefined): void {
    const lua = this.lua;
    lua._lua_rawgeti(L, LUA_REGISTRYINDEX, this.refs.guard);
    if (message === undefined) lua._lua_pushboolean(L, 0);
    else this.values.pushString(L, message);
    lua._lua_setfield(L, -2, this.abortingKey);
    lua._lua_settop(L, -2);
  }

  /** Sends the host request the coroutine yielded; returns why not when an argument cannot cross. */
  private request(slot: CallSlot): string | undefined {
    const { lua, values } = this;
    const thread = slot.thread;
    const count = this.results();
    const first = lua._lua_gettop(thread) - count + 1;
    const index = count === 0 ? 0 : lua._lua_tonumberx(thread, first, 0);
    const name = this.script.hostNames[index - 1];
    if (name === undefined) {
      this.fail(slot, 'error', `${this.script.chunkName}: the call's coroutine yielded without a host call`);
      return undefined;
    }
    const args: HostValue[] = [];
    try {
      for (let i = 1; i < count; i++) args.push(values.read(thread, first + i));
    } catch (err) {
      if (!(err instanceof BoundaryError)) throw err;
      return `argument ${args.length + 1} of ${name}: ${err.message}`;
    } finally {
      lua._lua_settop(thread, first - 1);
    }
    slot.requestId = ++this.lastRequestId;
    this.send({ type: 'request', callId: slot.id, requestId: slot.requestId, name, args });
    return undefined;
  }

  private pushReply(thread: LuaState, outcome: ReplyOutcome): void {
    this.lua._lua_pushboolean(thread, outcome.ok ? 1 : 0);
    if (outcome.ok) this.values.push(thread, outcome.value);
    else this.values.pushString(thread, outcome.error);
  }

  private finish(slot: CallSlot): void {
    const count = this.results();
    let result: HostValue = null;
    if (count > 0) {
      try {
        result = this.values.read(slot.thread, -count);
      } catch (err) {
        if (!(err instanceof BoundaryError)) throw err;
        this.fail(slot, 'error', `${this.script.chunkName}: the service's result: ${err.message}`);
        return;
      }
    }
    this.release(slot);
    this.send({ type: 'finished', callId: slot.id, result });
  }

  private fail(slot: CallSlot, kind: FailureKind, error: string): void {
    this.release(slot);
    this.send({ type: 'failed', callId: slot.id, kind, error });
  }

  private release(slot: CallSlot): void {
    this.calls.delete(slot.id);
    this.lua._luaL_unref(this.main, LUA_REGISTRYINDEX, slot.ref);
  }

  /** The error object on top of the thread; only strings and numbers are read (no __tostring runs). */
  private errorMessage(thread: LuaState): string {
    const type = this.lua._lua_type(thread, -1);
    if (type === LuaType.String || type === LuaType.Number) return this.values.readString(thread, -1);
    return `(error object is a ${luaTypeName(type)} value)`;
  }

  private memoryMessage(): string {
    return `not enough memory: the service's Lua memory is limited to ${this.script.limits.memoryBytes} bytes`;
  }

  /** Where a failed coroutine stood: its stack is kept until the coroutine is collected. */
  private traceback(thread: LuaState): string {
    const { lua, main } = this;
    lua._luaL_traceback(main, thread, 0, 0);
    const text = this.values.readString(main, -1);
    lua._lua_settop(main, -2);
    return text;
  }

  /** After a memory failure: the failed coroutine's garbage goes now, not when the next allocation fails. */
  private collect(): void {
    this.lua._lua_rawgeti(this.main, LUA_REGISTRYINDEX, this.refs.collect);
    this.protectedCall(0, 0);
  }

  /** Calls the function below `argCount` arguments on the main stack; only prelude functions come here. */
  private protectedCall(argCount: number, resultCount: number): void {
    const status = this.lua._lua_pcallk(this.main, argCount, resultCount, 0, 0, 0);
    if (status !== LuaStatus.Ok) {
      throw new Error(`a prelude function failed: ${this.errorMessage(this.main)}`);
    }
  }
}
