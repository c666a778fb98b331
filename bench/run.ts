/**
 * `npm run bench`: drives Switchboard and the Kamailio reference with SIPp and prints registrations/s,
 * calls/s, CPU per operation and memory per registration; with --media also RTP relayed through
 * Switchboard (loss, added jitter, CPU per call); with --lua the cost of the Lua services (start per call,
 * memory, CPU per call through the extension service against plain routing). See bench/README.md.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureCalls, MAX_FAILURE_RATIO, type CallFigures, type CallStep } from './calls.js';
import { startKamailio } from './kamailio.js';
import { describeRound, measureLuaEngineInChild, type LuaEngineFigures } from './lua-engine.js';
import { MAX_LUA_CPU_RATIO, measureLuaServices, type LuaServicesFigures, type RoutingFigures } from './lua-services.js';
import {
  MAX_ADDED_JITTER_MS, MAX_MEDIA_LOSS_RATIO, measureMediaRelay, MIN_MEDIA_SECONDS, TARGET_MEDIA_CALLS, type MediaRelayFigures, type RelayEngineChoice,
} from './media-relay.js';
import { measureMemory, TCP_SETTLE_MS, type MemoryFigures, type MemoryRun } from './memory.js';
import { freePorts, runChild } from './processes.js';
import { peakRssKb, rssKb } from './procfs.js';
import { measureRegistrations, registerOnce, type RegistrationFigures } from './registrations.js';
import type { ServerUnderTest } from './server-under-test.js';
import { workDir } from './sipp.js';
import { startSwitchboard } from './switchboard.js';
import { callFile, registrationFile, userRange } from './users.js';

const TARGET_REGISTRATIONS_PER_SEC = 3_000;
const TARGET_CALLS_PER_SEC = 500;
const TARGET_KB_PER_REGISTRATION = 2;
const MICRO_BENCHMARKS = ['parser', 'transactions', 'store', 'digest'];
const MICRO_TIMEOUT_MS = 120_000;

interface Settings {
  quick: boolean;
  servers: Array<'switchboard' | 'kamailio'>;
  calls: boolean;
  memory: boolean;
  micro: boolean;
  registrationCount: number;
  registrationRepeats: number;
  memoryUsers: number;
  callRates: number[];
  callStepSeconds: number;
  /** The media relay phase runs (`--media`), or runs alone (`--only-media`). */
  media: boolean;
  mediaCalls: number;
  mediaSeconds: number;
  /** `[media] relay_engine` of the measured server; undefined: its default (auto) */
  mediaEngine: RelayEngineChoice | undefined;
  /** `[media] relay_realtime` of the measured server (`--media-realtime on|off`, default on) */
  mediaRealtime: boolean;
  /** The Lua services phase runs (`--lua`), or runs alone (`--only-lua`). */
  lua: boolean;
  /** A phase runs alone (`--only-media`, `--only-lua`): no load or memory phase, Switchboard only. */
  alone: boolean;
}

const USAGE = `usage: node dist/bench/run.js [--quick] [--only switchboard|kamailio] [--no-calls] [--no-memory] [--micro]
                            [--media | --only-media] [--media-calls N] [--media-seconds S] [--media-engine native|node]
                            [--media-realtime on|off] [--lua | --only-lua]`;
const MEDIA_VALUE_FLAGS = ['--media-calls', '--media-seconds', '--media-engine', '--media-realtime'];

function parseArgs(argv: readonly string[]): Settings {
  const has = (flag: string) => argv.includes(flag);
  const known = new Set(['--quick', '--only', 'switchboard', 'kamailio', '--no-calls', '--no-memory', '--micro', '--media', '--only-media', '--lua', '--only-lua']);
  const unknown = argv.find((arg, i) => !known.has(arg) && !MEDIA_VALUE_FLAGS.includes(arg) && !MEDIA_VALUE_FLAGS.includes(argv[i - 1] ?? ''));
  if (unknown !== undefined || has('--help')) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(unknown === undefined ? 0 : 2);
  }
  const wholeNumber = (flag: string, fallback: number, minimum: number) => {
    if (!has(flag)) return fallback;
    const value = Number(argv[argv.indexOf(flag) + 1]);
    if (Number.isInteger(value) && value >= minimum) return value;
    process.stderr.write(`${flag} needs a whole number of at least ${minimum}\n${USAGE}\n`);
    return process.exit(2);
  };
  const alone = has('--only-media') || has('--only-lua');
  if (alone && has('--only') && argv[argv.indexOf('--only') + 1] !== 'switchboard') {
    process.stderr.write(`--only-media and --only-lua measure Switchboard alone\n${USAGE}\n`);
    process.exit(2);
  }
  const onlyArg = has('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
  const only = onlyArg === 'switchboard' || onlyArg === 'kamailio' ? onlyArg : undefined;
  if (has('--only') && only === undefined) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  const engineArg = has('--media-engine') ? argv[argv.indexOf('--media-engine') + 1] : undefined;
  if (engineArg !== undefined && engineArg !== 'native' && engineArg !== 'node') {
    process.stderr.write(`--media-engine is native or node\n${USAGE}\n`);
    process.exit(2);
  }
  const realtimeArg = has('--media-realtime') ? argv[argv.indexOf('--media-realtime') + 1] : 'on';
  if (realtimeArg !== 'on' && realtimeArg !== 'off') {
    process.stderr.write(`--media-realtime is on or off\n${USAGE}\n`);
    process.exit(2);
  }
  const quick = has('--quick');
  return {
    quick,
    servers: alone ? ['switchboard'] : only === undefined ? ['switchboard', 'kamailio'] : [only],
    calls: !has('--no-calls'),
    memory: !has('--no-memory'),
    micro: has('--micro'),
    registrationCount: quick ? 10_000 : 30_000,
    registrationRepeats: quick ? 1 : 3,
    memoryUsers: quick ? 10_000 : 20_000,
    callRates: quick ? [100, 300, 500] : [100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500],
    callStepSeconds: quick ? 3 : 5,
    media: has('--media') || has('--only-media'),
    mediaCalls: wholeNumber('--media-calls', quick ? 100 : TARGET_MEDIA_CALLS, 1),
    mediaSeconds: wholeNumber('--media-seconds', quick ? 10 : 60, MIN_MEDIA_SECONDS),
    mediaEngine: engineArg,
    mediaRealtime: realtimeArg === 'on',
    lua: has('--lua') || has('--only-lua'),
    alone,
  };
}

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

// Extension numbers: re-registering users and callees (memory.ts has its own users).
const reRegisteringUsers = userRange(100_000, 2_000);
const callees = userRange(200_000, 200);

interface ServerFigures {
  name: string;
  provisionSec?: number;
  registrations?: RegistrationFigures;
  calls?: CallFigures;
  memory?: MemoryFigures;
  media?: MediaRelayFigures;
  luaEngine?: LuaEngineFigures;
  luaServices?: LuaServicesFigures;
  peakRssKb?: number;
  /** VmRSS after each phase: shows which phase the peak comes from. */
  rssByPhase: Array<{ phase: string; kb: number }>;
  error?: string;
}

async function benchServer(server: ServerUnderTest, settings: Settings): Promise<ServerFigures> {
  const figures: ServerFigures = { name: server.name, rssByPhase: [] };
  const sampleRss = (phase: string) => {
    if (server.memoryPid !== undefined) figures.rssByPhase.push({ phase, kb: rssKb(server.memoryPid) });
  };
  const usersInjection = registrationFile(`${server.name}-users.csv`, reRegisteringUsers);

  const started = Date.now();
  await server.provision([...reRegisteringUsers, ...callees]);
  figures.provisionSec = (Date.now() - started) / 1000;
  log(`${server.name}: users provisioned in ${figures.provisionSec.toFixed(1)} s`);
  sampleRss('provisioning');

  // Warm-up (JIT, caches) and first registration of every re-registering user; not measured.
  const warmUp = await registerOnce(server, `${server.name}-warm-up`, usersInjection, reRegisteringUsers.length, 200);
  log(`${server.name}: warm-up ${warmUp.result.successful}/${reRegisteringUsers.length} registered`);

  log(`${server.name}: registrations, ${settings.registrationRepeats} x ${settings.registrationCount}`);
  figures.registrations = await measureRegistrations(server, usersInjection, {
    count: settings.registrationCount, concurrency: 200, repeats: settings.registrationRepeats,
  });
  sampleRss('registrations');

  if (settings.calls) {
    log(`${server.name}: calls, rates ${settings.callRates.join(', ')} cps for ${settings.callStepSeconds} s each`);
    const [uasPort, mediaPort, callerMediaPort] = (await freePorts(3)) as [number, number, number];
    figures.calls = await measureCalls(server, {
      rates: settings.callRates,
      stepSeconds: settings.callStepSeconds,
      callInjection: callFile(`${server.name}-calls.csv`, reRegisteringUsers, callees),
      calleeInjection: registrationFile(`${server.name}-callees.csv`, callees),
      calleeCount: callees.length,
      uasPort,
      mediaPort,
      callerMediaPort,
    });
    sampleRss('calls');
  }
  if (server.memoryPid !== undefined) figures.peakRssKb = peakRssKb(server.memoryPid);
  return figures;
}

async function benchLoad(kind: 'switchboard' | 'kamailio', settings: Settings): Promise<ServerFigures> {
  const name = kind === 'switchboard' ? 'Switchboard' : 'Kamailio';
  let server: ServerUnderTest | undefined;
  try {
    const [sipPort, httpsPort] = (await freePorts(2)) as [number, number];
    log(`${name}: starting on UDP ${sipPort}`);
    server = kind === 'switchboard' ? await startSwitchboard(sipPort, httpsPort) : await startKamailio(sipPort);
    return await benchServer(server, settings);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`${name}: FAILED: ${message}`);
    if (server) log(`${name} output (tail):\n${server.output().slice(-3000)}`);
    return { name, error: message, rssByPhase: [] };
  } finally {
    await server?.stop();
  }
}

async function benchOne(kind: 'switchboard' | 'kamailio', settings: Settings): Promise<ServerFigures> {
  const figures: ServerFigures = settings.alone ? { name: 'Switchboard', rssByPhase: [] } : await benchLoad(kind, settings);
  const failed = (phase: string, error: unknown) => {
    const message = `${phase}: ${error instanceof Error ? error.message : String(error)}`;
    log(`${figures.name}: FAILED: ${message}`);
    figures.error = figures.error === undefined ? message : `${figures.error}; ${message}`;
  };
  // On an instance of its own, after the load one has stopped: neither its heap nor its transactions count.
  if (kind === 'switchboard' && settings.memory && !settings.alone) {
    try {
      figures.memory = await measureMemory(settings.memoryUsers, log);
    } catch (error) {
      failed('memory', error);
    }
  }
  // Also on an instance of its own: the relay's sockets and buffers are the figure, not the load phases' heap.
  if (kind === 'switchboard' && settings.media) {
    try {
      figures.media = await measureMediaRelay({ calls: settings.mediaCalls, seconds: settings.mediaSeconds, engine: settings.mediaEngine, realtime: settings.mediaRealtime }, log);
    } catch (error) {
      failed('media', error);
    }
  }
  if (kind === 'switchboard' && settings.lua) {
    try {
      log('Lua engine in process: service start per call, memory per VM and per suspended call');
      figures.luaEngine = await measureLuaEngineInChild(settings.quick, workDir);
    } catch (error) {
      failed('lua engine', error);
    }
    // Two fresh instances, extension service and plain routing, after everything else has stopped.
    try {
      figures.luaServices = await measureLuaServices({ rates: settings.callRates, stepSeconds: settings.callStepSeconds }, log);
    } catch (error) {
      failed('lua services', error);
    }
  }
  return figures;
}

// ---- report ----

const num = (value: number | undefined, digits = 0) => (value === undefined || Number.isNaN(value) ? '-' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const pct = (ratio: number | undefined) => (ratio === undefined ? '-' : `${(ratio * 100).toFixed(3)}%`);
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 || Number.isNaN(a) || Number.isNaN(b) ? '-' : (a / b).toFixed(2));

function printDetails(figures: ServerFigures): void {
  const lines: string[] = [`\n${figures.name}`];
  if (figures.error) lines.push(`  FAILED: ${figures.error}`);
  if (figures.provisionSec !== undefined) lines.push(`  provisioning: ${num(figures.provisionSec, 1)} s`);
  for (const [i, run] of (figures.registrations?.runs ?? []).entries()) {
    lines.push(`  registrations run ${i + 1}: ${num(run.ratePerSec)}/s, ${run.result.successful} ok, ${run.result.created - run.result.successful} failed, ${run.result.retransmissions} retransmissions, ${run.udpDrops} UDP drops, ${num(run.cpuMicrosPerRegistration)} us CPU each`);
    if (run.result.errors) lines.push(`    sipp errors (${run.result.dir}):\n${run.result.errors}`);
  }
  const memory = figures.memory;
  if (memory) {
    lines.push(`  memory, fresh instance: ${num(2 * memory.users)} extensions provisioned in ${num(memory.provisionSec, 1)} s`);
    const describe = (phase: MemoryRun, when: string) =>
      `    ${phase.transport}: ${phase.run.result.successful}/${memory.users} registered at ${num(phase.run.ratePerSec)}/s, ${phase.run.result.retransmissions} retransmissions; ` +
      `RSS ${num(phase.rssBeforeKb / 1024, 1)} -> ${num(phase.rssAfterKb / 1024, 1)} MB ${when}, ${num(phase.kbPerRegistration, 2)} KB each; API lists ${num(phase.listed)} registrations`;
    lines.push(describe(memory.stored, `${TCP_SETTLE_MS / 1000} s after`));
    lines.push(describe(memory.transient, 'at once (includes live transactions)'));
  }
  if (figures.rssByPhase.length > 0) {
    lines.push(`  RSS after each phase: ${figures.rssByPhase.map(({ phase, kb }) => `${phase} ${num(kb / 1024, 1)} MB`).join(', ')}; peak ${num((figures.peakRssKb ?? Number.NaN) / 1024, 1)} MB`);
  }
  for (const step of figures.calls?.steps ?? []) lines.push(...callStepDetails(step, '  '));
  if (figures.media) lines.push(...mediaDetails(figures.media));
  if (figures.luaEngine) lines.push(...luaEngineDetails(figures.luaEngine));
  if (figures.luaServices) lines.push(...luaServicesDetails(figures.luaServices));
  process.stdout.write(`${lines.join('\n')}\n`);
}

function callStepDetails(step: CallStep, indent: string): string[] {
  const lines = [`${indent}calls at ${step.targetRate}/s: ${step.passed ? 'pass' : 'FAIL'}, created ${num(step.achievedRate)}/s, ${step.successful}/${step.attempted} ok, ${step.failed} failed (${pct(step.failureRatio)}), ` +
    `INVITE->180 median ${num(step.ringMedianMs)} ms p99 ${num(step.ringP99Ms)} ms, ${step.result.retransmissions} retransmissions, ${step.udpDrops} UDP drops, ${num(step.cpuMicrosPerCall)} us CPU per call`];
  if (!step.passed && step.result.errors) lines.push(`${indent}  caller errors (${step.result.dir}):\n${step.result.errors}`);
  if (!step.passed && step.calleeErrors) lines.push(`${indent}  callee errors:\n${step.calleeErrors}`);
  return lines;
}

function luaEngineDetails(engine: LuaEngineFigures): string[] {
  return [
    `  Lua engine in process (lua-engine.js: the supervisor, real workers, trivial scripts; [services] defaults: ${engine.memoryLimitMb} MB, ` +
      `${engine.eventBudgetMs} ms event budget, watchdog ping every ${engine.watchdogIntervalMs} ms): ${num(engine.options.calls)} calls of each kind one after another, ` +
      `${engine.options.vms} VMs started and ${num(engine.options.suspendedCalls)} calls suspended per round`,
    ...engine.rounds.map((round, i) => `    round ${i + 1}: ${describeRound(round)}`),
  ];
}

const ROUTING_LABELS = { service: 'extension service', plain: 'plain routing' } as const;

function luaServicesDetails(lua: LuaServicesFigures): string[] {
  const lines = ['  Lua services end to end: calls to extensions through the extension service ([services] extension_service = true) and by plain routing (false), two fresh instances climbing the ladder in turn'];
  for (const routing of [lua.service, lua.plain]) {
    lines.push(`    ${ROUTING_LABELS[routing.mode]}: mode check ${routing.modeCheck}; ${routing.serviceFailures} extension service failures in the server's log`);
    for (const step of routing.steps) lines.push(...callStepDetails(step, '      '));
  }
  const perStep = lua.comparedRates.map((rate) => {
    const cpuAt = (routing: RoutingFigures) => routing.steps.find((step) => step.targetRate === rate)?.cpuMicrosPerCall;
    return `${rate}/s ${ratio(cpuAt(lua.service), cpuAt(lua.plain))}`;
  });
  lines.push(`    CPU per call over the steps both passed: ${num(lua.serviceCpuMicrosPerCall)} us through the extension service, ${num(lua.plainCpuMicrosPerCall)} us plain, ` +
    `ratio ${ratio(lua.serviceCpuMicrosPerCall, lua.plainCpuMicrosPerCall)} (per step: ${perStep.join(', ') || 'none'}), target <= ${MAX_LUA_CPU_RATIO.toFixed(2)}: ${lua.passed ? 'pass' : 'FAIL'}`);
  return lines;
}

function mediaDetails(media: MediaRelayFigures): string[] {
  const b = media.blaster;
  const lines = [
    `  media relay (${media.engine} engine, relay thread ${media.relayPriority} priority, server on CPUs ${media.serverCpus}), fresh instance: ${media.established}/${media.callsAsked} calls up (INVITE->180 at set-up median ${num(media.setupRingMedianMs, 1)} ms p99 ${num(media.setupRingP99Ms, 1)} ms), ` +
      `RTP both ways for ${b.seconds} s: ${media.passed ? 'pass' : 'FAIL'}`,
    `    packets in ${num(media.packetsInPerSec)}/s, out ${num(media.packetsOutPerSec)}/s; sent ${num(b.sent)} of ${num(b.expected)} (${num(b.sendErrors)} refused by the kernel), lost ${num(b.lost)} (${pct(media.lossRatio)}), ` +
      `${num(b.duplicates)} duplicated, ${num(b.reordered)} reordered, ${num(b.foreign)} foreign, ${num(b.malformed)} altered, ${num(b.silentStreams)} silent streams; ${num(media.udpDrops)} UDP drops`,
    `    one-way delay through the server median ${num(media.delayP50Ms, 2)} ms p99 ${num(media.delayP99Ms, 2)} ms max ${num(b.delayUs.max / 1000, 1)} ms; added jitter p99 ${num(media.addedJitterP99Ms, 2)} ms`,
    `    server CPU ${num(media.serverCpuPercent, 1)}% of a core over ${num(media.cpuWindowSec, 1)} s, ${num(media.serverCpuPer100Calls, 2)}% per 100 calls; ` +
      `blaster CPU ${num(b.cpuPercent, 1)}%, max send lag ${num(b.maxSendLagUs / 1000, 1)} ms, ${num(b.catchUpBatches)} catch-up batches`,
    `    INVITE->180 under media load: median ${num(media.ringMedianMs, 1)} ms p99 ${num(media.ringP99Ms, 1)} ms, ${media.probesEstablished}/${media.probesAttempted} probe calls ok`,
    `    hung up ${media.hungUp}/${media.established}; ${media.droppedByServer} calls ended by the server before that; ` +
      `${num(media.sipRetransmissions)} SIP retransmissions, ${num(media.unreadableDatagrams)} unreadable datagrams at the bench's user agents`,
  ];
  if (media.setupFailures) lines.push(`    set-up failures: ${media.setupFailures}`);
  if (media.probeFailures) lines.push(`    probe failures: ${media.probeFailures}`);
  if (media.hangUpFailures) lines.push(`    hang-up failures: ${media.hangUpFailures}`);
  return lines;
}

function printTable(sb: ServerFigures | undefined, kam: ServerFigures | undefined, settings: Settings): void {
  const rows: string[][] = [];
  if (!settings.alone) rows.push(...loadAndMemoryRows(sb, kam));
  if (settings.media) rows.push(...mediaRows(sb?.media));
  if (rows.length > 0) printRows([['Figure', 'Switchboard', 'Kamailio', 'SB/Kam', 'Target'], ...rows]);
  if (settings.lua) printRows([['Lua services (Switchboard)', 'Ext. service', 'Plain routing', 'Service/plain', 'Target'], ...luaRows(sb)]);
}

/** The first row is the header. */
function printRows(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const format = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  process.stdout.write(`\n${format(rows[0]!)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.slice(1).map(format).join('\n')}\n`);
}

function luaRows(sb: ServerFigures | undefined): string[][] {
  const lua = sb?.luaServices;
  const engine = sb?.luaEngine?.median;
  const best = (routing: RoutingFigures | undefined) => routing?.best;
  const ringAt = (routing: RoutingFigures | undefined) => {
    const step = routing?.steps.find((s) => s.targetRate === lua?.ringRate);
    return step ? `${num(step.ringMedianMs)} / ${num(step.ringP99Ms)}` : '-';
  };
  const pair = (a: number | undefined, b: number | undefined, digits: number) => (a === undefined || b === undefined ? '-' : `${num(a, digits)} / ${num(b, digits)}`);
  // Not measured counts as not met: the table never shows a target as passed without a figure.
  const verdict = lua?.passed ? 'pass' : 'FAIL';
  return [
    ['CPU us per call (steps both passed)', num(lua?.serviceCpuMicrosPerCall), num(lua?.plainCpuMicrosPerCall), ratio(lua?.serviceCpuMicrosPerCall, lua?.plainCpuMicrosPerCall), `<= ${MAX_LUA_CPU_RATIO.toFixed(2)}: ${verdict}`],
    [`Calls/s (highest step, < ${pct(MAX_FAILURE_RATIO)} failed)`, num(best(lua?.service)?.targetRate), num(best(lua?.plain)?.targetRate), ratio(best(lua?.service)?.targetRate, best(lua?.plain)?.targetRate), ''],
    [`  INVITE->180 median / p99 ms at ${lua?.ringRate === undefined ? '-' : num(lua.ringRate)}/s`, ringAt(lua?.service), ringAt(lua?.plain), '', ''],
    ['Service start per call p50 / p99 us (in process)', pair(engine?.startP50Us, engine?.startP99Us, 0), 'n/a', '', ''],
    ['  with one host call p50 / p99 us', pair(engine?.hostCallP50Us, engine?.hostCallP99Us, 0), 'n/a', '', ''],
    ['  CPU us per call, without / with the host call', pair(engine?.startCpuUs, engine?.hostCallCpuUs, 0), 'n/a', '', ''],
    ['Memory per service VM: RSS MB / Lua KB', pair(engine === undefined ? undefined : engine.vmRssKb / 1024, engine?.vmLuaKb, 1), 'n/a', '', ''],
    ['Memory per suspended call: RSS KB / Lua KB', pair(engine?.suspendedRssKb, engine?.suspendedLuaKb, 2), 'n/a', '', ''],
  ];
}

function mediaRows(media: MediaRelayFigures | undefined): string[][] {
  return [
    ['Media relay: concurrent calls with RTP', media ? `${num(media.established)}` : '-', 'n/a', '', `>= ${num(TARGET_MEDIA_CALLS)}`],
    ['  relay engine', media?.engine ?? '-', 'n/a', '', ''],
    ['  relay thread priority', media?.relayPriority ?? '-', 'n/a', '', ''],
    ['  RTP loss', pct(media?.lossRatio), 'n/a', '', `< ${pct(MAX_MEDIA_LOSS_RATIO)}`],
    ['  added jitter p99 ms', num(media?.addedJitterP99Ms, 2), 'n/a', '', `< ${MAX_ADDED_JITTER_MS}`],
    ['  packets/s in / out', media ? `${num(media.packetsInPerSec)} / ${num(media.packetsOutPerSec)}` : '-', 'n/a', '', ''],
    ['  server CPU % of a core / per 100 calls', media ? `${num(media.serverCpuPercent, 1)} / ${num(media.serverCpuPer100Calls, 2)}` : '-', 'n/a', '', ''],
    ['  INVITE->180 under media load median / p99 ms', media ? `${num(media.ringMedianMs, 1)} / ${num(media.ringP99Ms, 1)}` : '-', 'n/a', '', ''],
  ];
}

function loadAndMemoryRows(sb: ServerFigures | undefined, kam: ServerFigures | undefined): string[][] {
  const rows: string[][] = [];
  const reg = (f?: ServerFigures) => f?.registrations;
  const best = (f?: ServerFigures) => f?.calls?.best;
  rows.push(['Registrations/s (closed loop, median)', num(reg(sb)?.ratePerSec), num(reg(kam)?.ratePerSec), ratio(reg(sb)?.ratePerSec, reg(kam)?.ratePerSec), `>= ${num(TARGET_REGISTRATIONS_PER_SEC)}`]);
  rows.push(['  registration failures', pct(reg(sb)?.failureRatio), pct(reg(kam)?.failureRatio), '', `< ${pct(MAX_FAILURE_RATIO)}`]);
  rows.push(['  CPU us per registration', num(reg(sb)?.cpuMicrosPerRegistration), num(reg(kam)?.cpuMicrosPerRegistration), ratio(reg(sb)?.cpuMicrosPerRegistration, reg(kam)?.cpuMicrosPerRegistration), '']);
  rows.push([`Calls/s (highest step, < ${pct(MAX_FAILURE_RATIO)} failed)`, num(best(sb)?.targetRate), num(best(kam)?.targetRate), ratio(best(sb)?.targetRate, best(kam)?.targetRate), `>= ${TARGET_CALLS_PER_SEC}`]);
  rows.push(['  achieved call creation rate', num(best(sb)?.achievedRate), num(best(kam)?.achievedRate), '', '']);
  rows.push(['  failed calls at that step', best(sb) ? `${best(sb)!.failed}/${best(sb)!.attempted}` : '-', best(kam) ? `${best(kam)!.failed}/${best(kam)!.attempted}` : '-', '', '']);
  rows.push(['  CPU us per call', num(best(sb)?.cpuMicrosPerCall), num(best(kam)?.cpuMicrosPerCall), ratio(best(sb)?.cpuMicrosPerCall, best(kam)?.cpuMicrosPerCall), '']);
  rows.push(['  INVITE->180 median / p99 ms', best(sb) ? `${num(best(sb)!.ringMedianMs)} / ${num(best(sb)!.ringP99Ms)}` : '-', best(kam) ? `${num(best(kam)!.ringMedianMs)} / ${num(best(kam)!.ringP99Ms)}` : '-', '', '']);
  rows.push(['Peak RSS MB (VmHWM)', num(sb?.peakRssKb === undefined ? undefined : sb.peakRssKb / 1024, 1), 'n/a', '', '']);
  const memory = sb?.memory;
  const per10kMb = (kb: number | undefined) => num(kb === undefined ? undefined : (kb * 10_000) / 1024, 1);
  rows.push(['RSS per 10,000 registrations MB (TCP, fresh)', per10kMb(memory?.stored.kbPerRegistration), 'n/a', '', `<= ${per10kMb(TARGET_KB_PER_REGISTRATION)}`]);
  rows.push(['  KB per registration (stored bindings)', num(memory?.stored.kbPerRegistration, 2), 'n/a', '', `<= ${TARGET_KB_PER_REGISTRATION}`]);
  rows.push(['Transient: RSS per 10,000 UDP registrations MB', per10kMb(memory?.transient.kbPerRegistration), 'n/a', '', '']);
  rows.push(['  KB per registration, at once (live transactions)', num(memory?.transient.kbPerRegistration, 2), 'n/a', '', '']);
  return rows;
}

async function runMicroBenchmarks(): Promise<void> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const name of MICRO_BENCHMARKS) {
    const file = path.join(here, `${name}.js`);
    if (!existsSync(file)) continue;
    log(`micro-benchmark ${name}`);
    const { code, output, timedOut } = await runChild(process.execPath, [file], MICRO_TIMEOUT_MS);
    process.stdout.write(`\n--- ${name} (exit ${timedOut ? 'timeout' : code}) ---\n${output}`);
  }
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  log(`work directory ${workDir}${settings.quick ? ' (quick)' : ''}`);
  const results = new Map<string, ServerFigures>();
  for (const kind of settings.servers) results.set(kind, await benchOne(kind, settings));
  for (const figures of results.values()) printDetails(figures);
  printTable(results.get('switchboard'), results.get('kamailio'), settings);
  if (settings.micro) await runMicroBenchmarks();
  const failed = [...results.values()].some((figures) => figures.error !== undefined);
  process.exitCode = failed ? 1 : 0;
}

await main();
