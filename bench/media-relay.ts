/**
 * Media relay: N calls through Switchboard with RTP both ways for S seconds (bench/media/rtp-blaster.c,
 * pinned to one core), while the server's CPU is measured and a light stream of extra calls times
 * INVITE -> 180 under that load. See bench/README.md.
 */
import { performance } from 'node:perf_hooks';
import { buildBlaster, pinAwayFromBlaster, startBlaster, type Blaster, type BlasterReport, type CallPorts, type CallRelays } from './media/blaster.js';
import { paced, summarizeFailures } from './media/pacing.js';
import { SipUserAgent, type OutgoingCall } from './media/sip-ua.js';
import { freePorts, sleep } from './processes.js';
import { cpuMicros, udpReceiveBufferErrors } from './procfs.js';
import { passwordOf } from './server-under-test.js';
import { workDir } from './sipp.js';
import { median, quantile } from './statistics.js';
import { startSwitchboard, type Switchboard } from './switchboard.js';
import { userRange } from './users.js';

export const TARGET_MEDIA_CALLS = 1_000;
export const MAX_MEDIA_LOSS_RATIO = 0.001;
export const MAX_ADDED_JITTER_MS = 1;
/** The blaster needs at least this much: warm-up, two measured halves of a second or more, and a tail. */
export const MIN_MEDIA_SECONDS = 6;

const DEFAULT_RTP_PORTS = '20000-29999';
const DOMAIN = '127.0.0.1';
const FIRST_CALLER = 500_000;
const FIRST_CALLEE = 600_000;
const PROBE_CALLER = '700000';
const PROBE_CALLEE = '700001';
/** Probe calls carry no media: their SDP names the discard port. */
const NO_MEDIA_PORT = 9;

const REGISTER_RATE = 500;
const REGISTER_IN_FLIGHT = 50;
const SETUP_RATE = 100;
const SETUP_IN_FLIGHT = 200;
const HANGUP_RATE = 200;
const HANGUP_IN_FLIGHT = 200;
const SIP_TIMEOUT_MS = 15_000;
const PROBE_RATE = 20;
const PROBE_IN_FLIGHT = 50;
const PROBE_HOLD_MS = 500;
const PROBE_TIMEOUT_MS = 5_000;
/** Latching, first-packet paths and the probes' last hang-ups stay out of the measured windows. */
const WARM_UP_MS = 2_000;
const TAIL_MS = 1_000;

export type RelayEngineChoice = 'native' | 'node';

export interface MediaRelayOptions {
  calls: number;
  seconds: number;
  /** the server's `[media] relay_engine`; undefined leaves it at its default (auto) */
  engine?: RelayEngineChoice;
  /** the server's `[media] relay_realtime` */
  realtime: boolean;
}

export interface MediaRelayFigures {
  /** The relay engine the server says it started with. */
  engine: string;
  /** The relay thread's scheduling, as the server logged it: real-time, normal, or refused (asked, not allowed). */
  relayPriority: string;
  /** The cores the server ran on: those the blaster leaves it. */
  serverCpus: string;
  callsAsked: number;
  /** Calls answered, with the server's relay address on both legs: the calls that carried media. */
  established: number;
  setupFailures: string;
  /** INVITE -> 180 while the calls were set up, before any media. */
  setupRingMedianMs: number;
  setupRingP99Ms: number;
  blaster: BlasterReport;
  /** Packets the server received per second (the blaster's sends), and sent (the blaster's receipts). */
  packetsInPerSec: number;
  packetsOutPerSec: number;
  lossRatio: number;
  addedJitterP99Ms: number;
  delayP50Ms: number;
  delayP99Ms: number;
  /** Server CPU over the media-only half of the steady window, % of one core. */
  serverCpuPercent: number;
  serverCpuPer100Calls: number;
  cpuWindowSec: number;
  /** UDP datagrams dropped on full receive buffers during the blaster's run, machine-wide. */
  udpDrops: number;
  probesAttempted: number;
  probesEstablished: number;
  probeFailures: string;
  /** INVITE -> 180 of the probe calls, placed during the other half of the steady window. */
  ringMedianMs: number;
  ringP99Ms: number;
  /** Calls the server ended, or whose legs were gone, before the bench hung up. */
  droppedByServer: number;
  hungUp: number;
  hangUpFailures: string;
  /** Requests and 2xx the bench's user agents sent again for want of an answer or an ACK: the server was slow or lost them. */
  sipRetransmissions: number;
  /** Datagrams the user agents could not read as SIP. */
  unreadableDatagrams: number;
  /** All calls carried media with loss and added jitter under the limits (the call count target is separate). */
  passed: boolean;
}

/**
 * Starts Switchboard with a relay port range and engine: by environment (SWITCHBOARD_RTP_PORTS,
 * SWITCHBOARD_RELAY_ENGINE), which bench/switchboard.ts passes on to the child.
 */
async function startWithRelay(rtpPorts: string, engine: RelayEngineChoice | undefined, realtime: boolean): Promise<Switchboard> {
  const [sipPort, httpsPort] = (await freePorts(2)) as [number, number];
  const settings: Record<string, string | undefined> = {
    SWITCHBOARD_RTP_PORTS: rtpPorts, SWITCHBOARD_RELAY_ENGINE: engine, SWITCHBOARD_RELAY_REALTIME: realtime ? 'on' : 'off',
  };
  const previous = Object.fromEntries(Object.keys(settings).map((name) => [name, process.env[name]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  set(settings);
  try {
    return await startSwitchboard(sipPort, httpsPort);
  } finally {
    set(previous);
  }
}

/** The engine the server logged at start ("media relay engine"), so the figures say what was measured. */
function relayEngineOf(server: Switchboard): string {
  const match = /"engine":"(\w+)","msg":"media relay engine"/.exec(server.output());
  return match?.[1] ?? 'unknown';
}

/** How the server says it scheduled the relay thread. */
function relayPriorityOf(server: Switchboard): string {
  const output = server.output();
  if (output.includes('relay thread at real-time priority')) return 'real-time';
  if (output.includes('real-time priority refused')) return 'refused';
  return 'normal';
}

/** "20000-29999" as its number of ports; undefined when it is not a range. */
function portRangeSize(text: string): number | undefined {
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  return match && first >= 1 && first <= last && last <= 65535 ? last - first + 1 : undefined;
}

const fulfilled = <T>(outcomes: ReadonlyArray<PromiseSettledResult<T>>) =>
  outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));

const definedMs = (values: ReadonlyArray<number | undefined>) => values.filter((v): v is number => v !== undefined);

/** Server CPU over `ms` of wall time, in % of one core. */
async function serverCpuPercent(server: Switchboard, ms: number): Promise<number> {
  const pids = server.pids();
  const before = cpuMicros(pids);
  const started = performance.now();
  await sleep(ms);
  return ((cpuMicros(pids) - before) / ((performance.now() - started) * 1000)) * 100;
}

interface EstablishedCalls {
  /** Per call, in order: where the server relays each leg; undefined for a call that carries no media. */
  relays: Array<CallRelays | undefined>;
  /** Calls with the server's relay address on both legs. */
  answered: OutgoingCall[];
  /** Calls that were answered, but without an audio address on one leg: hung up, not measured. */
  unusable: OutgoingCall[];
  failures: string;
  ringMs: number[];
}

/** Sets up caller i -> callee i for every i, offering the blaster's ports, and reads each leg's relay address. */
async function establishCalls(
  server: Switchboard, calling: SipUserAgent, answering: SipUserAgent, callers: readonly string[], callees: readonly string[], ports: readonly CallPorts[],
): Promise<EstablishedCalls> {
  const setups = await paced(callers.length, SETUP_RATE, SETUP_IN_FLIGHT, (i) =>
    calling.call(callers[i]!, passwordOf(callers[i]!), callees[i]!, ports[i]!.callerPort, SIP_TIMEOUT_MS));
  const relays: Array<CallRelays | undefined> = new Array(callers.length);
  const answered: OutgoingCall[] = [];
  const unusable: OutgoingCall[] = [];
  for (const [i, outcome] of setups.entries()) {
    if (outcome.status !== 'fulfilled') continue;
    const call = outcome.value;
    const calleeRelay = answering.incomingFor(callees[i]!)?.media;
    const callerRelay = call.media;
    if (!calleeRelay || !callerRelay) {
      unusable.push(call);
      continue;
    }
    // Without anchoring the blaster would measure the loopback, not the server.
    if (calleeRelay.port === ports[i]!.callerPort || callerRelay.port === ports[i]!.calleePort) {
      throw new Error(`${server.name} did not anchor the media: the callee was offered ${calleeRelay.address}:${calleeRelay.port} and the caller ` +
        `${callerRelay.address}:${callerRelay.port}, the other side's own ports (no relay in this build, or SWITCHBOARD_RTP_PORTS ignored?)`);
    }
    relays[i] = { callerRelay, calleeRelay };
    answered.push(call);
  }
  const failures = [summarizeFailures(setups), unusable.length > 0 ? `${unusable.length}x answered without an audio address on one leg` : '']
    .filter((text) => text !== '').join('; ');
  return { relays, answered, unusable, failures, ringMs: definedMs(answered.map((call) => call.ringMs)) };
}

/** Short calls without media at PROBE_RATE for `ms`: INVITE -> 180 of each. */
function probeRinging(calling: SipUserAgent, ms: number): Promise<Array<PromiseSettledResult<number | undefined>>> {
  const count = Math.max(1, Math.floor((PROBE_RATE * ms) / 1000));
  return paced(count, PROBE_RATE, PROBE_IN_FLIGHT, async () => {
    const call = await calling.call(PROBE_CALLER, passwordOf(PROBE_CALLER), PROBE_CALLEE, NO_MEDIA_PORT, PROBE_TIMEOUT_MS);
    await sleep(PROBE_HOLD_MS);
    await calling.hangUp(call, PROBE_TIMEOUT_MS);
    return call.ringMs;
  });
}

export async function measureMediaRelay(options: MediaRelayOptions, log: (message: string) => void): Promise<MediaRelayFigures> {
  const { calls, seconds } = options;
  if (!Number.isInteger(calls) || calls < 1) throw new Error(`media calls: ${calls} is not a positive whole number`);
  if (!Number.isInteger(seconds) || seconds < MIN_MEDIA_SECONDS) throw new Error(`media seconds: at least ${MIN_MEDIA_SECONDS}`);
  const rtpPorts = process.env.SWITCHBOARD_RTP_PORTS ?? DEFAULT_RTP_PORTS;
  const rangeSize = portRangeSize(rtpPorts);
  if (rangeSize === undefined) throw new Error(`SWITCHBOARD_RTP_PORTS=${rtpPorts} is not a port range`);
  // Two legs per call, each an RTP and RTCP port; probes add a few calls of their own.
  const portsNeeded = 4 * (calls + PROBE_IN_FLIGHT);
  if (rangeSize < portsNeeded) throw new Error(`relay range ${rtpPorts} is too small for ${calls} calls (${portsNeeded} ports)`);

  const blasterBinary = buildBlaster(workDir);
  const server = await startWithRelay(rtpPorts, options.engine, options.realtime);
  const engine = relayEngineOf(server);
  const relayPriority = relayPriorityOf(server);
  // as on a real host, the load (the blaster) does not run on the server's cores
  const serverCpus = pinAwayFromBlaster(server.pids());
  let callerUa: SipUserAgent | undefined;
  let calleeUa: SipUserAgent | undefined;
  let blaster: Blaster | undefined;
  try {
    const callers = userRange(FIRST_CALLER, calls);
    const callees = userRange(FIRST_CALLEE, calls);
    const provisionStarted = Date.now();
    await server.provision([...callers, ...callees, PROBE_CALLER, PROBE_CALLEE]);
    log(`${server.name} media: ${engine} relay engine (${relayPriority} priority) on CPUs ${serverCpus}, ports ${rtpPorts}, ${2 * calls + 2} extensions in ${((Date.now() - provisionStarted) / 1000).toFixed(1)} s`);

    // Bound first, so the ports the calls offer stay ours while the calls are set up.
    blaster = await startBlaster(blasterBinary, calls, seconds, workDir);
    const ports = blaster.ports;
    const calleePort = new Map(callees.map((callee, i) => [callee, ports[i]!.calleePort]));
    const ua = { serverPort: server.sipPort, domain: DOMAIN };
    const calling = (callerUa = await SipUserAgent.open(ua));
    const answering = (calleeUa = await SipUserAgent.open({ ...ua, answerPort: (user) => calleePort.get(user) ?? NO_MEDIA_PORT }));

    const registrations = await paced(calls + 1, REGISTER_RATE, REGISTER_IN_FLIGHT, (i) => {
      const callee = i < calls ? callees[i]! : PROBE_CALLEE;
      return answering.register(callee, passwordOf(callee), SIP_TIMEOUT_MS);
    });
    const registered = fulfilled(registrations).length;
    if (registered !== calls + 1) throw new Error(`only ${registered} of ${calls + 1} callees registered: ${summarizeFailures(registrations)}`);

    log(`${server.name} media: ${calls} calls at ${SETUP_RATE}/s`);
    const established = await establishCalls(server, calling, answering, callers, callees, ports);
    const { answered } = established;
    if (answered.length === 0) throw new Error(`no call was established: ${established.failures}`);
    log(`${server.name} media: ${answered.length}/${calls} calls up; RTP for ${seconds} s`);

    const dropsBefore = udpReceiveBufferErrors();
    await blaster.go(established.relays);
    await sleep(WARM_UP_MS);
    const steadyMs = seconds * 1000 - WARM_UP_MS - TAIL_MS;
    const cpuWindowMs = steadyMs / 2;
    const cpuPercent = await serverCpuPercent(server, cpuWindowMs);
    // The probes' own SIP work would blur the media CPU figure, so they get the second half to themselves.
    const probes = await probeRinging(calling, steadyMs - cpuWindowMs);
    const report = await blaster.report();
    const udpDrops = udpReceiveBufferErrors() - dropsBefore;
    log(`${server.name} media: ${report.received}/${report.sent} packets back; hanging up`);

    const calleeGone = (call: OutgoingCall) => {
      const state = answering.incomingFor(call.callee)?.state;
      return state === 'ended' || state === 'unacknowledged';
    };
    const droppedByServer = answered.filter((call) => !calling.isUp(call) || calleeGone(call)).length;
    const toHangUp = [...answered, ...established.unusable].filter((call) => calling.isUp(call));
    const hangUps = await paced(toHangUp.length, HANGUP_RATE, HANGUP_IN_FLIGHT, (i) => calling.hangUp(toHangUp[i]!, SIP_TIMEOUT_MS));
    const probeRings = definedMs(fulfilled(probes));

    const lossRatio = report.lossRatio;
    const addedJitterP99Ms = report.addedJitterUs.p99 / 1000;
    return {
      engine,
      relayPriority,
      serverCpus,
      callsAsked: calls,
      established: answered.length,
      setupFailures: established.failures,
      setupRingMedianMs: median(established.ringMs),
      setupRingP99Ms: quantile(established.ringMs, 0.99),
      blaster: report,
      packetsInPerSec: report.sent / report.sendSeconds,
      packetsOutPerSec: report.received / report.sendSeconds,
      lossRatio,
      addedJitterP99Ms,
      delayP50Ms: report.delayUs.p50 / 1000,
      delayP99Ms: report.delayUs.p99 / 1000,
      serverCpuPercent: cpuPercent,
      serverCpuPer100Calls: (cpuPercent * 100) / answered.length,
      cpuWindowSec: cpuWindowMs / 1000,
      udpDrops,
      probesAttempted: probes.length,
      probesEstablished: fulfilled(probes).length,
      probeFailures: summarizeFailures(probes),
      ringMedianMs: median(probeRings),
      ringP99Ms: quantile(probeRings, 0.99),
      droppedByServer,
      hungUp: fulfilled(hangUps).length,
      hangUpFailures: summarizeFailures(hangUps),
      sipRetransmissions: calling.counters.retransmissions + answering.counters.retransmissions,
      unreadableDatagrams: calling.counters.unparsable + answering.counters.unparsable,
      passed: answered.length === calls && lossRatio < MAX_MEDIA_LOSS_RATIO && report.addedJitterUs.p99 >= 0 && addedJitterP99Ms < MAX_ADDED_JITTER_MS,
    };
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${server.name} output (tail):\n${server.output().slice(-2000)}`);
  } finally {
    await blaster?.child.stop();
    await callerUa?.close();
    await calleeUa?.close();
    await server.stop();
  }
}
