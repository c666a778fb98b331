import { freePorts, sleep } from './processes.js';
import { rssKb } from './procfs.js';
import { registerOnce, type RegistrationRun } from './registrations.js';
import { startSwitchboard, type Switchboard } from './switchboard.js';
import { registrationFile, userRange } from './users.js';

/** Idle time before each baseline sample, so that start-up, provisioning or listing work has died down. */
const IDLE_BEFORE_MS = 2_000;
/** Pause between the end of the TCP run and its sample, so that the last responses and buffers are gone. */
export const TCP_SETTLE_MS = 3_000;
const CONCURRENCY = 200;
// Extension numbers of the users registered over TCP and over UDP.
const FIRST_TCP_USER = 300_000;
const FIRST_UDP_USER = 400_000;

export interface MemoryRun {
  transport: 'TCP' | 'UDP';
  run: RegistrationRun;
  rssBeforeKb: number;
  rssAfterKb: number;
  kbPerRegistration: number;
  /** Current registrations GET /api/v1/registrations listed after the run (both runs, after the second). */
  listed: number;
}

export interface MemoryFigures {
  users: number;
  provisionSec: number;
  /** Over TCP a REGISTER's transaction ends with its response (Timer J = 0), so the growth is the bindings'. */
  stored: MemoryRun;
  /** Over UDP, sampled at once: includes the server transactions Timer J keeps for 64*T1 = 32 s. */
  transient: MemoryRun;
}

async function registerAndSample(
  server: Switchboard, transport: 'TCP' | 'UDP', users: readonly string[], settleMs: number, listedBefore: number,
): Promise<MemoryRun> {
  const label = `${server.name}-memory-${transport.toLowerCase()}`;
  const injection = registrationFile(`${label}-users.csv`, users);
  await sleep(IDLE_BEFORE_MS);
  const rssBeforeKb = rssKb(server.memoryPid);
  // -t t1: every call over one TCP connection, like a single busy peer.
  const run = await registerOnce(server, label, injection, users.length, CONCURRENCY, transport === 'TCP' ? ['-t', 't1'] : []);
  if (settleMs > 0) await sleep(settleMs);
  const rssAfterKb = rssKb(server.memoryPid);
  const successful = run.result.successful;
  if (successful === 0) throw new Error(`no ${transport} registration succeeded (${run.result.dir})\n${run.result.errors}`);
  // Counted after the sample: listing every binding allocates in the server.
  const listed = await server.registrationCount();
  if (listed !== listedBefore + successful) {
    throw new Error(`GET /api/v1/registrations lists ${listed} registrations after the ${transport} run; SIPp registered ${listedBefore} + ${successful}`);
  }
  return { transport, run, rssBeforeKb, rssAfterKb, kbPerRegistration: (rssAfterKb - rssBeforeKb) / successful, listed };
}

/**
 * RSS growth per registration on a Switchboard started for this alone: `users` distinct users register
 * once over TCP (stored bindings), then `users` others over UDP (bindings plus live transactions).
 */
export async function measureMemory(users: number, log: (message: string) => void): Promise<MemoryFigures> {
  const [sipPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startSwitchboard(sipPort, httpsPort);
  try {
    const tcpUsers = userRange(FIRST_TCP_USER, users);
    const udpUsers = userRange(FIRST_UDP_USER, users);
    const started = Date.now();
    await server.provision([...tcpUsers, ...udpUsers]);
    const provisionSec = (Date.now() - started) / 1000;
    log(`${server.name} memory: fresh instance on port ${sipPort}, ${2 * users} extensions in ${provisionSec.toFixed(1)} s; ${users} users register over TCP`);
    const stored = await registerAndSample(server, 'TCP', tcpUsers, TCP_SETTLE_MS, 0);
    log(`${server.name} memory: ${users} other users register over UDP`);
    const transient = await registerAndSample(server, 'UDP', udpUsers, 0, stored.listed);
    return { users, provisionSec, stored, transient };
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${server.name} output (tail):\n${server.output().slice(-2000)}`);
  } finally {
    await server.stop();
  }
}
