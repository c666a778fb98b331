// Builds and runs rtp-blaster.c, the RTP load generator of the media bench.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, startChild, type Child } from '../processes.js';
import type { MediaAddress } from './sdp.js';

// Compiled to dist/bench/media/; the C source stays in the source tree.
const source = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench', 'media', 'rtp-blaster.c');
const COMPILE_TIMEOUT_MS = 60_000;
const START_TIMEOUT_MS = 10_000;
/** The blaster drains for 2 s after its last packet and has a watchdog at +15 s; this is the bench's own bound. */
const FINISH_GRACE_MS = 30_000;
/** The load generator's core; the server and the bench keep the others. */
const BLASTER_CPU = 1;

/** The blaster's two ports of one call: the caller's leg and the callee's. */
export interface CallPorts {
  callerPort: number;
  calleePort: number;
}

/** Where the server relays one call: the address it gave each leg for its RTP. */
export interface CallRelays {
  callerRelay: MediaAddress;
  calleeRelay: MediaAddress;
}

/** What rtp-blaster prints (see rtp-blaster.c); times in microseconds, -1 when nothing arrived. */
export interface BlasterReport {
  calls: number;
  streams: number;
  seconds: number;
  /** Packets the run should send: 50 per second per stream. Fewer were sent when the blaster fell behind. */
  expected: number;
  sent: number;
  received: number;
  /** Sequence numbers sent and never received, summed over the streams. */
  lost: number;
  lossRatio: number;
  duplicates: number;
  reordered: number;
  /** Packets of another stream (wrong SSRC) or with a sequence number never sent: the relay crossed calls. */
  foreign: number;
  /** Not the 172-byte PCMU packet that was sent: the relay changed it. */
  malformed: number;
  /** Streams of which nothing arrived. */
  silentStreams: number;
  sendErrors: number;
  delayUs: { p50: number; p99: number; max: number };
  /** p99 over all packets of |delay - median delay of the packet's stream|. */
  addedJitterUs: { p99: number };
  /** Worst lateness of a send against its slot: the blaster itself was held up. */
  maxSendLagUs: number;
  catchUpBatches: number;
  /** The blaster's own CPU over its sending time, % of one core. */
  cpuPercent: number;
  sendSeconds: number;
}

/** Compiles rtp-blaster.c into `dir`; returns the executable's path. */
export function buildBlaster(dir: string): string {
  const binary = path.join(dir, 'rtp-blaster');
  const result = spawnSync('cc', ['-O2', '-Wall', '-o', binary, source], { encoding: 'utf8', timeout: COMPILE_TIMEOUT_MS });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('the media bench compiles bench/media/rtp-blaster.c and needs a C compiler: no `cc` on the PATH (e.g. apt-get install gcc)');
  }
  if (result.error || result.status !== 0) {
    throw new Error(`cc ${source} failed: ${result.error?.message ?? `exit ${result.status}`}\n${result.stderr}`);
  }
  return binary;
}

export interface Blaster {
  readonly child: Child;
  /** The ports of each call, bound by the blaster and held until it ends. */
  readonly ports: readonly CallPorts[];
  /** Starts the media, `relays[i]` for call i (undefined: no media); resolves when the first packet is due. */
  go(relays: ReadonlyArray<CallRelays | undefined>): Promise<void>;
  /** Waits for the end of the run and reads its report. */
  report(): Promise<BlasterReport>;
}

async function waitForLine(child: Child, text: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!child.output().includes(`${text}\n`)) {
    if (child.hasExited()) throw new Error(`rtp-blaster exited with ${await child.exited}:\n${child.output().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`rtp-blaster did not say "${text}" within ${START_TIMEOUT_MS} ms:\n${child.output().slice(-2000)}`);
    await sleep(20);
  }
}

/**
 * Pins every thread of `pids` to the cores the blaster does not use, so the load generator and the server
 * under test do not take turns on one core; the cores used, or "all" on a machine with one core.
 */
export function pinAwayFromBlaster(pids: readonly number[]): string {
  const cores = os.availableParallelism();
  if (cores <= BLASTER_CPU) return 'all';
  const others = Array.from({ length: cores }, (_, i) => i).filter((cpu) => cpu !== BLASTER_CPU).join(',');
  for (const pid of pids) {
    const result = spawnSync('taskset', ['-a', '-p', '-c', others, String(pid)], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`taskset -a -p -c ${others} ${pid}: ${result.stderr || result.error?.message}`);
  }
  return others;
}

/**
 * Starts the blaster for `calls` calls of `seconds` each: it binds its ports at once (so nothing else can
 * take them while the calls are set up) and sends when told to go; pinned to one core when there are several.
 */
export async function startBlaster(binary: string, calls: number, seconds: number, dir: string): Promise<Blaster> {
  const portsFile = path.join(dir, 'media-ports.txt');
  const pairsFile = path.join(dir, 'media-pairs.txt');
  const args = [binary, String(calls), String(seconds), portsFile, pairsFile];
  const child = os.availableParallelism() > BLASTER_CPU ? startChild('taskset', ['-c', String(BLASTER_CPU), ...args]) : startChild(binary, args.slice(1));
  try {
    await waitForLine(child, 'bound');
  } catch (error) {
    await child.stop();
    throw error;
  }
  const ports = readFileSync(portsFile, 'utf8').trim().split('\n').map((text) => {
    const [callerPort, calleePort] = text.split(' ').map(Number) as [number, number];
    return { callerPort, calleePort };
  });
  return {
    child,
    ports,
    async go(relays) {
      const line = (r: CallRelays | undefined) =>
        r === undefined ? '-' : `${r.callerRelay.address} ${r.callerRelay.port} ${r.calleeRelay.address} ${r.calleeRelay.port}`;
      writeFileSync(pairsFile, `${Array.from({ length: calls }, (_, i) => line(relays[i])).join('\n')}\n`);
      process.kill(child.pid, 'SIGUSR1');
      await waitForLine(child, 'sending');
    },
    async report() {
      const timer = setTimeout(() => void child.stop(), seconds * 1000 + FINISH_GRACE_MS);
      const code = await child.exited;
      clearTimeout(timer);
      const json = child.output().split('\n').find((text) => text.startsWith('{'));
      if (code !== 0 || json === undefined) throw new Error(`rtp-blaster exited with ${code} and no report:\n${child.output().slice(-2000)}`);
      return JSON.parse(json) as BlasterReport;
    },
  };
}
