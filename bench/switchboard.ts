import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VARIABLES_FILE_NAME } from '../src/config/variables.js';
import { sleep, startChild, waitForSip } from './processes.js';
import { passwordOf, type ServerUnderTest } from './server-under-test.js';
import { workDir } from './sipp.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STARTUP_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 15_000;
const ADMIN_PASSWORD = `Bench-Admin-${process.pid}`;
/** Concurrent POSTs when creating extensions: enough to keep the server busy, not enough to time out. */
const PROVISION_CONCURRENCY = 32;

function request(agent: https.Agent, port: number, method: string, apiPath: string, body?: unknown): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = {
    authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`,
  };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    // The server's certificate is self-signed.
    const req = https.request({ host: '127.0.0.1', port, method, path: apiPath, headers, agent, rejectUnauthorized: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${apiPath}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface Switchboard extends ServerUnderTest {
  readonly memoryPid: number;
  /** How many current registrations GET /api/v1/registrations lists. */
  registrationCount(): Promise<number>;
}

/** Server variables by section, as in mss_var_param.ini: `{ services: { extension_service: false } }`. */
export type ServerVariables = Readonly<Record<string, Readonly<Record<string, string | number | boolean>>>>;

export interface SwitchboardOptions {
  /** Written to the data directory's mss_var_param.ini before the server starts; the rest keep their defaults. */
  variables?: ServerVariables;
}

const iniText = (variables: ServerVariables) =>
  Object.entries(variables).map(([section, values]) => [`[${section}]`, ...Object.entries(values).map(([name, value]) => `${name} = ${value}`)].join('\n')).join('\n\n') + '\n';

export async function startSwitchboard(sipPort: number, httpsPort: number, options: SwitchboardOptions = {}): Promise<Switchboard> {
  const dataDir = mkdtempSync(path.join(workDir, 'switchboard-data-'));
  if (options.variables !== undefined) writeFileSync(path.join(dataDir, VARIABLES_FILE_NAME), iniText(options.variables));
  // e.g. SWITCHBOARD_BENCH_NODE_ARGS=--trace-gc to see what the server's V8 does under load
  const nodeArgs = (process.env.SWITCHBOARD_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
  const child = startChild(
    process.execPath,
    [...nodeArgs, path.join(repoRoot, 'bin', 'switchboard.js'), 'start', '--data-dir', dataDir, '--bind', '127.0.0.1',
      '--sip-port', String(sipPort), '--tls-port', '0', '--https-port', String(httpsPort), '--http-port', '0',
      '--stun-port', '0'],
    { cwd: repoRoot, env: { ...process.env, SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD } },
  );
  const agent = new https.Agent({ keepAlive: true, maxSockets: PROVISION_CONCURRENCY });
  const stop = async () => {
    agent.destroy();
    await child.stop();
    writeFileSync(`${dataDir}.log`, child.output());
  };

  try {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (child.hasExited()) throw new Error(`exited with code ${await child.exited}`);
      const health = await request(agent, httpsPort, 'GET', '/api/v1/health').catch(() => undefined);
      if (health?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`/api/v1/health not 200 within ${STARTUP_TIMEOUT_MS} ms`);
      await sleep(200);
    }
    await waitForSip(sipPort, STARTUP_TIMEOUT_MS, () => !child.hasExited());
  } catch (error) {
    await stop();
    throw new Error(`Switchboard did not start: ${(error as Error).message}\n${child.output().slice(-3000)}`);
  }

  async function provision(users: readonly string[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < users.length) {
        const number = users[next++]!;
        const response = await request(agent, httpsPort, 'POST', '/api/v1/extensions', { number, password: passwordOf(number) });
        // 409: left over from an earlier provision call in the same run.
        if (response.status !== 201 && response.status !== 409) {
          throw new Error(`POST /api/v1/extensions ${number}: ${response.status} ${response.text.slice(0, 300)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: PROVISION_CONCURRENCY }, worker));
  }

  async function registrationCount(): Promise<number> {
    const response = await request(agent, httpsPort, 'GET', '/api/v1/registrations');
    if (response.status !== 200) throw new Error(`GET /api/v1/registrations: ${response.status} ${response.text.slice(0, 300)}`);
    const list: unknown = JSON.parse(response.text);
    if (!Array.isArray(list)) throw new Error(`GET /api/v1/registrations: not an array: ${response.text.slice(0, 300)}`);
    return list.length;
  }

  return {
    name: 'Switchboard',
    sipPort,
    memoryPid: child.pid,
    pids: () => [child.pid],
    provision,
    registrationCount,
    output: () => child.output(),
    stop,
  };
}
