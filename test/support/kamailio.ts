import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnManaged } from './child-process.js';
import { freePort } from './ports.js';
import { repoRoot } from './repo-root.js';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const PROBE_INTERVAL_MS = 150;

/** Registrar with digest auth and stateful proxy; the password of user U is `kamailioPassword(U)`. */
export const kamailioConfigTemplate = path.join(repoRoot, 'test', 'support', 'kamailio-reference.cfg.in');

export function kamailioPassword(user: string): string {
  return `Pw-${user}-Zx9`;
}

export interface Kamailio {
  readonly port: number;
  readonly pid: number | undefined;
  output(): string;
  stop(): Promise<void>;
}

export interface KamailioOptions {
  /** Worker processes per listener (`-n`); Kamailio's own default (the config's `children=2`) when absent. */
  children?: number;
  /** Shared memory in MB (`-m`). */
  sharedMemoryMb?: number;
}

/** Resolves once Kamailio answers an OPTIONS on `port` (any response proves the workers are up). */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const finish = (answered: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    const timer = setTimeout(() => finish(false), PROBE_INTERVAL_MS);
    socket.once('message', () => finish(true));
    socket.once('error', () => finish(false));
    socket.bind(0, HOST, () => {
      const local = socket.address().port;
      const callId = `probe-${process.pid}-${Date.now()}`;
      const request = [
        `OPTIONS sip:${HOST}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${HOST}:${local};branch=z9hG4bK-${callId};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@${HOST}>;tag=${callId}`,
        `To: <sip:${HOST}:${port}>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(request, port, HOST);
    });
  });
}

export async function startKamailio(options: KamailioOptions = {}): Promise<Kamailio> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kamailio-test-'));
  const configPath = path.join(dir, 'kamailio.cfg');
  const template = await readFile(kamailioConfigTemplate, 'utf8');
  await writeFile(configPath, template.replaceAll('BENCHPORT', String(port)));
  const args = ['-f', configPath, '-DD', '-E', '-Y', dir, '-m', String(options.sharedMemoryMb ?? 64), '-M', '8'];
  if (options.children !== undefined) args.push('-n', String(options.children));
  const kamailio = spawnManaged('kamailio', args, { cwd: dir, processGroup: true });

  const stop = async () => {
    await kamailio.stop('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await probe(port))) {
    if (kamailio.hasExited() || Date.now() >= deadline) {
      await stop();
      throw new Error(`kamailio did not come up on udp:${HOST}:${port}:\n${kamailio.output()}`);
    }
  }
  return { port, pid: kamailio.pid, output: () => kamailio.output(), stop };
}
