// Every service's worker, from the main thread: runs calls on them, answers their host requests, and
// replaces a worker that crashed, hung, filled its memory or whose script was edited. A failing service
// costs its own calls and nothing else: see docs/decisions/0007-lua-service-engine.md.
import type { Logger } from '../../log/logger.js';
import type { Clock, TimerHandle } from '../../transaction/clock.js';
import type { CallInfo, HostFunctionSpec, HostValue, ToWorker, VmLimits } from './protocol.js';
import type { ServiceCatalog, ServiceScript } from './service-catalog.js';
import type { ServiceFailure, ServiceFailureKind, ServiceOutcome, ServiceStatus } from './service-status.js';
import { ServiceWorker, type CallMessage, type WorkerFailureKind } from './service-worker.js';

export type HostHandler = (ctx: { service: string; callId: string }, args: HostValue[]) => HostValue | Promise<HostValue>;
/** Keyed by HostFunctionSpec name: "call.answer". */
export type HostApi = ReadonlyMap<string, HostHandler>;

export interface ServiceSupervisorOptions {
  catalog: Pick<ServiceCatalog, 'list' | 'get' | 'watch'>;
  host: HostApi;
  /** read for each new worker, so changed limits apply from the next (re)load */
  limits: () => VmLimits;
  hostFunctions: HostFunctionSpec[];
  clock: Clock;
  logger: Logger;
  watchdogIntervalMs?: number;
  /** how long a worker may leave a ping unanswered before it is terminated; default: the event budget + 200 ms */
  unresponsiveMs?: number;
  workerUrl?: URL;
}

/** Delays before restarting a worker that keeps failing; a quiet minute starts again at the first. */
const RESTART_DELAYS_MS = [0, 1_000, 5_000, 30_000];
const QUIET_MS = 60_000;
/** An idle VM this full has leaked (globals that grow per call): a fresh one is cheaper than an error later. */
const IDLE_MEMORY_LIMIT = 0.9;
const DEFAULT_WATCHDOG_INTERVAL_MS = 1_000;

/** One worker and the calls it runs. A service has one serving and, during a reload, older ones draining. */
interface Generation {
  readonly script: ServiceScript;
  readonly limits: VmLimits;
  readonly worker: ServiceWorker;
  readonly calls: Map<string, PendingCall>;
}

interface PendingCall {
  readonly callId: string;
  readonly generation: Generation;
  readonly resolve: (outcome: ServiceOutcome) => void;
  /** the caller has hung up: replies may wait for company (outbox.ts) */
  callEnded: boolean;
}

interface ServiceEntry {
  readonly name: string;
  /** the catalog's script as last read: what a reload tries to load */
  latest: ServiceScript;
  /** the script that served last; null until one has loaded */
  good: ServiceScript | null;
  current: Generation | null;
  /** a worker loading (start, restart, reload, memory replacement); a newer load supersedes it */
  loading: Generation | null;
  restartTimer: TimerHandle | undefined;
  restartAt: number;
  failureStreak: number;
  lastCrashAt: number;
  restarts: number;
  loadedAt: number;
  lastFailure: ServiceFailure | null;
  loadError: string | null;
}

export class ServiceSupervisor {
  private readonly services = new Map<string, ServiceEntry>();
  /** replaced or removed workers finishing their calls; terminated when the last one ends */
  private readonly draining = new Set<Generation>();
  private readonly calls = new Map<string, PendingCall>();
  private stopWatching: (() => void) | undefined;
  private closed = false;

  constructor(private readonly options: ServiceSupervisorOptions) {}

  /** Loads every service in parallel and starts watching the scripts; a service that fails is listed as 'failed'. */
  async start(): Promise<void> {
    this.stopWatching = this.options.catalog.watch((name) => this.onCatalogChange(name));
    await Promise.all(this.options.catalog.list().map((script) => this.load(this.addEntry(script), script)));
  }

  /** Terminates every worker; pending run()s resolve as failures. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWatching?.();
    const workers: ServiceWorker[] = [];
    for (const entry of this.services.values()) {
      if (entry.restartTimer !== undefined) this.options.clock.clearTimer(entry.restartTimer);
      if (entry.current !== null) workers.push(entry.current.worker);
      if (entry.loading !== null) workers.push(entry.loading.worker);
      entry.current = null;
      entry.loading = null;
    }
    for (const generation of this.draining) workers.push(generation.worker);
    this.draining.clear();
    this.services.clear();
    for (const call of [...this.calls.values()]) this.settle(call, { ok: false, kind: 'error', error: 'service engine closed' });
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  has(name: string): boolean {
    return this.services.has(name);
  }

  /** A worker of `name` is serving: run() would not answer 'unavailable' at once. */
  isRunning(name: string): boolean {
    return (this.services.get(name)?.current ?? null) !== null;
  }

  /** Runs the service for a call; resolves when the script finishes or fails, never rejects. */
  run(service: string, call: CallInfo, args: HostValue): Promise<ServiceOutcome> {
    const entry = this.services.get(service);
    const generation = entry?.current ?? null;
    if (entry === undefined || generation === null) {
      return Promise.resolve({ ok: false, kind: 'unavailable', error: this.unavailableReason(service, entry) });
    }
    if (this.calls.has(call.id)) {
      return Promise.resolve({ ok: false, kind: 'error', error: `call ${call.id} is already running a service` });
    }
    return new Promise((resolve) => {
      const pending: PendingCall = { callId: call.id, generation, resolve, callEnded: false };
      generation.calls.set(call.id, pending);
      this.calls.set(call.id, pending);
      generation.worker.send({ type: 'start', call, args });
    });
  }

  /**
   * The caller has hung up; the script may go on (saving a message, say), but nothing it does is urgent
   * any more, so its messages may wait to cross with others.
   */
  callEnded(callId: string): void {
    const call = this.calls.get(callId);
    if (call !== undefined) call.callEnded = true;
  }

  /** The host is done with the call: its coroutine is dropped and a pending run() resolves as 'dropped'. */
  end(callId: string): void {
    const call = this.calls.get(callId);
    if (call === undefined) return;
    call.generation.worker.send({ type: 'drop', callId });
    this.settle(call, { ok: false, kind: 'error', error: 'dropped' });
  }

  status(): ServiceStatus[] {
    return [...this.services.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((entry) => {
        const script = entry.good ?? entry.latest;
        let activeCalls = entry.current?.calls.size ?? 0;
        for (const generation of this.draining) if (generation.script.name === entry.name) activeCalls += generation.calls.size;
        return {
          name: entry.name,
          origin: script.origin,
          file: script.file,
          version: script.version,
          loadedAt: entry.loadedAt,
          state: entry.current !== null ? 'running' : entry.good !== null ? 'restarting' : 'failed',
          activeCalls,
          restarts: entry.restarts,
          memoryBytes: entry.current?.worker.memoryBytes ?? 0,
          lastFailure: entry.lastFailure,
          loadError: entry.loadError,
        };
      });
  }

  private addEntry(script: ServiceScript): ServiceEntry {
    const entry: ServiceEntry = {
      name: script.name,
      latest: script,
      good: null,
      current: null,
      loading: null,
      restartTimer: undefined,
      restartAt: 0,
      failureStreak: 0,
      lastCrashAt: 0,
      restarts: 0,
      loadedAt: 0,
      lastFailure: null,
      loadError: null,
    };
    this.services.set(script.name, entry);
    return entry;
  }

  private onCatalogChange(name: string): void {
    if (this.closed) return;
    const script = this.options.catalog.get(name);
    const entry = this.services.get(name);
    if (script === undefined) {
      if (entry !== undefined) this.remove(entry);
      return;
    }
    if (entry === undefined) {
      void this.load(this.addEntry(script), script);
      return;
    }
    entry.latest = script;
    const serving = entry.current?.script;
    if (serving !== undefined && serving.version === script.version && serving.origin === script.origin) {
      // Edited back to what runs: forget the broken edit and any load of it.
      if (entry.loading !== null) void entry.loading.worker.terminate();
      entry.loading = null;
      entry.loadError = null;
      return;
    }
    void this.load(entry, script);
  }

  /** A deleted script takes no new calls; the calls it runs finish on the old worker. */
  private remove(entry: ServiceEntry): void {
    this.services.delete(entry.name);
    if (entry.restartTimer !== undefined) this.options.clock.clearTimer(entry.restartTimer);
    entry.restartTimer = undefined;
    if (entry.loading !== null) void entry.loading.worker.terminate();
    entry.loading = null;
    if (entry.current !== null) this.retire(entry.current);
    entry.current = null;
    this.options.logger.info({ service: entry.name }, 'service removed');
  }

  /** Loads `script` in a new worker, which serves new calls once loaded. Never rejects. */
  private async load(entry: ServiceEntry, script: ServiceScript): Promise<void> {
    const limits = this.options.limits();
    const calls = new Map<string, PendingCall>();
    let generation: Generation;
    try {
      const worker: ServiceWorker = new ServiceWorker({
        script,
        limits,
        hostFunctions: this.options.hostFunctions,
        clock: this.options.clock,
        watchdogIntervalMs: this.options.watchdogIntervalMs ?? DEFAULT_WATCHDOG_INTERVAL_MS,
        unresponsiveMs: this.options.unresponsiveMs,
        workerUrl: this.options.workerUrl,
        onCallMessage: (message) => this.onCallMessage(entry, generation, message),
        onMemory: (bytes) => this.onMemory(entry, generation, bytes),
        onFailure: (kind, message) => this.onWorkerFailure(entry, generation, kind, message),
      });
      generation = { script, limits, worker, calls };
    } catch (err) {
      this.loadFailed(entry, script, (err as Error).message);
      return;
    }
    if (entry.loading !== null) void entry.loading.worker.terminate();
    entry.loading = generation;
    try {
      await generation.worker.load();
    } catch (err) {
      if (entry.loading !== generation) return;
      entry.loading = null;
      this.loadFailed(entry, script, (err as Error).message);
      return;
    }
    if (entry.loading !== generation) {
      void generation.worker.terminate();
      return;
    }
    entry.loading = null;
    this.install(entry, generation);
  }

  private install(entry: ServiceEntry, generation: Generation): void {
    const previous = entry.current;
    entry.current = generation;
    entry.good = generation.script;
    entry.loadedAt = this.options.clock.now();
    if (generation.script.version === entry.latest.version) entry.loadError = null;
    if (previous !== null) this.retire(previous);
    const { name, origin, version } = generation.script;
    this.options.logger.info({ service: name, origin, version }, 'service loaded');
  }

  private loadFailed(entry: ServiceEntry, script: ServiceScript, message: string): void {
    if (script === entry.good) {
      // The script loaded before, so the thread failed, not the script.
      this.recordFailure(entry, 'crashed', message);
      this.options.logger.error({ service: entry.name, kind: 'crashed', message }, 'service worker failed to restart');
      this.noteCrash(entry);
    } else {
      entry.loadError = message;
      this.options.logger.warn({ service: entry.name, file: script.file, error: message }, 'service script did not load; the previous version keeps serving');
    }
    this.ensureServing(entry);
  }

  /** Moves a replaced worker aside to finish its calls. */
  private retire(generation: Generation): void {
    if (generation.calls.size === 0) {
      void generation.worker.terminate();
    } else {
      this.draining.add(generation);
    }
  }

  private onCallMessage(entry: ServiceEntry, generation: Generation, message: CallMessage): void {
    const call = generation.calls.get(message.callId);
    if (call === undefined) return;
    switch (message.type) {
      case 'request':
        void this.serveRequest(generation, message);
        return;
      case 'finished':
        this.settle(call, { ok: true, result: message.result });
        return;
      case 'failed':
        this.recordFailure(entry, message.kind, message.error);
        this.options.logger.warn({ service: entry.name, callId: message.callId, kind: message.kind, error: message.error }, 'service call failed');
        this.settle(call, { ok: false, kind: message.kind, error: message.error });
        return;
    }
  }

  private async serveRequest(generation: Generation, request: Extract<CallMessage, { type: 'request' }>): Promise<void> {
    const { callId, requestId, name } = request;
    const handler = this.options.host.get(name);
    let reply: Extract<ToWorker, { type: 'reply' }>;
    if (handler === undefined) {
      reply = { type: 'reply', callId, requestId, ok: false, error: `no host function ${name}` };
    } else {
      try {
        const value = await handler({ service: generation.script.name, callId }, request.args);
        reply = { type: 'reply', callId, requestId, ok: true, value: value ?? null };
      } catch (err) {
        reply = { type: 'reply', callId, requestId, ok: false, error: err instanceof Error ? err.message : String(err) };
      }
    }
    // The call may have been dropped, or its worker replaced, while the host worked.
    const call = generation.calls.get(callId);
    if (call === undefined) return;
    if (!call.callEnded) {
      generation.worker.send(reply);
      return;
    }
    reply.callEnded = true;
    generation.worker.sendLater(reply);
  }

  private onMemory(entry: ServiceEntry, generation: Generation, bytes: number): void {
    if (entry.current !== generation || entry.loading !== null || generation.calls.size > 0) return;
    if (bytes <= generation.limits.memoryBytes * IDLE_MEMORY_LIMIT) return;
    const message = `idle VM held ${bytes} of ${generation.limits.memoryBytes} bytes`;
    entry.restarts++;
    this.recordFailure(entry, 'memory', message);
    this.options.logger.warn({ service: entry.name, kind: 'memory', message }, 'service worker replaced by a fresh VM');
    void this.load(entry, generation.script);
  }

  private onWorkerFailure(entry: ServiceEntry, generation: Generation, kind: WorkerFailureKind, message: string): void {
    for (const call of [...generation.calls.values()]) this.settle(call, { ok: false, kind, error: message });
    this.recordFailure(entry, kind, message);
    this.options.logger.error({ service: entry.name, kind, message }, 'service worker failed');
    if (this.draining.delete(generation) || entry.current !== generation) return;
    entry.current = null;
    entry.restarts++;
    this.noteCrash(entry);
    this.ensureServing(entry);
  }

  /** Pushes the next restart back by the backoff step this run of failures has reached. */
  private noteCrash(entry: ServiceEntry): void {
    const now = this.options.clock.now();
    if (now - entry.lastCrashAt > QUIET_MS) entry.failureStreak = 0;
    entry.restartAt = now + RESTART_DELAYS_MS[Math.min(entry.failureStreak, RESTART_DELAYS_MS.length - 1)];
    entry.failureStreak++;
    entry.lastCrashAt = now;
  }

  /** A service with a good script and no worker gets one again, when its backoff allows. */
  private ensureServing(entry: ServiceEntry): void {
    const good = entry.good;
    if (this.closed || good === null || entry.current !== null || entry.loading !== null || entry.restartTimer !== undefined) return;
    if (this.services.get(entry.name) !== entry) return;
    const delay = Math.max(0, entry.restartAt - this.options.clock.now());
    entry.restartTimer = this.options.clock.setTimer(delay, () => {
      entry.restartTimer = undefined;
      if (entry.current === null && entry.loading === null) void this.load(entry, good);
    });
  }

  private settle(call: PendingCall, outcome: ServiceOutcome): void {
    this.calls.delete(call.callId);
    const generation = call.generation;
    generation.calls.delete(call.callId);
    if (generation.calls.size === 0 && this.draining.delete(generation)) void generation.worker.terminate();
    call.resolve(outcome);
  }

  private recordFailure(entry: ServiceEntry, kind: ServiceFailureKind, message: string): void {
    entry.lastFailure = { at: this.options.clock.now(), kind, message };
  }

  private unavailableReason(service: string, entry: ServiceEntry | undefined): string {
    if (this.closed || entry === undefined) return `no service ${service}`;
    if (entry.good === null) return `service ${service} did not load: ${entry.loadError ?? 'loading'}`;
    return `service ${service} is restarting`;
  }
}
