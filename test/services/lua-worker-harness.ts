// A real Lua worker thread driven message by message, for the lua-*.test.ts files.
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { CallInfo, FromWorker, HostValue, ToWorker, VmLimits } from '../../src/services/engine/protocol.js';
import { ChannelEnd } from '../../src/services/engine/thread-channel.js';

export const CHUNK = 'lua/services/test.lua';

export const HOST_NAMES = ['call.answer', 'call.play', 'call.hangup', 'log.info', 'voicemail.save', 'voicemail.count'];

export const LIMITS: VmLimits = { memoryBytes: 8 * 1024 * 1024, eventBudgetMs: 50 };

const MESSAGE_TIMEOUT_MS = 5000;

type Request = Extract<FromWorker, { type: 'request' }>;
type CallEnd = Extract<FromWorker, { type: 'finished' | 'failed' }>;

/** How the host answers a request in run(): a value, or `{ error }` for a failed host call. */
export type Answer = HostValue | { error: string };

export interface HarnessOptions {
  host?: string[];
  limits?: Partial<VmLimits>;
}

export function callInfo(id: string): CallInfo {
  return { id, domain: 'example.com', caller: '1001', callerName: 'Alice', dialled: '2000' };
}

export class LuaWorkerHarness {
  private readonly channel: ChannelEnd<ToWorker, FromWorker>;
  private closed = false;
  readonly worker: Worker;
  /** resolves with the exit code when the thread ends */
  readonly exited: Promise<number>;
  /** what the thread wrote to stdout and stderr */
  stdout = '';
  stderr = '';
  /** the messages that crossed together, for one ring of the doorbell (outbox.ts), as they came */
  readonly batches: FromWorker[][] = [];
  private readonly queue: FromWorker[] = [];
  private waiting: ((message: FromWorker) => void) | undefined;

  constructor() {
    const { end, workerData, transferList } = ChannelEnd.forMain<ToWorker, FromWorker>();
    this.channel = end;
    this.worker = new Worker(new URL('../../src/services/engine/lua-worker.js', import.meta.url), { workerData, transferList, stdout: true, stderr: true });
    this.worker.stdout.setEncoding('utf8').on('data', (text: string) => (this.stdout += text));
    this.worker.stderr.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    void this.listen();
  }

  /** A worker with `source` loaded; fails the test if it does not load. */
  static async loaded(source: string, options: HarnessOptions = {}): Promise<LuaWorkerHarness> {
    const harness = new LuaWorkerHarness();
    const answer = await harness.load(source, options);
    assert.deepEqual(answer, { type: 'loaded' });
    return harness;
  }

  /** The load-failed error for `source`. */
  static async loadError(source: string, options: HarnessOptions = {}): Promise<string> {
    const harness = new LuaWorkerHarness();
    try {
      const answer = await harness.load(source, options);
      assert.equal(answer.type, 'load-failed', `expected load-failed, got ${JSON.stringify(answer)}`);
      return (answer as Extract<FromWorker, { type: 'load-failed' }>).error;
    } finally {
      await harness.close();
    }
  }

  load(source: string, options: HarnessOptions = {}): Promise<FromWorker> {
    const host = (options.host ?? HOST_NAMES).map((name) => ({ name }));
    this.send({ type: 'load', service: 'test', chunkName: CHUNK, source, limits: { ...LIMITS, ...options.limits }, host });
    return this.next();
  }

  /** One message, or several that cross together. */
  send(posted: ToWorker | ToWorker[]): void {
    this.channel.send(posted);
  }

  /** Hands on what the worker sends, until it is closed or has exited (then what it wrote last). */
  private async listen(): Promise<void> {
    let exited = false;
    while (!this.closed) {
      const seen = this.channel.doorbell();
      const batch: FromWorker[] = [];
      this.channel.receive((message) => batch.push(message));
      if (batch.length > 1) this.batches.push(batch);
      for (const message of batch) {
        const waiting = this.waiting;
        this.waiting = undefined;
        if (waiting !== undefined) waiting(message);
        else this.queue.push(message);
      }
      if (exited) return;
      exited = await Promise.race([this.channel.rung(seen).then(() => false), this.exited.then(() => true)]);
    }
  }

  next(): Promise<FromWorker> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no message from the worker within ${MESSAGE_TIMEOUT_MS} ms`));
      }, MESSAGE_TIMEOUT_MS);
      this.waiting = (message) => {
        clearTimeout(timer);
        resolve(message);
      };
    });
  }

  async nextRequest(callId: string): Promise<Request> {
    const message = await this.next();
    assert.equal(message.type, 'request', `expected a request, got ${JSON.stringify(message)}`);
    const request = message as Request;
    assert.equal(request.callId, callId);
    return request;
  }

  start(id: string, args: HostValue = null): void {
    this.send({ type: 'start', call: callInfo(id), args });
  }

  /** `callEnded`: the reply says the caller has hung up, as the host does then. */
  answer(request: Request, answer: Answer, callEnded = false): void {
    const failed = answer !== null && typeof answer === 'object' && !Array.isArray(answer) && typeof answer.error === 'string' && Object.keys(answer).length === 1;
    const { callId, requestId } = request;
    this.send(
      failed
        ? { type: 'reply', callId, requestId, callEnded, ok: false, error: answer.error as string }
        : { type: 'reply', callId, requestId, callEnded, ok: true, value: answer },
    );
  }

  /** Runs one call to its end, answering each request with `answer` (by default null). */
  async run(id: string, args: HostValue = null, answer: (request: Request) => Answer = () => null): Promise<{ end: CallEnd; requests: Request[] }> {
    this.start(id, args);
    const requests: Request[] = [];
    for (;;) {
      const message = await this.next();
      assert.ok('callId' in message && message.callId === id, `expected a message of call ${id}, got ${JSON.stringify(message)}`);
      if (message.type !== 'request') return { end: message as CallEnd, requests };
      requests.push(message);
      this.answer(message, answer(message));
    }
  }

  /** Runs a call that must finish; its result. */
  async result(id: string, args: HostValue = null, answer?: (request: Request) => Answer): Promise<HostValue> {
    const { end } = await this.run(id, args, answer);
    assert.equal(end.type, 'finished', `expected finished, got ${JSON.stringify(end)}`);
    return (end as Extract<CallEnd, { type: 'finished' }>).result;
  }

  /** Answers a ping; everything sent before it has been handled. Returns the Lua memory in use. */
  async ping(seq = 1): Promise<number> {
    this.send({ type: 'ping', seq });
    const message = await this.next();
    assert.equal(message.type, 'pong', `expected pong, got ${JSON.stringify(message)}`);
    const pong = message as Extract<FromWorker, { type: 'pong' }>;
    assert.equal(pong.seq, seq);
    return pong.memoryBytes;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channel.wakeListener();
    await this.worker.terminate();
  }
}
