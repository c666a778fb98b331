import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { spawnManaged } from './child-process.js';
import { freePorts } from './ports.js';
import { repoRoot } from './repo-root.js';

const HOST = '127.0.0.1';
const STARTUP_TIMEOUT_MS = 20_000;
const HEALTH_POLL_MS = 200;
const REQUEST_TIMEOUT_MS = 10_000;
const ADMIN_USER = 'admin';

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export interface Switchboard {
  readonly sipPort: number;
  readonly tlsPort: number;
  readonly httpsPort: number;
  readonly dataDir: string;
  readonly adminPassword: string;
  /** the server's process id (`ip netns exec` runs it in place, so also in a namespace) */
  readonly pid: number;
  /** HTTPS request to the REST API as admin; `body` is sent as JSON, the answer parsed as JSON when it is. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  /** POST /api/v1/extensions; rejects unless the server answers 2xx. */
  createExtension(number: string, password: string, displayName?: string): Promise<unknown>;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** Signals the server and resolves with its exit code (128 + signal number if a signal ended it). */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Appended after the generated arguments, so they can add flags or override earlier ones. */
  args?: string[];
  /** Kept after stop(); without it a temporary directory is created and removed by stop(). */
  dataDir?: string;
  /** Address the server binds; default 127.0.0.1. */
  host?: string;
  /** Runs the server where the test process has no TCP reach, e.g. inside a network namespace. */
  namespace?: ServerNamespace;
}

export interface ServerNamespace {
  /** argv that runs a program in the namespace, e.g. ['ip', 'netns', 'exec', name]. */
  commandPrefix: readonly string[];
  /** A Unix socket reaching TCP `port` in the namespace (netns.ts bridgeTcpToUnix); closed on stop(). */
  openApiSocket(port: number): Promise<{ socketPath: string; close(): Promise<void> }>;
}

interface HttpsRequest {
  port: number;
  /** instead of 127.0.0.1:port */
  socketPath?: string;
  method: string;
  path: string;
  body?: unknown;
  authorization?: string;
}

function httpsRequest<T>(request: HttpsRequest): Promise<ApiResponse<T>> {
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (request.authorization) headers.authorization = request.authorization;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        ...(request.socketPath ? { socketPath: request.socketPath } : { host: HOST, port: request.port }),
        method: request.method,
        path: request.path,
        headers,
        // The server generates a self-signed certificate on first start.
        rejectUnauthorized: false,
        agent: false,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { text += chunk; });
        res.on('end', () => {
          let body: unknown = text;
          if (text.length > 0 && (res.headers['content-type'] ?? '').includes('json')) {
            try {
              body = JSON.parse(text);
            } catch {
              body = text;
            }
          }
          resolve({ status: res.statusCode ?? 0, body: body as T });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${request.method} ${request.path}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Spawns `node bin/switchboard.js start` on free loopback ports and waits until /api/v1/health answers. */
export async function startSwitchboard(options: StartOptions = {}): Promise<Switchboard> {
  const [sipPort, tlsPort, httpsPort] = (await freePorts(3)) as [number, number, number];
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'switchboard-test-')));
  const adminPassword = options.env?.SWITCHBOARD_ADMIN_PASSWORD ?? `Admin-${process.pid}-${Date.now().toString(36)}`;
  const args = [
    ...(options.namespace?.commandPrefix.slice(1) ?? []),
    ...(options.namespace ? [process.execPath] : []),
    path.join(repoRoot, 'bin', 'switchboard.js'),
    'start',
    '--data-dir', dataDir,
    '--bind', options.host ?? HOST,
    '--sip-port', String(sipPort),
    '--tls-port', String(tlsPort),
    '--https-port', String(httpsPort),
    '--http-port', '0',
    '--stun-port', '0',
    ...(options.args ?? []),
  ];
  const program = options.namespace?.commandPrefix[0] ?? process.execPath;
  const server = spawnManaged(program, args, {
    cwd: repoRoot,
    env: { ...process.env, ...options.env, SWITCHBOARD_ADMIN_PASSWORD: adminPassword },
  });
  const authorization = `Basic ${Buffer.from(`${ADMIN_USER}:${adminPassword}`).toString('base64')}`;

  let apiBridge: { socketPath: string; close(): Promise<void> } | undefined;
  async function stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    await apiBridge?.close();
    const code = await server.stop(signal);
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    return code;
  }

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let lastProblem = 'no answer yet';
  for (;;) {
    if (server.hasExited()) {
      const code = await server.exited;
      await stop();
      throw new Error(`switchboard exited with code ${code} before it was healthy:\n${server.output()}`);
    }
    try {
      if (options.namespace) apiBridge ??= await options.namespace.openApiSocket(httpsPort);
      const health = await httpsRequest({ port: httpsPort, socketPath: apiBridge?.socketPath, method: 'GET', path: '/api/v1/health' });
      if (health.status === 200) break;
      lastProblem = `health answered ${health.status}`;
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) {
      await stop('SIGKILL');
      throw new Error(`switchboard not healthy after ${STARTUP_TIMEOUT_MS} ms (${lastProblem}):\n${server.output()}`);
    }
    await sleep(HEALTH_POLL_MS);
  }

  const api = <T = unknown>(method: string, apiPath: string, body?: unknown) =>
    httpsRequest<T>({ port: httpsPort, socketPath: apiBridge?.socketPath, method, path: apiPath, body, authorization });

  return {
    sipPort,
    tlsPort,
    httpsPort,
    dataDir,
    adminPassword,
    pid: server.pid ?? -1,
    api,
    async createExtension(number, password, displayName = `Extension ${number}`) {
      const response = await api('POST', '/api/v1/extensions', { number, password, displayName });
      if (response.status < 200 || response.status > 299) {
        throw new Error(`creating extension ${number} failed with ${response.status}: ${JSON.stringify(response.body)}`);
      }
      return response.body;
    },
    output: () => server.output(),
    stop,
  };
}
