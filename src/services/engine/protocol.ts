// Messages between the main thread and a service's worker thread, as JSON through a shared-memory channel
// (thread-channel.ts); one wake-up of the other side may carry several (outbox.ts). Each Lua service runs
// in a worker of its own (one Lua VM, one coroutine per call) so that whatever a script does, terminating
// that worker contains it: see docs/decisions/0007-lua-service-engine.md.

/** What crosses between Lua and the host: JSON-like data (Lua tables become objects or arrays). */
export type HostValue = null | boolean | number | string | HostValue[] | { [key: string]: HostValue };

/**
 * A host function the service may call. Every host call is a request to the main thread; the calling
 * coroutine yields until the reply comes, so a script reads as sequential code.
 *  - 'method': `call:<name>(...)`, sent with the call's id (`name` is "answer" for "call.answer")
 *  - 'function': `<table>.<name>(...)`, a global table per prefix (`voicemail.save` -> table voicemail)
 */
export interface HostFunctionSpec {
  /** "call.answer", "voicemail.save", "log.info": prefix "call." marks a method of the call object */
  name: string;
}

export interface VmLimits {
  /** bytes the Lua allocator may hold; an allocation beyond fails with a Lua "not enough memory" error */
  memoryBytes: number;
  /** wall-clock ms one resume of a coroutine may run before the count hook stops it with an error */
  eventBudgetMs: number;
}

/** The call as the script sees it in `call.<field>`. */
export interface CallInfo {
  id: string;
  domain: string;
  /** the authenticated caller's number */
  caller: string;
  /** the caller's display name, empty when none */
  callerName: string;
  /** the number the caller dialled */
  dialled: string;
}

export type ToWorker =
  /** Load (once per worker) the service's source; answered by 'loaded' or 'load-failed'. */
  | { type: 'load'; service: string; chunkName: string; source: string; limits: VmLimits; host: HostFunctionSpec[] }
  /** Run the service's function for a call: `fn(call, args)` in a new coroutine. */
  | { type: 'start'; call: CallInfo; args: HostValue }
  /**
   * The result of a host call; resumes the coroutine with `value`, or raises `error` in it. `callEnded`:
   * the caller has hung up, so what the script sends about the call from now on may wait (outbox.ts).
   */
  | { type: 'reply'; callId: string; requestId: number; callEnded?: boolean; ok: true; value: HostValue }
  | { type: 'reply'; callId: string; requestId: number; callEnded?: boolean; ok: false; error: string }
  /** The host forgets the call (it ended long ago, or the service gave up on it): drop its coroutine. */
  | { type: 'drop'; callId: string }
  /** Liveness: the worker answers 'pong' whenever its event loop is free. */
  | { type: 'ping'; seq: number };

export type FailureKind =
  /** the script raised an error (or a host call's error it did not catch) */
  | 'error'
  /** one resume ran longer than VmLimits.eventBudgetMs */
  | 'timeout'
  /** the VM reached VmLimits.memoryBytes */
  | 'memory';

export type FromWorker =
  | { type: 'loaded' }
  /** `error` names the chunk and line: "lua/services/ivr.lua:12: unexpected symbol near 'x'" */
  | { type: 'load-failed'; error: string }
  | { type: 'request'; callId: string; requestId: number; name: string; args: HostValue[] }
  /** The service function returned (its first result, or null). */
  | { type: 'finished'; callId: string; result: HostValue }
  | { type: 'failed'; callId: string; kind: FailureKind; error: string }
  /** memoryBytes: what the Lua allocator holds now */
  | { type: 'pong'; seq: number; memoryBytes: number };
