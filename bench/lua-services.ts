/**
 * Lua services end to end: the call ladder of calls.ts against two fresh Switchboards, one whose calls to
 * extensions run the extension service (`[services] extension_service = true`, lua/services/extension.lua)
 * and one that rings the phones directly (`false`, plain routing). The two climb the ladder in turn, step
 * by step, so that both see the same machine; CPU per call is compared over the steps both passed.
 * See bench/README.md.
 */
import { measureCalls, type CallOptions, type CallStep } from './calls.js';
import { SipUserAgent } from './media/sip-ua.js';
import { freePorts, sleep } from './processes.js';
import { registerOnce } from './registrations.js';
import { passwordOf } from './server-under-test.js';
import { startSwitchboard, type Switchboard } from './switchboard.js';
import { callFile, registrationFile, userRange } from './users.js';

/** Issue 4: Lua may cost at most 20 % more CPU per call than plain routing. */
export const MAX_LUA_CPU_RATIO = 1.2;

export type RoutingMode = 'service' | 'plain';
const MODES: readonly RoutingMode[] = ['service', 'plain'];

// The calls phase's users: callers 100000-101999 call callees 200000-200199.
const callers = userRange(100_000, 2_000);
const callees = userRange(200_000, 200);
// The mode check: a caller, and an extension that switches do not disturb on with *78.
const CHECK_CALLER = '800000';
const DND_EXTENSION = '800001';
const DND_ON = '*78';
const DOMAIN = '127.0.0.1';
/** The mode check's calls carry no media: their SDP names the discard port. */
const NO_MEDIA_PORT = 9;
const SIP_TIMEOUT_MS = 10_000;
/** dnd.lua answers, beeps for 0.25 s, waits 0.3 s and hangs up. */
const FEATURE_CALL_MS = 5_000;
/** What the server logs for each call the extension service failed; the call then rang the phones directly. */
const EXTENSION_SERVICE_FAILURE = ['service failed on a call', '"service":"extension"'];

export interface LuaServicesOptions {
  rates: readonly number[];
  stepSeconds: number;
}

export interface RoutingFigures {
  mode: RoutingMode;
  /** What a call to an extension on do not disturb got: 486 through the service, answered without it. */
  modeCheck: string;
  steps: CallStep[];
  /** The highest step that passed, if any. */
  best?: CallStep;
  /** Extension service failures in the server's log (its last 200,000 characters): those calls fell back to plain routing. */
  serviceFailures: number;
}

export interface LuaServicesFigures {
  service: RoutingFigures;
  plain: RoutingFigures;
  /** The rates at which both passed: the CPU and latency comparison is over these steps. */
  comparedRates: number[];
  /** Server CPU over the compared steps / calls completed in them; NaN when no step compares. */
  serviceCpuMicrosPerCall: number;
  plainCpuMicrosPerCall: number;
  cpuRatio: number;
  /** The highest compared rate, where INVITE->180 is set side by side. */
  ringRate?: number;
  passed: boolean;
}

interface Instance {
  readonly mode: RoutingMode;
  readonly server: Switchboard;
  readonly calls: Omit<CallOptions, 'rates' | 'stepSeconds'>;
  readonly modeCheck: string;
  readonly steps: CallStep[];
  climbing: boolean;
}

async function until(ok: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!ok() && Date.now() < deadline) await sleep(20);
  return ok();
}

/**
 * Proves the server routes as its mode says: the extension switches do not disturb on by feature code,
 * then a call to it gets 486 from the extension service, or rings the phone when plain routing bypasses it.
 */
async function checkMode(server: Switchboard, mode: RoutingMode): Promise<string> {
  const ua = await SipUserAgent.open({
    serverPort: server.sipPort, domain: DOMAIN, answerPort: (user) => (user === DND_EXTENSION ? NO_MEDIA_PORT : undefined),
  });
  try {
    await ua.register(DND_EXTENSION, passwordOf(DND_EXTENSION), SIP_TIMEOUT_MS);
    const feature = await ua.call(DND_EXTENSION, passwordOf(DND_EXTENSION), DND_ON, NO_MEDIA_PORT, SIP_TIMEOUT_MS);
    if (!(await until(() => !ua.isUp(feature), FEATURE_CALL_MS))) await ua.hangUp(feature, SIP_TIMEOUT_MS);
    let outcome: string;
    try {
      const call = await ua.call(CHECK_CALLER, passwordOf(CHECK_CALLER), DND_EXTENSION, NO_MEDIA_PORT, SIP_TIMEOUT_MS);
      await ua.hangUp(call, SIP_TIMEOUT_MS);
      outcome = 'answered';
    } catch (error) {
      outcome = (error as Error).message;
    }
    if (mode === 'service' && !/: 486 /.test(outcome)) {
      throw new Error(`extension_service = true, yet a call to an extension on do not disturb got "${outcome}", not 486: the extension service did not take it`);
    }
    if (mode === 'plain' && outcome !== 'answered') {
      throw new Error(`extension_service = false, yet a call to an extension on do not disturb got "${outcome}": plain routing should have rung the phone`);
    }
    return mode === 'service' ? '486 Busy Here (the extension service applied do not disturb)' : 'answered (the phone rang past do not disturb)';
  } finally {
    await ua.close();
  }
}

async function startInstance(mode: RoutingMode, log: (message: string) => void): Promise<Instance> {
  const [sipPort, httpsPort, uasPort, mediaPort, callerMediaPort] = (await freePorts(5)) as [number, number, number, number, number];
  const started = await startSwitchboard(sipPort, httpsPort, { variables: { services: { extension_service: mode === 'service' } } });
  // Its own name in the SIPp directories and the log.
  const server: Switchboard = { ...started, name: `Switchboard-${mode}` };
  try {
    await server.provision([...callers, ...callees, CHECK_CALLER, DND_EXTENSION]);
    const modeCheck = await checkMode(server, mode);
    log(`${server.name}: mode check: ${modeCheck}`);
    // As in the calls phase, the callers have registered before they call.
    const warmUp = await registerOnce(server, `${server.name}-warm-up`, registrationFile(`${server.name}-users.csv`, callers), callers.length, 200);
    if (warmUp.result.successful !== callers.length) throw new Error(`only ${warmUp.result.successful} of ${callers.length} callers registered (${warmUp.result.dir})`);
    const calls = {
      callInjection: callFile(`${server.name}-calls.csv`, callers, callees),
      calleeInjection: registrationFile(`${server.name}-callees.csv`, callees),
      calleeCount: callees.length,
      uasPort,
      mediaPort,
      callerMediaPort,
    };
    return { mode, server, calls, modeCheck, steps: [], climbing: true };
  } catch (error) {
    await started.stop();
    throw new Error(`${server.name}: ${(error as Error).message}\n${server.name} output (tail):\n${server.output().slice(-2000)}`);
  }
}

/** One step of the ladder on one instance (callees register, the callee SIPp starts and stops around it). */
async function step(instance: Instance, rate: number, stepSeconds: number): Promise<CallStep> {
  const figures = await measureCalls(instance.server, { ...instance.calls, rates: [rate], stepSeconds });
  return figures.steps[0]!;
}

function serviceFailures(instance: Instance): number {
  return instance.server.output().split('\n').filter((line) => EXTENSION_SERVICE_FAILURE.every((part) => line.includes(part))).length;
}

/** Server CPU over the steps at `rates` divided by the calls completed in them. */
function cpuPerCall(steps: readonly CallStep[], rates: readonly number[]): number {
  let cpu = 0;
  let calls = 0;
  for (const s of steps) {
    if (!rates.includes(s.targetRate)) continue;
    cpu += s.cpuMicrosPerCall * s.successful;
    calls += s.successful;
  }
  return calls === 0 ? Number.NaN : cpu / calls;
}

function summarize(service: RoutingFigures, plain: RoutingFigures): LuaServicesFigures {
  const passedRates = (figures: RoutingFigures) => figures.steps.filter((s) => s.passed).map((s) => s.targetRate);
  const plainRates = passedRates(plain);
  const comparedRates = passedRates(service).filter((rate) => plainRates.includes(rate));
  const serviceCpuMicrosPerCall = cpuPerCall(service.steps, comparedRates);
  const plainCpuMicrosPerCall = cpuPerCall(plain.steps, comparedRates);
  const cpuRatio = serviceCpuMicrosPerCall / plainCpuMicrosPerCall;
  return {
    service,
    plain,
    comparedRates,
    serviceCpuMicrosPerCall,
    plainCpuMicrosPerCall,
    cpuRatio,
    ringRate: comparedRates.at(-1),
    passed: cpuRatio <= MAX_LUA_CPU_RATIO,
  };
}

/**
 * Starts both instances, checks each routes as its mode says, warms each up with one unmeasured step at
 * the first rate, then climbs the ladder, one instance's step after the other's; an instance stops at its
 * first failed step, the other climbs on.
 *
 * Always in the same order, so that every measured step follows a step of the other instance: an instance
 * that runs two steps back to back spends measurably less CPU per call in the second than one that idled
 * in between (with the order alternating per step, the ratio swung between about 1.0 and 1.8 with it).
 */
export async function measureLuaServices(options: LuaServicesOptions, log: (message: string) => void): Promise<LuaServicesFigures> {
  const instances: Instance[] = [];
  try {
    for (const mode of MODES) instances.push(await startInstance(mode, log));
    const firstRate = options.rates[0];
    if (firstRate === undefined) throw new Error('no call rates to measure');
    for (const instance of instances) {
      log(`${instance.server.name}: warm-up at ${firstRate} cps (not measured)`);
      await step(instance, firstRate, options.stepSeconds);
    }
    for (const rate of options.rates) {
      for (const instance of instances.filter((candidate) => candidate.climbing)) {
        const result = await step(instance, rate, options.stepSeconds);
        instance.steps.push(result);
        instance.climbing = result.passed;
        log(`${instance.server.name}: ${rate} cps ${result.passed ? 'pass' : 'FAIL'}, ${Math.round(result.cpuMicrosPerCall)} us CPU per call`);
      }
      if (!instances.some((instance) => instance.climbing)) break;
    }
    const figuresOf = (instance: Instance): RoutingFigures => ({
      mode: instance.mode,
      modeCheck: instance.modeCheck,
      steps: instance.steps,
      best: [...instance.steps].reverse().find((s) => s.passed),
      serviceFailures: serviceFailures(instance),
    });
    const ofMode = (mode: RoutingMode) => figuresOf(instances.find((instance) => instance.mode === mode)!);
    return summarize(ofMode('service'), ofMode('plain'));
  } finally {
    for (const instance of instances) await instance.server.stop();
  }
}
