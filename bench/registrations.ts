import { cpuMicros, udpReceiveBufferErrors } from './procfs.js';
import type { ServerUnderTest } from './server-under-test.js';
import { runSipp, scenario, type SippResult } from './sipp.js';
import { median } from './statistics.js';

export interface RegistrationRun {
  ratePerSec: number;
  failureRatio: number;
  cpuMicrosPerRegistration: number;
  udpDrops: number;
  result: SippResult;
}

export interface RegistrationFigures {
  runs: RegistrationRun[];
  ratePerSec: number;
  failureRatio: number;
  cpuMicrosPerRegistration: number;
}

export interface RegistrationOptions {
  /** Registrations per run. */
  count: number;
  /** Registrations in flight at once (SIPp -l): the loop is closed, SIPp sends as fast as answers come. */
  concurrency: number;
  repeats: number;
}

/** SIPp bound: generous, since a healthy run of 30,000 at 3,000/s takes 10 s. */
const timeoutFor = (count: number) => 30_000 + count * 2;

/** One closed-loop registration run, with the server's CPU time around it; `extraArgs` go to SIPp. */
export async function registerOnce(
  server: ServerUnderTest, label: string, injection: string, count: number, concurrency: number, extraArgs: readonly string[] = [],
): Promise<RegistrationRun> {
  const pids = server.pids();
  const cpuBefore = cpuMicros(pids);
  const dropsBefore = udpReceiveBufferErrors();
  const result = await runSipp(label, [
    `127.0.0.1:${server.sipPort}`, '-sf', scenario('register-auth.xml'), '-inf', injection,
    '-r', '100000', '-l', String(concurrency), '-m', String(count), ...extraArgs,
  ], timeoutFor(count));
  const cpu = cpuMicros(pids) - cpuBefore;
  return {
    ratePerSec: result.successful / result.elapsedSec,
    failureRatio: result.created === 0 ? 1 : (count - result.successful) / count,
    cpuMicrosPerRegistration: cpu / Math.max(1, result.successful),
    udpDrops: udpReceiveBufferErrors() - dropsBefore,
    result,
  };
}

/** Re-registration throughput: `repeats` closed-loop runs over the users in `injection`; medians. */
export async function measureRegistrations(server: ServerUnderTest, injection: string, options: RegistrationOptions): Promise<RegistrationFigures> {
  const runs: RegistrationRun[] = [];
  for (let i = 0; i < options.repeats; i++) {
    runs.push(await registerOnce(server, `${server.name}-register`, injection, options.count, options.concurrency));
  }
  return {
    runs,
    ratePerSec: median(runs.map((run) => run.ratePerSec)),
    failureRatio: median(runs.map((run) => run.failureRatio)),
    cpuMicrosPerRegistration: median(runs.map((run) => run.cpuMicrosPerRegistration)),
  };
}
