import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { computeHa1 } from '../../src/auth/ha1.js';
import type { Application } from '../../src/call/local-call.js';
import type { MailboxSource } from '../../src/presence/mailbox-source.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { freePorts } from './ports.js';

const HOST = '127.0.0.1';

export interface InProcessServer {
  readonly sipPort: number;
  readonly dataDir: string;
  readonly server: RunningServer;
  stop(): Promise<void>;
}

export interface InProcessOptions {
  /** numbers the test's own applications answer */
  applications: ReadonlyMap<string, Application>;
  extensions: ReadonlyArray<{ number: string; password: string }>;
  /** contents of mss_var_param.ini */
  variables?: string;
  /** the message counts MWI reports, standing in for the voicemail store */
  mailboxes?: MailboxSource;
}

/**
 * Switchboard inside the test process, on loopback, for tests whose services are written by the test
 * (as a Lua service will later be): the phones are still real peers over real sockets.
 */
export async function startInProcess(options: InProcessOptions): Promise<InProcessServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-inproc-'));
  if (options.variables !== undefined) await writeFile(path.join(dataDir, 'mss_var_param.ini'), options.variables);
  const [sipPort] = (await freePorts(1)) as [number];
  const server = await startServer({
    dataDir,
    bind: [HOST],
    sipPort,
    tlsPort: 0,
    httpsPort: 0,
    httpPort: 0,
    stunPort: 0,
    rtpPorts: undefined,
    adminPassword: 'In-Process-Admin-1',
    applications: options.applications,
    mailboxes: options.mailboxes,
  });
  // a second connection to the same SQLite file, as the REST API would write it
  const store = openSqliteStore(path.join(dataDir, 'switchboard.db'));
  try {
    for (const { number, password } of options.extensions) {
      store.extensions.create({
        domain: HOST,
        number,
        displayName: `Extension ${number}`,
        settings: {},
        ha1Md5: computeHa1('MD5', number, HOST, password),
        ha1Sha256: computeHa1('SHA-256', number, HOST, password),
      });
    }
  } finally {
    store.close();
  }
  return {
    sipPort,
    dataDir,
    server,
    async stop() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
