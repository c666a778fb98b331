// One service's worker thread seen from the main thread: spawned, given its script, watched, and
// terminated. Whatever the script does to its VM, terminating the thread ends it.
import { Worker } from 'node:worker_threads';
import type { Clock, TimerHandle } from '../../transaction/clock.js';
import { Outbox, type Posted } from './outbox.js';
import type { FromWorker, HostFunctionSpec, ToWorker, VmLimits } from './protocol.js';
import type { ServiceScript } from './service-catalog.js';
import { ChannelEnd } from './thread-channel.js';

/** The messages about one call: host requests and the call's end. */
export type CallMessage = Extract<FromWorker, { callId: string }>;

export type WorkerFailureKind = 'crashed' | 'unresponsive';

export interface ServiceWorkerOptions {
  script: ServiceScript;
  limits: VmLimits;
  hostFunctions: HostFunctionSpec[];
  clock: Clock;
  watchdogIntervalMs: number;
  /** how long a ping may go unanswered; default the event budget plus 200 ms, after which the
   * worker's own hook has stopped any pure-Lua loop, so silence means a wedged VM */
  unresponsiveMs?: number;
  /** the load runs the script's top level: a loop inside a C function there is caught by this */
  loadTimeoutMs?: number;
  /** the JS heap of the thread; Lua's memory is the WebAssembly memory, bounded by limits.memoryBytes */
  heapLimitMb?: number;
  workerUrl?: URL;
  onCallMessage: (message: CallMessage) => void;
  /** what the Lua allocator holds, at each watchdog answer */
  onMemory?: (bytes: number) => void;
  /** the thread died or was terminated by the watchdog; called once, never after terminate() */
  onFailure: (kind: WorkerFailureKind, message: string) => void;
}

const UNRESPONSIVE_GRACE_MS = 200;
/** How long a message about a call whose caller hung up may wait for company (outbox.ts). */
const LATER_MAX_MS = 20;
const DEFAULT_LOAD_TIMEOUT_MS = 10_000;
const DEFAULT_HEAP_LIMIT_MB = 32;
/** How soon messages the worker had no room for are tried again (it is stuck, or about to be). */
const RETRY_MS = 5;

export class ServiceWorker {
  private readonly worker: Worker;
  private readonly channel: ChannelEnd<ToWorker, FromWorker>;
  private readonly outbox: Outbox<ToWorker>;
  private retryTimer: TimerHandle | undefined;
  private readonly clock: Clock;
  private stopped = false;
  private pingSeq = 0;
  private pingTimer: TimerHandle | undefined;
  private pongDeadline: TimerHandle | undefined;
  private memory = 0;
  private loading: { resolve: () => void; reject: (err: Error) => void; deadline: TimerHandle } | undefined;

  /** Spawns the thread; load() gives it the script. */
  constructor(private readonly options: ServiceWorkerOptions) {
    this.clock = options.clock;
    const { end, workerData, transferList } = ChannelEnd.forMain<ToWorker, FromWorker>();
    this.channel = end;
    this.worker = new Worker(options.workerUrl ?? new URL('./lua-worker.js', import.meta.url), {
      workerData,
      transferList,
      resourceLimits: { maxOldGenerationSizeMb: options.heapLimitMb ?? DEFAULT_HEAP_LIMIT_MB },
    });
    this.outbox = new Outbox<ToWorker>((posted) => this.post(posted), this.clock, LATER_MAX_MS);
    // what the worker wrote before it died counts, whichever the main thread hears of first
    this.worker.on('error', (err) => {
      this.receiveAll();
      this.fail('crashed', err.message);
    });
    this.worker.on('exit', (code) => {
      this.receiveAll();
      this.fail('crashed', `worker exited with code ${code}`);
    });
    void this.listen();
  }

  /** What the Lua allocator held at the last watchdog answer. */
  get memoryBytes(): number {
    return this.memory;
  }

  send(message: ToWorker): void {
    if (!this.stopped) this.outbox.send(message);
  }

  /** Sends `message` with the next one, or within a few ms: for a call whose caller has hung up. */
  sendLater(message: ToWorker): void {
    if (!this.stopped) this.outbox.sendLater(message);
  }

  /** Ends the thread at once, whatever it is doing; no failure is reported for it. */
  async terminate(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    this.outbox.clear();
    this.finishLoad(new Error('terminated while loading'));
    await this.worker.terminate();
  }

  /**
   * Loads the script (once); rejects with the load error ("lua/services/x.lua:3: ...") after terminating
   * the thread. The watchdog starts when it has loaded.
   */
  load(): Promise<void> {
    const { script, limits, hostFunctions } = this.options;
    const timeoutMs = this.options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      const deadline = this.clock.setTimer(timeoutMs, () => this.fail('unresponsive', `did not load within ${timeoutMs} ms`));
      this.loading = { resolve, reject, deadline };
      this.send({ type: 'load', service: script.name, chunkName: script.chunkName, source: script.source, limits, host: hostFunctions });
    });
  }

  private post(posted: Posted<ToWorker>): void {
    this.channel.send(posted);
    if (this.channel.blocked) this.retryTimer ??= this.clock.setTimer(RETRY_MS, () => this.retry());
  }

  private retry(): void {
    this.retryTimer = undefined;
    if (!this.stopped && !this.channel.retry()) this.retryTimer = this.clock.setTimer(RETRY_MS, () => this.retry());
  }

  /** Hands over what the worker sends until the worker is stopped. */
  private async listen(): Promise<void> {
    while (!this.stopped) {
      const seen = this.channel.doorbell();
      this.receiveAll();
      if (!this.stopped) await this.channel.rung(seen);
    }
  }

  private readonly receiveOne = (message: FromWorker): void => this.receive(message);

  private receiveAll(): void {
    if (!this.stopped) this.channel.receive(this.receiveOne);
  }

  private finishLoad(err?: Error): void {
    const loading = this.loading;
    if (loading === undefined) return;
    this.loading = undefined;
    this.clock.clearTimer(loading.deadline);
    if (err !== undefined) {
      loading.reject(err);
    } else {
      this.schedulePing();
      loading.resolve();
    }
  }

  private receive(message: FromWorker): void {
    if (this.stopped) return;
    switch (message.type) {
      case 'loaded':
        this.finishLoad();
        return;
      case 'load-failed':
        this.finishLoad(new Error(message.error));
        void this.terminate();
        return;
      case 'pong':
        if (message.seq !== this.pingSeq || this.pongDeadline === undefined) return;
        this.clock.clearTimer(this.pongDeadline);
        this.pongDeadline = undefined;
        this.memory = message.memoryBytes;
        this.schedulePing();
        this.options.onMemory?.(message.memoryBytes);
        return;
      default:
        this.options.onCallMessage(message);
    }
  }

  private schedulePing(): void {
    this.pingTimer = this.clock.setTimer(this.options.watchdogIntervalMs, () => this.ping());
  }

  private ping(): void {
    this.pingTimer = undefined;
    const seq = ++this.pingSeq;
    const graceMs = this.options.unresponsiveMs ?? this.options.limits.eventBudgetMs + UNRESPONSIVE_GRACE_MS;
    this.pongDeadline = this.clock.setTimer(graceMs, () => this.fail('unresponsive', `no answer to the watchdog within ${graceMs} ms`));
    this.send({ type: 'ping', seq });
  }

  private fail(kind: WorkerFailureKind, message: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    this.outbox.clear();
    void this.worker.terminate();
    if (this.loading !== undefined) this.finishLoad(new Error(message));
    else this.options.onFailure(kind, message);
  }

  private clearTimers(): void {
    if (this.pingTimer !== undefined) this.clock.clearTimer(this.pingTimer);
    if (this.pongDeadline !== undefined) this.clock.clearTimer(this.pongDeadline);
    if (this.retryTimer !== undefined) this.clock.clearTimer(this.retryTimer);
    this.pingTimer = undefined;
    this.pongDeadline = undefined;
    this.retryTimer = undefined;
    // listen() is waiting for the doorbell: it must see `stopped`
    this.channel.wakeListener();
  }
}
