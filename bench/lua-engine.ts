// The Lua service engine without SIP: the server's ServiceSupervisor with real Lua workers and trivial
// scripts, in this process. Service start per call (run() of a script that returns at once, and of one
// that makes one host call), memory per service VM, and memory per call suspended on a host reply.
// Run: node --expose-gc dist/bench/lua-engine.js [--quick] [--json FILE]; `run.js --lua` runs it as a child,
// so that the RSS figures are this process's alone and not the bench's. See bench/README.md.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { defaultVariables } from '../src/config/variables.js';
import type { CallInfo, HostValue } from '../src/services/engine/protocol.js';
import type { ServiceScript } from '../src/services/engine/service-catalog.js';
import { ServiceSupervisor, type HostHandler } from '../src/services/engine/service-supervisor.js';
import { systemClock } from '../src/transaction/clock.js';
import { runChild } from './processes.js';
import { median, quantile } from './statistics.js';

const INSTANT = 'return function(call, args) return args.n end';
const ONE_HOST_CALL = 'return function(call, args) return call:answer() end';
const SUSPENDED = 'return function(call, args) return call:hold() end';
const MB = 1024 * 1024;
const WARM_UP_CALLS = 500;
const VM_START_TIMEOUT_MS = 10_000;
/** Time for fresh workers to finish their first allocations and answer a watchdog ping. */
const SETTLE_MS = 1_000;
const CHILD_TIMEOUT_MS = 300_000;

export interface LuaEngineOptions {
  /** Calls timed per round, for each of the two start figures. */
  calls: number;
  /** Service VMs started per round for the memory per VM. */
  vms: number;
  /** Calls left waiting on a host reply per round, for the memory per suspended call. */
  suspendedCalls: number;
  rounds: number;
}

export interface LuaEngineRound {
  /** supervisor.run() to its outcome, of a script that returns at once (microseconds). */
  startP50Us: number;
  startP99Us: number;
  /** Process CPU (main thread and worker) per such call. */
  startCpuUs: number;
  /** The same with one host call (call:answer) on the way: a second round trip to the main thread. */
  hostCallP50Us: number;
  hostCallP99Us: number;
  hostCallCpuUs: number;
  /** From adding a script to the catalog to its worker serving; median of the VMs started. */
  vmStartMs: number;
  /** RSS growth per service VM started (its thread, V8 isolate and Lua heap). */
  vmRssKb: number;
  /** What an idle fresh VM's Lua allocator holds (from the watchdog pong); median of the VMs started. */
  vmLuaKb: number;
  /** RSS and Lua memory growth per call suspended on a host reply. */
  suspendedRssKb: number;
  suspendedLuaKb: number;
}

export interface LuaEngineFigures {
  options: LuaEngineOptions;
  /** [services] memory_limit_mb and event_budget_ms: the server's defaults */
  memoryLimitMb: number;
  eventBudgetMs: number;
  watchdogIntervalMs: number;
  rounds: LuaEngineRound[];
  /** Each figure's median over the rounds. */
  median: LuaEngineRound;
}

function scriptOf(name: string, source: string): ServiceScript {
  const version = createHash('sha256').update(source).digest('hex').slice(0, 12);
  return { name, origin: 'builtin', file: `/bench/${name}.lua`, chunkName: `lua/services/${name}.lua`, source, version };
}

/** Scripts held in memory: adding one after start() loads it as a new service, as a new file would. */
class BenchCatalog {
  private readonly scripts = new Map<string, ServiceScript>();
  private onChange: ((name: string) => void) | undefined;

  constructor(initial: Record<string, string>) {
    for (const [name, source] of Object.entries(initial)) this.scripts.set(name, scriptOf(name, source));
  }

  add(name: string, source: string): void {
    this.scripts.set(name, scriptOf(name, source));
    this.onChange?.(name);
  }

  remove(name: string): void {
    this.scripts.delete(name);
    this.onChange?.(name);
  }

  list(): ServiceScript[] {
    return [...this.scripts.values()];
  }

  get(name: string): ServiceScript | undefined {
    return this.scripts.get(name);
  }

  watch(onChange: (name: string) => void): () => void {
    this.onChange = onChange;
    return () => {
      this.onChange = undefined;
    };
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(ok: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/** RSS after a full collection of this thread's heap, so garbage of the previous step does not count. */
function settledRssKb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage.rss() / 1024;
}

class EngineBench {
  private readonly held: Array<() => void> = [];
  private readonly catalog = new BenchCatalog({ instant: INSTANT, 'one-host-call': ONE_HOST_CALL });
  private readonly supervisor: ServiceSupervisor;
  private nextCall = 0;
  private nextVm = 0;

  constructor(readonly watchdogIntervalMs: number, memoryBytes: number, eventBudgetMs: number, unresponsiveMs: number) {
    const host = new Map<string, HostHandler>([
      ['call.answer', () => true],
      ['call.hold', () => new Promise<HostValue>((resolve) => this.held.push(() => resolve(true)))],
    ]);
    this.supervisor = new ServiceSupervisor({
      catalog: this.catalog,
      host,
      hostFunctions: [...host.keys()].map((name) => ({ name })),
      limits: () => ({ memoryBytes, eventBudgetMs }),
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      watchdogIntervalMs,
      unresponsiveMs,
    });
  }

  async start(): Promise<void> {
    await this.supervisor.start();
    for (const name of this.catalog.list().map((script) => script.name)) {
      if (!this.supervisor.isRunning(name)) throw new Error(`service ${name} did not load: ${JSON.stringify(this.supervisor.status())}`);
    }
  }

  close(): Promise<void> {
    return this.supervisor.close();
  }

  private callInfo(): CallInfo {
    return { id: `bench-${++this.nextCall}`, domain: 'bench.example', caller: '100', callerName: '', dialled: '200' };
  }

  /** One call through `service`, which must return `expected`. */
  private async runCall(service: string, expected: HostValue): Promise<void> {
    const outcome = await this.supervisor.run(service, this.callInfo(), { n: 7 });
    if (!outcome.ok) throw new Error(`${service}: ${outcome.kind}: ${outcome.error}`);
    if (outcome.result !== expected) throw new Error(`${service} returned ${JSON.stringify(outcome.result)}, not ${JSON.stringify(expected)}`);
  }

  /** Latency of `calls` calls one after another, and the process CPU they cost. */
  async timeCalls(service: string, expected: HostValue, calls: number): Promise<{ p50Us: number; p99Us: number; cpuUs: number }> {
    for (let i = 0; i < WARM_UP_CALLS; i++) await this.runCall(service, expected);
    const latencies = new Float64Array(calls);
    const cpuBefore = process.cpuUsage();
    for (let i = 0; i < calls; i++) {
      const started = performance.now();
      await this.runCall(service, expected);
      latencies[i] = (performance.now() - started) * 1000;
    }
    const cpu = process.cpuUsage(cpuBefore);
    const values = [...latencies];
    return { p50Us: median(values), p99Us: quantile(values, 0.99), cpuUs: (cpu.user + cpu.system) / calls };
  }

  /** Adds a service as a new script file would: a fresh worker and VM. Resolves with its name once it serves. */
  private async addService(source: string): Promise<string> {
    const name = `vm-${++this.nextVm}`;
    this.catalog.add(name, source);
    await until(() => this.supervisor.isRunning(name), `service ${name} to load`, VM_START_TIMEOUT_MS);
    return name;
  }

  /** Starts `count` services one after another. */
  async startVms(count: number): Promise<{ startMs: number; rssKb: number; luaKb: number }> {
    await sleep(SETTLE_MS);
    const rssBefore = settledRssKb();
    const names: string[] = [];
    const startMs: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      names.push(await this.addService(INSTANT));
      startMs.push(performance.now() - started);
    }
    await sleep(SETTLE_MS);
    const rssAfter = settledRssKb();
    const luaBytes = names.map((name) => this.luaMemoryBytes(name));
    if (luaBytes.some((bytes) => bytes === 0)) throw new Error('a fresh VM has not answered the watchdog: no Lua memory figure');
    return { startMs: median(startMs), rssKb: (rssAfter - rssBefore) / count, luaKb: median(luaBytes) / 1024 };
  }

  /**
   * `count` calls left waiting on a host reply: what they hold, then they are let go. On a VM of its own:
   * in a VM that has run calls before, the new ones would be paid for by collecting the old ones' garbage.
   */
  async suspendCalls(count: number): Promise<{ rssKb: number; luaKb: number }> {
    const service = await this.addService(SUSPENDED);
    await sleep(SETTLE_MS);
    await this.awaitPong();
    const luaBefore = this.luaMemoryBytes(service);
    const rssBefore = settledRssKb();
    const outcomes = Array.from({ length: count }, () => this.runCall(service, true));
    await until(() => this.held.length === count, `${count} calls to wait on the host`, VM_START_TIMEOUT_MS);
    await this.awaitPong();
    const luaAfter = this.luaMemoryBytes(service);
    const rssAfter = settledRssKb();
    for (const release of this.held.splice(0)) release();
    await Promise.all(outcomes);
    // Its worker ends, so the next round does not start beside a heap full of this one's garbage.
    this.catalog.remove(service);
    return { rssKb: (rssAfter - rssBefore) / count, luaKb: (luaAfter - luaBefore) / 1024 / count };
  }

  /** Two watchdog intervals: the Lua memory read next comes from a pong sent after this call. */
  private awaitPong(): Promise<void> {
    return sleep(2 * this.watchdogIntervalMs + 50);
  }

  private luaMemoryBytes(service: string): number {
    return this.supervisor.status().find((status) => status.name === service)?.memoryBytes ?? 0;
  }
}

/** Medians of each figure over the rounds. */
function medianRound(rounds: readonly LuaEngineRound[]): LuaEngineRound {
  const keys = Object.keys(rounds[0]!) as Array<keyof LuaEngineRound>;
  return Object.fromEntries(keys.map((key) => [key, median(rounds.map((round) => round[key]))])) as unknown as LuaEngineRound;
}

/** Runs the rounds on one supervisor configured as the server configures its own by default. */
async function measureLuaEngine(options: LuaEngineOptions, log: (message: string) => void): Promise<LuaEngineFigures> {
  const { services } = defaultVariables();
  // as startServiceEngine derives them from [services]
  const watchdogIntervalMs = Math.max(50, Math.floor(services.watchdog_ms / 4));
  const bench = new EngineBench(watchdogIntervalMs, services.memory_limit_mb * MB, services.event_budget_ms, services.watchdog_ms);
  await bench.start();
  try {
    const roundNumbers = Array.from({ length: options.rounds }, (_, i) => i + 1);
    // Memory first, every round of it: thousands of timed calls leave garbage in the workers' heaps, and
    // their later release would come off the RSS growth being measured.
    const vms = [];
    for (const round of roundNumbers) {
      log(`lua engine: memory per VM, round ${round}/${options.rounds}: ${options.vms} VMs`);
      vms.push(await bench.startVms(options.vms));
    }
    const suspended = [];
    for (const round of roundNumbers) {
      log(`lua engine: memory per suspended call, round ${round}/${options.rounds}: ${options.suspendedCalls} calls`);
      suspended.push(await bench.suspendCalls(options.suspendedCalls));
    }
    const rounds: LuaEngineRound[] = [];
    for (const [i, round] of roundNumbers.entries()) {
      log(`lua engine: start per call, round ${round}/${options.rounds}: ${options.calls} calls of each kind`);
      const start = await bench.timeCalls('instant', 7, options.calls);
      const hostCall = await bench.timeCalls('one-host-call', true, options.calls);
      rounds.push({
        startP50Us: start.p50Us, startP99Us: start.p99Us, startCpuUs: start.cpuUs,
        hostCallP50Us: hostCall.p50Us, hostCallP99Us: hostCall.p99Us, hostCallCpuUs: hostCall.cpuUs,
        vmStartMs: vms[i]!.startMs, vmRssKb: vms[i]!.rssKb, vmLuaKb: vms[i]!.luaKb,
        suspendedRssKb: suspended[i]!.rssKb, suspendedLuaKb: suspended[i]!.luaKb,
      });
    }
    return {
      options,
      memoryLimitMb: services.memory_limit_mb,
      eventBudgetMs: services.event_budget_ms,
      watchdogIntervalMs,
      rounds,
      median: medianRound(rounds),
    };
  } finally {
    await bench.close();
  }
}

const fixed = (value: number, digits: number) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** One line per round, as the bench's detail section prints it. */
export function describeRound(round: LuaEngineRound): string {
  return `start per call p50 ${fixed(round.startP50Us, 0)} us p99 ${fixed(round.startP99Us, 0)} us, ${fixed(round.startCpuUs, 0)} us CPU; ` +
    `with one host call p50 ${fixed(round.hostCallP50Us, 0)} us p99 ${fixed(round.hostCallP99Us, 0)} us, ${fixed(round.hostCallCpuUs, 0)} us CPU; ` +
    `VM start ${fixed(round.vmStartMs, 1)} ms, ${fixed(round.vmRssKb / 1024, 1)} MB RSS and ${fixed(round.vmLuaKb, 0)} KB Lua each; ` +
    `suspended call ${fixed(round.suspendedRssKb, 2)} KB RSS and ${fixed(round.suspendedLuaKb, 2)} KB Lua each`;
}

/**
 * Runs this file in a Node process of its own (with --expose-gc), so that the RSS growth it measures is the
 * engine's alone; the figures come back through a JSON file in `dir`.
 */
export async function measureLuaEngineInChild(quick: boolean, dir: string): Promise<LuaEngineFigures> {
  const jsonFile = path.join(dir, 'lua-engine.json');
  const args = ['--expose-gc', fileURLToPath(import.meta.url), '--json', jsonFile, ...(quick ? ['--quick'] : [])];
  const { code, output, timedOut } = await runChild(process.execPath, args, CHILD_TIMEOUT_MS);
  if (timedOut || code !== 0) throw new Error(`lua-engine.js ${timedOut ? `took over ${CHILD_TIMEOUT_MS / 1000} s` : `exited with code ${code}`}:\n${output.slice(-2000)}`);
  return JSON.parse(readFileSync(jsonFile, 'utf8')) as LuaEngineFigures;
}

async function main(argv: readonly string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const jsonFile = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : undefined;
  const options: LuaEngineOptions = { calls: 5_000, vms: 4, suspendedCalls: quick ? 2_000 : 10_000, rounds: quick ? 1 : 3 };
  const figures = await measureLuaEngine(options, (message) => process.stderr.write(`${message}\n`));
  if (jsonFile !== undefined) writeFileSync(jsonFile, JSON.stringify(figures));
  for (const [i, round] of figures.rounds.entries()) process.stdout.write(`round ${i + 1}: ${describeRound(round)}\n`);
  process.stdout.write(`median: ${describeRound(figures.median)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
