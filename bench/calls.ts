import { sleep } from './processes.js';
import { cpuMicros, udpReceiveBufferErrors } from './procfs.js';
import { registerOnce } from './registrations.js';
import type { ServerUnderTest } from './server-under-test.js';
import { runSipp, scenario, startSippServer, type SippResult } from './sipp.js';
import { median, quantile } from './statistics.js';

/** Failures allowed for a rate to count as sustained. */
export const MAX_FAILURE_RATIO = 0.001;
/** A step also fails when SIPp could not create calls at 95% of the asked rate. */
const MIN_RATE_FRACTION = 0.95;
/** Lets the callee's timewait, and the server's transactions of the last step, end before the next. */
const SETTLE_MS = 3_000;

export interface CallStep {
  targetRate: number;
  attempted: number;
  successful: number;
  /** Failed on the caller side, plus calls the callee SIPp counted as failed. */
  failed: number;
  failureRatio: number;
  /** Median of SIPp's per-second call creation rate. */
  achievedRate: number;
  cpuMicrosPerCall: number;
  ringMedianMs: number;
  ringP99Ms: number;
  /** UDP datagrams dropped on full receive buffers during the step, machine-wide. */
  udpDrops: number;
  passed: boolean;
  result: SippResult;
  calleeErrors: string;
}

export interface CallFigures {
  steps: CallStep[];
  /** The highest step that passed, if any. */
  best?: CallStep;
}

export interface CallOptions {
  rates: readonly number[];
  stepSeconds: number;
  callInjection: string;
  calleeInjection: string;
  calleeCount: number;
  /** UDP port of the callee SIPp, and the first of its media ports. */
  uasPort: number;
  mediaPort: number;
  callerMediaPort: number;
}

async function runStep(server: ServerUnderTest, options: CallOptions, rate: number, calleeFailedBefore: () => number): Promise<CallStep> {
  const attempted = rate * options.stepSeconds;
  const pids = server.pids();
  const failedBefore = calleeFailedBefore();
  const cpuBefore = cpuMicros(pids);
  const dropsBefore = udpReceiveBufferErrors();
  const result = await runSipp(`${server.name}-calls-${rate}`, [
    `127.0.0.1:${server.sipPort}`, '-sf', scenario('call-uac.xml'), '-inf', options.callInjection,
    '-r', String(rate), '-m', String(attempted),
    // Bounds the calls in flight if the server stalls: 1 s hold plus up to 4 s of set-up at the target rate.
    '-l', String(rate * 5),
    '-mp', String(options.callerMediaPort), '-trace_rtt', '-rtt_freq', '1',
  ], options.stepSeconds * 1000 + 60_000);
  const cpu = cpuMicros(pids) - cpuBefore;
  const udpDrops = udpReceiveBufferErrors() - dropsBefore;
  await sleep(SETTLE_MS);
  const calleeFailed = calleeFailedBefore() - failedBefore;
  const failed = attempted - result.successful + calleeFailed;
  const achievedRate = median(result.periodRates);
  const failureRatio = failed / attempted;
  return {
    targetRate: rate,
    attempted,
    successful: result.successful,
    failed,
    failureRatio,
    achievedRate,
    cpuMicrosPerCall: cpu / Math.max(1, result.successful),
    ringMedianMs: median(result.rttMs),
    ringP99Ms: quantile(result.rttMs, 0.99),
    udpDrops,
    passed: !result.timedOut && failureRatio < MAX_FAILURE_RATIO && achievedRate >= MIN_RATE_FRACTION * rate,
    result,
    calleeErrors: '',
  };
}

/**
 * Calls per second: callees register from the UAS port (so both a B2BUA that answers to the source
 * address and a proxy that uses the Contact reach the UAS), then the caller climbs the rate ladder
 * until a step fails.
 */
export async function measureCalls(server: ServerUnderTest, options: CallOptions): Promise<CallFigures> {
  const registration = await registerOnce(server, `${server.name}-register-callees`, options.calleeInjection, options.calleeCount, 50, ['-p', String(options.uasPort)]);
  if (registration.result.successful !== options.calleeCount) {
    throw new Error(`only ${registration.result.successful} of ${options.calleeCount} callees registered (see ${registration.result.dir}):\n${registration.result.errors}`);
  }
  const uas = startSippServer(`${server.name}-callee`, ['-sf', scenario('call-uas.xml'), '-p', String(options.uasPort), '-mp', String(options.mediaPort)]);
  const calleeFailed = () => {
    try {
      return uas.stats().failed;
    } catch {
      return 0; // no statistics line written yet
    }
  };
  const steps: CallStep[] = [];
  try {
    await sleep(1_000);
    if (uas.child.hasExited()) throw new Error(`callee SIPp exited:\n${uas.child.output().slice(-2000)}`);
    for (const rate of options.rates) {
      const step = await runStep(server, options, rate, calleeFailed);
      step.calleeErrors = uas.errors();
      steps.push(step);
      if (!step.passed) break;
    }
  } finally {
    await uas.child.stop();
  }
  return { steps, best: [...steps].reverse().find((step) => step.passed) };
}
