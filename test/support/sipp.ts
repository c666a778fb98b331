import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnManaged } from './child-process.js';
import { freeConsecutivePorts, freePorts } from './ports.js';
import { repoRoot } from './repo-root.js';

const HOST = '127.0.0.1';
const DEFAULT_TIMEOUT_MS = 30_000;
/** Time SIPp gets past its own -timeout to write its statistics before it is killed. */
const KILL_GRACE_MS = 5_000;
const LOG_POLL_MS = 50;

export type SippTransport = 'u1' | 't1' | 'un';

/**
 * Values for the `-key` keywords the scenarios in test/sipp use. SIPp refuses a scenario that
 * names an undefined keyword, so every run passes these; `keys` override them.
 */
export const DEFAULT_SIPP_KEYS: Readonly<Record<string, string>> = {
  expires: '3600',
  hold_ms: '1000',
  ring_ms: '0',
  cancel_after_ms: '500',
  expect_calls: '1',
  wait_ms: '20000',
};

export interface SippOptions {
  /** Path of the scenario; `sippScenario(name)` for the ones in test/sipp. */
  scenario: string;
  /** host:port of the server. */
  target: string;
  /** Calls to place (or, for a server scenario, to answer) before SIPp exits; default 1. */
  calls?: number;
  /** Calls per second. */
  rate?: number;
  /** Content of the injection file (-inf); `sippInjection()` builds the usual one. */
  injection?: string;
  keys?: Record<string, string>;
  transport?: SippTransport;
  /** Local SIP port; a free one when absent. */
  localPort?: number;
  /** Whole-run limit: SIPp's -timeout, then SIGKILL a little later. Default 30 s. */
  timeoutMs?: number;
  extraArgs?: string[];
  /**
   * Run `scenario` (a uas-*.xml) as the call handler of a phone that first registers with the
   * injection file's credentials (phone-register.xml, see test/sipp/README.md). SIPp then exits
   * after `expect_calls` calls, or fails after `wait_ms`.
   */
  register?: boolean;
}

export interface SippStats {
  successful: number;
  failed: number;
}

export interface SippResult {
  /** 0: all calls succeeded, 1: some failed, 255: timed out or a fatal SIPp error, 128+n: killed by signal n. */
  code: number;
  stdout: string;
  stderr: string;
  stats?: SippStats;
  /** SIPp's error log (-trace_err): unexpected messages, failed checks. */
  errors: string;
  /** Lines written by the scenarios' <log> actions (registered, answered, hung up, ...). */
  log: string;
}

export interface SippHandle {
  readonly localPort: number;
  readonly done: Promise<SippResult>;
  /** Resolves when a scenario <log> line matches, e.g. `waitForLog('registered')`. */
  waitForLog(pattern: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Stops SIPp (SIGTERM, then SIGKILL) and resolves with what it left. */
  kill(): Promise<SippResult>;
}

export interface SippUser {
  number: string;
  password: string;
  domain?: string;
}

/** Absolute path of a scenario in test/sipp, e.g. `sippScenario('uac-call')`. */
export function sippScenario(name: string): string {
  return path.join(repoRoot, 'test', 'sipp', name.endsWith('.xml') ? name : `${name}.xml`);
}

/** The injection file the scenarios expect: `number;domain;[authentication username=number password=PW]`. */
export function sippInjection(users: readonly SippUser[]): string {
  const lines = users.map(
    (u) => `${u.number};${u.domain ?? HOST};[authentication username=${u.number} password=${u.password}]`,
  );
  return ['SEQUENTIAL', ...lines, ''].join('\n');
}

async function readIfPresent(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

/** The cumulative counters from the last line of SIPp's -trace_stat CSV file. */
function statsFromCsv(csv: string): SippStats | undefined {
  const lines = csv.split('\n').filter((line) => line.trim().length > 0);
  if (lines.length < 2) return undefined;
  const header = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  const successful = Number(last[header.indexOf('SuccessfulCall(C)')]);
  const failed = Number(last[header.indexOf('FailedCall(C)')]);
  if (!Number.isFinite(successful) || !Number.isFinite(failed)) return undefined;
  return { successful, failed };
}

/** Fallback when no stat file was written: the final screen on stdout. */
function statsFromScreen(stdout: string): SippStats | undefined {
  const successful = [...stdout.matchAll(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/g)].at(-1);
  const failed = [...stdout.matchAll(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/g)].at(-1);
  if (!successful || !failed) return undefined;
  return { successful: Number(successful[1]), failed: Number(failed[1]) };
}

export async function startSipp(options: SippOptions): Promise<SippHandle> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'sipp-'));
  const [localPort, controlPort] = options.localPort === undefined
    ? ((await freePorts(2)) as [number, number])
    : [options.localPort, (await freePorts(1))[0]!];
  // SIPp binds the media port and the media port + 2.
  const mediaPort = await freeConsecutivePorts(3);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const files = {
    injection: path.join(workDir, 'injection.csv'),
    stats: path.join(workDir, 'stats.csv'),
    errors: path.join(workDir, 'errors.log'),
    log: path.join(workDir, 'scenario.log'),
  };

  const args = [options.target];
  if (options.register) args.push('-sf', sippScenario('phone-register'), '-oocsf', options.scenario);
  else args.push('-sf', options.scenario);
  args.push(
    '-m', String(options.calls ?? 1),
    '-t', options.transport ?? 'u1',
    '-i', HOST,
    '-p', String(localPort),
    '-mp', String(mediaPort),
    '-cp', String(controlPort),
    '-nostdin',
    '-trace_err', '-error_file', files.errors,
    '-trace_stat', '-stf', files.stats, '-fd', '1',
    '-trace_logs', '-log_file', files.log,
    '-timeout', `${Math.ceil(timeoutMs / 1000)}s`, '-timeout_error',
  );
  if (options.rate !== undefined) args.push('-r', String(options.rate));
  if (options.injection !== undefined) {
    await writeFile(files.injection, options.injection);
    args.push('-inf', files.injection);
  }
  // the SDP port is a key so that a test can own the RTP socket itself; by default SIPp's media port
  const keys = { ...DEFAULT_SIPP_KEYS, rtp_port: String(mediaPort), ...options.keys };
  for (const [key, value] of Object.entries(keys)) args.push('-key', key, value);
  args.push(...(options.extraArgs ?? []));

  const sipp = spawnManaged('sipp', args, { cwd: workDir });
  const killTimer = setTimeout(() => void sipp.stop('SIGKILL'), timeoutMs + KILL_GRACE_MS);

  const done = (async (): Promise<SippResult> => {
    const code = await sipp.exited;
    clearTimeout(killTimer);
    const stdout = sipp.stdout();
    const [stats, errors, log] = await Promise.all([readIfPresent(files.stats), readIfPresent(files.errors), readIfPresent(files.log)]);
    await rm(workDir, { recursive: true, force: true });
    return { code, stdout, stderr: sipp.stderr(), stats: statsFromCsv(stats) ?? statsFromScreen(stdout), errors, log };
  })();

  async function waitForLog(pattern: string | RegExp, waitMs = timeoutMs): Promise<void> {
    const matches = (text: string) => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (matches(await readIfPresent(files.log))) return;
      if (sipp.hasExited()) {
        const result = await done;
        if (matches(result.log)) return;
        throw new Error(`sipp exited (code ${result.code}) before logging ${pattern}:\n${result.errors}\n${result.stdout.slice(-3000)}`);
      }
      if (Date.now() >= deadline) throw new Error(`sipp did not log ${pattern} within ${waitMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, LOG_POLL_MS));
    }
  }

  return {
    localPort,
    done,
    waitForLog,
    async kill() {
      await sipp.stop('SIGTERM', KILL_GRACE_MS);
      return done;
    },
  };
}

/** Runs a scenario to its end. */
export async function runSipp(options: SippOptions): Promise<SippResult> {
  return (await startSipp(options)).done;
}
