// The server process as an admin meets it: the start-up banner, flags and their environment
// variables, start-up failures (port in use, unusable data directory), the admin password, the
// mss_var_param.ini template and warnings, and a clean shutdown on SIGTERM/SIGINT that ends active
// calls and keeps their call records.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { VARIABLE_DEFINITIONS } from '../../src/config/variables.js';
import { spawnManaged, type ManagedProcess } from '../support/child-process.js';
import { freePorts } from '../support/ports.js';
import { repoRoot } from '../support/repo-root.js';
import { sippInjection, sippScenario, startSipp, type SippHandle, type SippResult } from '../support/sipp.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { stunBinding } from '../support/stun.js';

const HOST = '127.0.0.1';
const BIN = path.join(repoRoot, 'bin', 'switchboard.js');
const STARTUP_MS = 20_000;
const FAILURE_EXIT_MS = 15_000;
const SHUTDOWN_LIMIT_MS = 5_000;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Bookkeeping: every process and directory a test makes is cleaned up, even when it throws.

const processes = new Set<ManagedProcess>();
const servers = new Set<Switchboard>();
const directories = new Set<string>();

after(async () => {
  await Promise.all([...processes].map((p) => p.stop('SIGKILL', 1_000)));
  await Promise.all([...servers].map((s) => s.stop('SIGKILL').catch(() => 0)));
  await Promise.all([...directories].map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(prefix = 'switchboard-lifecycle-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  directories.add(dir);
  return dir;
}

async function launch(options: Parameters<typeof startSwitchboard>[0] = {}): Promise<Switchboard> {
  const server = await startSwitchboard(options);
  servers.add(server);
  return server;
}

async function stopServer(server: Switchboard, signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
  servers.delete(server);
  return server.stop(signal);
}

/** The test runner's environment without any SWITCHBOARD_* variable, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('SWITCHBOARD_')) env[key] = value;
  return { ...env, ...extra };
}

/** `node bin/switchboard.js start ARGS` with a clean environment plus `env`. */
function spawnCli(args: string[], env: Record<string, string> = {}, cwd = repoRoot): ManagedProcess {
  const proc = spawnManaged(process.execPath, [BIN, 'start', ...args], { cwd, env: cleanEnv(env) });
  processes.add(proc);
  void proc.exited.then(() => processes.delete(proc));
  return proc;
}

async function stopCli(proc: ManagedProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
  const code = await proc.stop(signal, SHUTDOWN_LIMIT_MS + 2_000);
  processes.delete(proc);
  return code;
}

function portFlags(ports: { sip: number; tls: number; https: number; http?: number; stun?: number }, dataDir: string): string[] {
  return [
    '--data-dir', dataDir,
    '--bind', HOST,
    '--sip-port', String(ports.sip),
    '--tls-port', String(ports.tls),
    '--https-port', String(ports.https),
    '--http-port', String(ports.http ?? 0),
    '--stun-port', String(ports.stun ?? 0),
  ];
}

/** Resolves with the exit code, or SIGKILLs the process and throws when it is still running after `ms`. */
async function exitWithin(proc: ManagedProcess, ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  const result = await Promise.race([proc.exited, timeout]);
  clearTimeout(timer);
  if (result === 'timeout') {
    await proc.stop('SIGKILL', 1_000);
    throw new Error(`process still running after ${ms} ms:\n${proc.output()}`);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// HTTP(S)

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function request(module: typeof http | typeof https, port: number, urlPath: string, authorization?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = module.request(
      {
        host: HOST,
        port,
        path: urlPath,
        method: 'GET',
        headers: authorization ? { authorization, accept: 'application/json' } : { accept: 'application/json' },
        rejectUnauthorized: false,
        agent: false,
        timeout: 5_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { text += chunk; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} on port ${port}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

const httpsGet = (port: number, urlPath: string, authorization?: string) => request(https, port, urlPath, authorization);
const httpGet = (port: number, urlPath: string) => request(http, port, urlPath);
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Polls /api/v1/health until it answers 200; fails early if the process exits. */
async function waitHealthy(proc: ManagedProcess, httpsPort: number): Promise<void> {
  const deadline = Date.now() + STARTUP_MS;
  let problem = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw new Error(`switchboard exited (code ${await proc.exited}) before it was healthy:\n${proc.output()}`);
    try {
      const health = await httpsGet(httpsPort, '/api/v1/health');
      if (health.status === 200) return;
      problem = `health answered ${health.status}`;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    await sleep(POLL_MS);
  }
  throw new Error(`switchboard not healthy after ${STARTUP_MS} ms (${problem}):\n${proc.output()}`);
}

/** Waits until stdout matches (the banner is printed after every listener is up). */
async function waitForStdout(proc: ManagedProcess, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + STARTUP_MS;
  while (Date.now() < deadline) {
    if (pattern.test(proc.stdout())) return;
    if (proc.hasExited()) throw new Error(`switchboard exited (code ${await proc.exited}) before printing ${pattern}:\n${proc.output()}`);
    await sleep(POLL_MS);
  }
  throw new Error(`switchboard did not print ${pattern} within ${STARTUP_MS} ms:\n${proc.output()}`);
}

// ---------------------------------------------------------------------------------------------
// SIP OPTIONS over UDP and TCP, to show that a listener really is a SIP listener.

function optionsRequest(transport: 'UDP' | 'TCP', localPort: number, targetPort: number, callId: string): string {
  return [
    `OPTIONS sip:${HOST}:${targetPort} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${HOST}:${localPort};branch=z9hG4bK-${callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:lifecycle@${HOST}>;tag=${callId.slice(0, 8)}`,
    `To: <sip:${HOST}:${targetPort}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    `Contact: <sip:lifecycle@${HOST}:${localPort}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const newCallId = () => `lc-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

/** The status line of the answer to an OPTIONS sent over UDP (retransmitted every 500 ms, 5 s at most). */
async function udpOptions(port: number): Promise<string> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, HOST, () => resolve());
    });
    const callId = newCallId();
    const message = Buffer.from(optionsRequest('UDP', socket.address().port, port, callId));
    const answer = new Promise<string>((resolve) => {
      socket.on('message', (data) => {
        const text = data.toString('utf8');
        if (text.includes(callId) && !/^SIP\/2\.0 1\d\d/.test(text)) resolve(text.split('\r\n')[0]!);
      });
    });
    for (let attempt = 0; attempt < 10; attempt++) {
      socket.send(message, port, HOST);
      const result = await Promise.race([answer, sleep(500).then(() => undefined)]);
      if (result !== undefined) return result;
    }
    throw new Error(`no answer to OPTIONS over UDP on port ${port}`);
  } finally {
    socket.close();
  }
}

/** The status line of the answer to an OPTIONS sent over a TCP connection. */
function tcpOptions(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    const callId = newCallId();
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer to OPTIONS over TCP on port ${port}`)); }, 5_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(optionsRequest('TCP', socket.localPort ?? 0, port, callId)));
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(text.split('\r\n')[0]!);
    });
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
  });
}

// ---------------------------------------------------------------------------------------------
// Output checks

/** Lines of the JSON log on stdout; non-JSON lines (the banner) are skipped. */
function jsonLog(stdout: string): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a banner line that starts with { would be odd, but is not a log entry
    }
  }
  return entries;
}

const PINO_WARN = 40;

/** Warnings about the configuration; a stall warning only says the shared test machine was busy. */
function warnings(stdout: string): string[] {
  return jsonLog(stdout)
    .filter((entry) => entry.level === PINO_WARN && entry.msg !== 'event loop stalled')
    .map((entry) => String(entry.msg ?? ''));
}

function countOccurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

/** A start-up failure: non-zero exit, ONE line on stderr that starts with "switchboard:", no stack trace anywhere. */
function assertOneLineFailure(proc: ManagedProcess, code: number, mustMention: string): string {
  const stderr = proc.stderr();
  assert.notEqual(code, 0, `exit code should be non-zero:\n${proc.output()}`);
  const lines = stderr.split('\n').filter((line) => line.trim().length > 0);
  assert.equal(lines.length, 1, `exactly one line on stderr, got ${lines.length}:\n${stderr}`);
  assert.match(lines[0]!, /^switchboard: \S/, `the line names the program:\n${stderr}`);
  assert.ok(lines[0]!.includes(mustMention), `the line should mention ${mustMention}:\n${stderr}`);
  assert.doesNotMatch(proc.output(), /^\s+at /m, `no stack trace:\n${proc.output()}`);
  return lines[0]!;
}

/** Binds `port` on UDP 127.0.0.1; resolves with the function that frees it. */
async function occupyUdp(port: number): Promise<() => Promise<void>> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address: HOST, exclusive: true }, () => resolve());
  });
  return () => new Promise<void>((resolve) => socket.close(() => resolve()));
}

/** Listens on `port` on TCP 127.0.0.1; resolves with the function that frees it. */
async function occupyTcp(port: number): Promise<() => Promise<void>> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: HOST, exclusive: true }, () => resolve());
  });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

// =============================================================================================

describe('start-up banner', { timeout: 60_000 }, () => {
  it('lists every listener (SIP UDP/TCP/TLS, STUN, HTTPS, HTTP redirect), the data dir and a working console URL', async () => {
    const [sip, tls, httpsPort, httpPort, stun] = (await freePorts(5)) as [number, number, number, number, number];
    const dataDir = await tempDir();
    const proc = spawnCli(portFlags({ sip, tls, https: httpsPort, http: httpPort, stun }, dataDir), { SWITCHBOARD_ADMIN_PASSWORD: 'Banner-Admin-1' });
    try {
      await waitForStdout(proc, /console/);
      await waitHealthy(proc, httpsPort);
      const out = proc.stdout();
      assert.match(out, new RegExp(`^\\s*SIP UDP\\s+127\\.0\\.0\\.1:${sip}\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`^\\s*SIP TCP\\s+127\\.0\\.0\\.1:${sip}\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`^\\s*SIP TLS\\s+127\\.0\\.0\\.1:${tls}\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`^\\s*STUN\\s+127\\.0\\.0\\.1:${stun}\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`^\\s*HTTPS\\s+127\\.0\\.0\\.1:${httpsPort}\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`^\\s*HTTP\\s+127\\.0\\.0\\.1:${httpPort}\\b.*redirect`, 'mi'), out);
      const dataLine = out.split('\n').find((line) => /^\s*data\b/.test(line));
      assert.ok(dataLine?.includes(dataDir), `a "data" line naming ${dataDir}:\n${out}`);
      const consoleUrl = /^\s*console\s+(https:\/\/\S+)/m.exec(out)?.[1];
      assert.ok(consoleUrl, `a console https:// URL:\n${out}`);
      const url = new URL(consoleUrl);
      assert.equal(url.protocol, 'https:');
      assert.equal(url.hostname, HOST);
      assert.equal(Number(url.port), httpsPort);

      // Every advertised listener answers.
      const consolePage = await httpsGet(httpsPort, url.pathname + url.search);
      assert.ok(consolePage.status >= 200 && consolePage.status < 400, `console URL answered ${consolePage.status}`);
      const redirect = await httpGet(httpPort, '/api/v1/health');
      assert.equal(redirect.status, 301);
      assert.equal(redirect.headers.location, `https://${HOST}:${httpsPort}/api/v1/health`);
      assert.match(await udpOptions(sip), /^SIP\/2\.0 200\b/);
      assert.match(await tcpOptions(sip), /^SIP\/2\.0 200\b/);
      const binding = await stunBinding(HOST, stun);
      assert.deepEqual(binding.mapped, binding.local, 'STUN tells the client its own address');
    } finally {
      assert.equal(await stopCli(proc), 0, proc.output());
    }
  });

  it('takes the STUN port from [stun] port in mss_var_param.ini when no flag or variable gives one', async () => {
    const [sip, tls, httpsPort, stun] = (await freePorts(4)) as [number, number, number, number];
    const dataDir = await tempDir();
    await writeFile(path.join(dataDir, 'mss_var_param.ini'), `[stun]\nport = ${stun}\n`);
    const flags = portFlags({ sip, tls, https: httpsPort }, dataDir);
    flags.splice(flags.indexOf('--stun-port'), 2);
    const proc = spawnCli(flags, { SWITCHBOARD_ADMIN_PASSWORD: 'Banner-Admin-1' });
    try {
      await waitForStdout(proc, /console/);
      assert.match(proc.stdout(), new RegExp(`^\\s*STUN\\s+127\\.0\\.0\\.1:${stun}\\s*$`, 'm'), proc.stdout());
      const binding = await stunBinding(HOST, stun);
      assert.deepEqual(binding.mapped, binding.local);
    } finally {
      assert.equal(await stopCli(proc), 0, proc.output());
    }
  });
});

describe('configuration through environment variables', { timeout: 60_000 }, () => {
  it('starts with only SWITCHBOARD_* variables and no flags, on the ports they name', async () => {
    const [sip, tls, httpsPort, httpPort, stun] = (await freePorts(5)) as [number, number, number, number, number];
    const dataDir = path.join(await tempDir(), 'from-env');
    const cwd = await tempDir('switchboard-cwd-');
    const password = 'Env-Only-Password-7';
    const proc = spawnCli([], {
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_BIND: HOST,
      SWITCHBOARD_SIP_PORT: String(sip),
      SWITCHBOARD_TLS_PORT: String(tls),
      SWITCHBOARD_HTTPS_PORT: String(httpsPort),
      SWITCHBOARD_HTTP_PORT: String(httpPort),
      SWITCHBOARD_STUN_PORT: String(stun),
      SWITCHBOARD_ADMIN_PASSWORD: password,
    }, cwd);
    try {
      await waitForStdout(proc, /console/);
      await waitHealthy(proc, httpsPort);
      const out = proc.stdout();
      assert.match(out, new RegExp(`SIP UDP\\s+127\\.0\\.0\\.1:${sip}\\b`), out);
      assert.match(out, new RegExp(`SIP TCP\\s+127\\.0\\.0\\.1:${sip}\\b`), out);
      assert.match(out, new RegExp(`SIP TLS\\s+127\\.0\\.0\\.1:${tls}\\b`), out);
      assert.match(out, new RegExp(`HTTPS\\s+127\\.0\\.0\\.1:${httpsPort}\\b`), out);
      assert.match(out, new RegExp(`HTTP\\s+127\\.0\\.0\\.1:${httpPort}\\b`), out);
      assert.match(out, new RegExp(`STUN\\s+127\\.0\\.0\\.1:${stun}\\b`), out);
      // SWITCHBOARD_BIND: nothing listens on every interface.
      assert.doesNotMatch(out, /0\.0\.0\.0|\[::\]/, out);
      assert.ok(out.includes(dataDir), `banner names the data dir from SWITCHBOARD_DATA_DIR:\n${out}`);

      assert.match(await udpOptions(sip), /^SIP\/2\.0 200\b/);
      assert.match(await tcpOptions(sip), /^SIP\/2\.0 200\b/);
      assert.equal((await httpGet(httpPort, '/')).headers.location, `https://${HOST}:${httpsPort}/`);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', password))).status, 200);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', 'not-it'))).status, 401);

      assert.ok(existsSync(path.join(dataDir, 'switchboard.db')), 'database in SWITCHBOARD_DATA_DIR');
      assert.ok(!existsSync(path.join(cwd, 'data')), 'the default ./data was not used');
      assert.doesNotMatch(out, /generated password/i, 'SWITCHBOARD_ADMIN_PASSWORD set: nothing generated');
    } finally {
      assert.equal(await stopCli(proc), 0, proc.output());
    }
  });

  it('lets a flag win over its environment variable', async () => {
    const [envSip, flagSip, tls, httpsPort] = (await freePorts(4)) as [number, number, number, number];
    const dataDir = await tempDir();
    const proc = spawnCli(['--sip-port', String(flagSip)], {
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_BIND: HOST,
      SWITCHBOARD_SIP_PORT: String(envSip),
      SWITCHBOARD_TLS_PORT: String(tls),
      SWITCHBOARD_HTTPS_PORT: String(httpsPort),
      SWITCHBOARD_HTTP_PORT: '0',
      SWITCHBOARD_STUN_PORT: '0',
      SWITCHBOARD_ADMIN_PASSWORD: 'Flag-Wins-1',
    });
    try {
      await waitForStdout(proc, /console/);
      const out = proc.stdout();
      assert.match(out, new RegExp(`SIP UDP\\s+127\\.0\\.0\\.1:${flagSip}\\b`), out);
      assert.doesNotMatch(out, new RegExp(`:${envSip}\\b`), out);
      // --http-port via env 0: no HTTP line at all.
      assert.doesNotMatch(out, /^\s*HTTP\s/m, out);
    } finally {
      assert.equal(await stopCli(proc), 0, proc.output());
    }
  });
});

describe('two instances side by side', { timeout: 90_000 }, () => {
  it('run on loopback with different ports and data dirs without seeing each other', async () => {
    const [a, b] = await Promise.all([launch(), launch()]);
    try {
      assert.notEqual(a.sipPort, b.sipPort);
      assert.notEqual(a.dataDir, b.dataDir);
      assert.match(await udpOptions(a.sipPort), /^SIP\/2\.0 200\b/);
      assert.match(await udpOptions(b.sipPort), /^SIP\/2\.0 200\b/);
      assert.match(await tcpOptions(b.sipPort), /^SIP\/2\.0 200\b/);

      await a.createExtension('4101', 'Side-by-side-pw-1');
      const inA = await a.api<{ items?: { number: string }[] }>('GET', '/api/v1/extensions');
      const inB = await b.api<{ items?: { number: string }[] }>('GET', '/api/v1/extensions');
      assert.equal(inA.status, 200);
      assert.equal(inB.status, 200);
      const numbers = (body: unknown) => JSON.stringify(body);
      assert.ok(numbers(inA.body).includes('"4101"'), numbers(inA.body));
      assert.ok(!numbers(inB.body).includes('"4101"'), `instance B must not see A's extension: ${numbers(inB.body)}`);

      // Stopping one leaves the other running.
      assert.equal(await stopServer(a), 0, a.output());
      assert.equal((await b.api('GET', '/api/v1/health')).status, 200);
      assert.match(await udpOptions(b.sipPort), /^SIP\/2\.0 200\b/);
    } finally {
      await Promise.all([servers.has(a) ? stopServer(a) : 0, servers.has(b) ? stopServer(b) : 0]);
    }
  });
});

describe('start-up failures', { timeout: 90_000 }, () => {
  // Each listener in turn is taken by a socket of ours before the server starts.
  const squatted: { listener: string; protocol: 'udp' | 'tcp'; label: RegExp; pick: (p: { sip: number; tls: number; https: number; http: number }) => number }[] = [
    { listener: 'SIP UDP', protocol: 'udp', label: /UDP/, pick: (p) => p.sip },
    { listener: 'SIP TCP', protocol: 'tcp', label: /TCP/, pick: (p) => p.sip },
    { listener: 'SIP TLS', protocol: 'tcp', label: /TLS/, pick: (p) => p.tls },
    { listener: 'HTTPS', protocol: 'tcp', label: /HTTPS/, pick: (p) => p.https },
    { listener: 'HTTP redirect', protocol: 'tcp', label: /HTTP\b/, pick: (p) => p.http },
  ];
  for (const { listener, protocol, label, pick } of squatted) {
    it(`exits non-zero with one line naming the port when the ${listener} port is taken`, async () => {
      const [sip, tls, httpsPort, httpPort] = (await freePorts(4)) as [number, number, number, number];
      const ports = { sip, tls, https: httpsPort, http: httpPort };
      const taken = pick(ports);
      const release = protocol === 'udp' ? await occupyUdp(taken) : await occupyTcp(taken);
      try {
        const proc = spawnCli(portFlags(ports, await tempDir()), { SWITCHBOARD_ADMIN_PASSWORD: 'Port-Busy-1' });
        const code = await exitWithin(proc, FAILURE_EXIT_MS);
        const line = assertOneLineFailure(proc, code, String(taken));
        assert.match(line, label, line);
        assert.match(line, /in use/i, line);
      } finally {
        await release();
      }
    });
  }

  it('exits non-zero with one line naming the bad value when a port flag or its variable is not a port', async () => {
    const dataDir = await tempDir();
    const cases: { args: string[]; env: Record<string, string>; bad: string }[] = [
      { args: ['--data-dir', dataDir, '--sip-port', 'banana'], env: {}, bad: 'banana' },
      { args: ['--data-dir', dataDir], env: { SWITCHBOARD_HTTPS_PORT: '70000' }, bad: '70000' },
    ];
    for (const { args, env, bad } of cases) {
      const proc = spawnCli(args, env);
      const code = await exitWithin(proc, FAILURE_EXIT_MS);
      assert.notEqual(code, 0, proc.output());
      const lines = proc.stderr().split('\n').filter((line) => line.trim().length > 0);
      assert.equal(lines.length, 1, `one line on stderr:\n${proc.stderr()}`);
      assert.ok(lines[0]!.includes(bad), `names ${bad}: ${lines[0]}`);
      assert.doesNotMatch(proc.output(), /^\s+at /m, proc.output());
      assert.ok(!existsSync(path.join(dataDir, 'switchboard.db')), 'nothing started');
    }
  });

  it('exits non-zero with one line naming the path when the data dir lies under a regular file', async () => {
    const [sip, tls, httpsPort] = (await freePorts(3)) as [number, number, number];
    const file = path.join(await tempDir(), 'plain-file');
    await writeFile(file, 'not a directory\n');
    const dataDir = path.join(file, 'data');
    const proc = spawnCli(portFlags({ sip, tls, https: httpsPort }, dataDir), { SWITCHBOARD_ADMIN_PASSWORD: 'Bad-Dir-1' });
    const code = await exitWithin(proc, FAILURE_EXIT_MS);
    const line = assertOneLineFailure(proc, code, dataDir);
    assert.match(line, /data dir/i, line);
  });

  it('exits non-zero with one line naming the path when the data dir is a regular file', async () => {
    const [sip, tls, httpsPort] = (await freePorts(3)) as [number, number, number];
    const file = path.join(await tempDir(), 'data-is-a-file');
    await writeFile(file, 'not a directory\n');
    const proc = spawnCli(portFlags({ sip, tls, https: httpsPort }, file), { SWITCHBOARD_ADMIN_PASSWORD: 'Bad-Dir-2' });
    const code = await exitWithin(proc, FAILURE_EXIT_MS);
    assertOneLineFailure(proc, code, file);
  });
});

describe('admin password', { timeout: 120_000 }, () => {
  const GENERATED = /generated password[^\n]*\n\s*(\S+)/i;

  it('is generated and printed once on first start, works, is stored only as a hash, and is not printed again', async () => {
    const [sip, tls, httpsPort] = (await freePorts(3)) as [number, number, number];
    const dataDir = await tempDir();
    const flags = portFlags({ sip, tls, https: httpsPort }, dataDir);

    const first = spawnCli(flags);
    let password: string;
    try {
      await waitForStdout(first, GENERATED);
      await waitHealthy(first, httpsPort);
      password = GENERATED.exec(first.stdout())![1]!;
      assert.ok(password.length >= 16, `a strong password, got ${JSON.stringify(password)}`);
      assert.equal(countOccurrences(first.output(), password), 1, `printed exactly once:\n${first.output()}`);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', password))).status, 200);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', `${password}x`))).status, 401);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions')).status, 401);
    } finally {
      assert.equal(await stopCli(first), 0, first.output());
    }

    // Only a hash on disk: neither the database nor its WAL/journal holds the password.
    const dbFiles = (await readdir(dataDir)).filter((name) => name.startsWith('switchboard.db'));
    assert.ok(dbFiles.includes('switchboard.db'), `database file present: ${dbFiles.join(', ')}`);
    for (const name of dbFiles) {
      const bytes = await readFile(path.join(dataDir, name));
      assert.equal(bytes.includes(Buffer.from(password, 'utf8')), false, `${name} contains the password in plain text`);
      assert.equal(bytes.includes(Buffer.from(password, 'utf16le')), false, `${name} contains the password as UTF-16`);
    }

    const second = spawnCli(flags);
    try {
      await waitForStdout(second, /console/);
      await waitHealthy(second, httpsPort);
      assert.doesNotMatch(second.output(), /generated password/i, second.output());
      assert.ok(!second.output().includes(password), `second start printed the password:\n${second.output()}`);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', password))).status, 200, 'still valid after restart');
    } finally {
      assert.equal(await stopCli(second), 0, second.output());
    }

    // SWITCHBOARD_ADMIN_PASSWORD on an existing install replaces the generated one.
    const chosen = 'Chosen-After-Generated-3';
    const third = spawnCli(flags, { SWITCHBOARD_ADMIN_PASSWORD: chosen });
    try {
      await waitForStdout(third, /console/);
      await waitHealthy(third, httpsPort);
      assert.doesNotMatch(third.output(), /generated password/i);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', chosen))).status, 200);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', password))).status, 401);
    } finally {
      assert.equal(await stopCli(third), 0, third.output());
    }
  });

  it('SWITCHBOARD_ADMIN_PASSWORD sets the password on a fresh install and is never printed or stored in clear', async () => {
    const [sip, tls, httpsPort] = (await freePorts(3)) as [number, number, number];
    const dataDir = await tempDir();
    const password = `Env-Admin-${process.pid}-Zq9`;
    const proc = spawnCli(portFlags({ sip, tls, https: httpsPort }, dataDir), { SWITCHBOARD_ADMIN_PASSWORD: password });
    try {
      await waitForStdout(proc, /console/);
      await waitHealthy(proc, httpsPort);
      assert.doesNotMatch(proc.output(), /generated password/i, proc.output());
      assert.ok(!proc.output().includes(password), 'the password is not echoed');
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', password))).status, 200);
      assert.equal((await httpsGet(httpsPort, '/api/v1/extensions', basic('admin', 'Env-Admin-wrong'))).status, 401);
    } finally {
      assert.equal(await stopCli(proc), 0, proc.output());
    }
    for (const name of (await readdir(dataDir)).filter((n) => n.startsWith('switchboard.db'))) {
      const bytes = await readFile(path.join(dataDir, name));
      assert.equal(bytes.includes(Buffer.from(password, 'utf8')), false, `${name} contains the password in plain text`);
    }
  });
});

describe('mss_var_param.ini', { timeout: 90_000 }, () => {
  it('is written on first start as a commented template listing every variable, and read back without warnings', async () => {
    const dataDir = await tempDir();
    const iniPath = path.join(dataDir, 'mss_var_param.ini');
    assert.ok(!existsSync(iniPath));
    const first = await launch({ dataDir });
    try {
      assert.deepEqual(warnings(first.output()), [], first.output());
    } finally {
      assert.equal(await stopServer(first), 0, first.output());
    }
    const template = await readFile(iniPath, 'utf8');

    // Every variable appears, commented out, under its own [section].
    const sections = new Map<string, string[]>();
    let current = '';
    for (const line of template.split('\n')) {
      const header = /^\[([^\]]+)\]\s*$/.exec(line);
      if (header) current = header[1]!;
      else sections.set(current, [...(sections.get(current) ?? []), line]);
    }
    assert.ok(VARIABLE_DEFINITIONS.length >= 10, 'the catalogue is not empty');
    for (const name of ['t1_ms', 't2_ms', 'register_min_expires', 'no_answer_timeout', 'digest_algorithms']) {
      assert.ok(VARIABLE_DEFINITIONS.some((d) => d.section === 'sip' && d.name === name), `catalogue lists [sip] ${name}`);
    }
    for (const definition of VARIABLE_DEFINITIONS) {
      const lines = sections.get(definition.section) ?? [];
      assert.ok(
        lines.some((line) => new RegExp(`^;\\s*${definition.name}\\s*=`).test(line)),
        `[${definition.section}] ${definition.name} missing from the template:\n${template}`,
      );
    }
    // Nothing is active: every non-blank line outside headers is a comment.
    for (const line of template.split('\n')) {
      if (line.trim() === '' || /^\[[^\]]+\]$/.test(line)) continue;
      assert.match(line, /^[;#]/, `template line not commented out: ${line}`);
    }

    // Restarting keeps the file as it is and finds nothing to complain about.
    const second = await launch({ dataDir });
    try {
      assert.deepEqual(warnings(second.output()), [], second.output());
    } finally {
      assert.equal(await stopServer(second), 0, second.output());
    }
    assert.equal(await readFile(iniPath, 'utf8'), template, 'the template is not rewritten');
  });

  it('warns about a bad value and an unknown name, naming their lines, and still starts', async () => {
    const dataDir = await tempDir();
    const iniPath = path.join(dataDir, 'mss_var_param.ini');
    const content = '[sip]\nt1_ms = banana\nbogus_name = 1\n';
    await writeFile(iniPath, content);
    const server = await launch({ dataDir });
    try {
      assert.equal((await server.api('GET', '/api/v1/health')).status, 200);
      assert.match(await udpOptions(server.sipPort), /^SIP\/2\.0 200\b/);
      const found = warnings(server.output());
      const onLine = (line: number) => found.filter((w) => w.includes(`mss_var_param.ini:${line}:`));
      assert.equal(onLine(2).length, 1, `one warning for line 2:\n${found.join('\n')}`);
      assert.match(onLine(2)[0]!, /t1_ms/);
      assert.match(onLine(2)[0]!, /default/);
      assert.equal(onLine(3).length, 1, `one warning for line 3:\n${found.join('\n')}`);
      assert.match(onLine(3)[0]!, /bogus_name/);
      assert.equal(found.length, 2, `exactly two warnings:\n${found.join('\n')}`);
    } finally {
      assert.equal(await stopServer(server), 0, server.output());
    }
    assert.equal(await readFile(iniPath, 'utf8'), content, 'an existing file is never overwritten');
  });
});

describe('shutdown', { timeout: 120_000 }, () => {
  function explain(result: SippResult): string {
    return `exit ${result.code}\n${result.errors}\n${result.log}\n${result.stdout.slice(-3000)}`;
  }

  it('on SIGTERM ends an active call with BYE on both legs, exits 0 within 5 s, and keeps the call record', async () => {
    const dataDir = await tempDir();
    const server = await launch({ dataDir });
    const target = `${HOST}:${server.sipPort}`;
    await server.createExtension('1001', 'Caller-pw-1001');
    await server.createExtension('1002', 'Callee-pw-1002');

    let phone: SippHandle | undefined;
    let caller: SippHandle | undefined;
    try {
      phone = await startSipp({
        scenario: sippScenario('uas-answer'),
        register: true,
        target,
        injection: sippInjection([{ number: '1002', password: 'Callee-pw-1002' }]),
        keys: { expires: '120', wait_ms: '30000' },
        timeoutMs: 40_000,
      });
      await phone.waitForLog('registered 1002', 10_000);
      caller = await startSipp({
        scenario: sippScenario('uac-call-callee-hangs-up'),
        target,
        injection: sippInjection([{ number: '1001', password: 'Caller-pw-1001' }]),
        keys: { callee: '1002' },
        timeoutMs: 30_000,
      });
      await caller.waitForLog('answered', 10_000);
      await phone.waitForLog('answered', 5_000);

      const active = await server.api<unknown[]>('GET', '/api/v1/calls');
      assert.equal(active.status, 200);
      assert.equal(JSON.stringify(active.body).includes('1002'), true, `the call is up: ${JSON.stringify(active.body)}`);

      const t0 = Date.now();
      const code = await stopServer(server, 'SIGTERM');
      const elapsed = Date.now() - t0;
      assert.equal(code, 0, `exit code after SIGTERM:\n${server.output().slice(-3000)}`);
      assert.ok(elapsed < SHUTDOWN_LIMIT_MS, `exited after ${elapsed} ms`);

      // The caller got a BYE, answered it and finished its scenario.
      const callerResult = await caller.done;
      assert.equal(callerResult.code, 0, explain(callerResult));
      assert.match(callerResult.log, /far end hung up/);
      // The phone's call handler (uas-answer) got its BYE and finished.
      await phone.waitForLog('call done', 5_000);
    } catch (error) {
      await Promise.all([caller?.kill(), phone?.kill()]);
      throw error;
    } finally {
      if (servers.has(server)) await stopServer(server, 'SIGKILL');
    }

    // Restart at once on the same data dir and SIP port: the phone, done with its call, now
    // unregisters (the binding and the nonce secret survived the restart), so its whole scenario
    // ends with exit 0. The call record was flushed to the store before the exit.
    let again: Switchboard | undefined;
    try {
      again = await launch({ dataDir, args: ['--sip-port', String(server.sipPort)] });
      const phoneResult = await phone.done;
      assert.equal(phoneResult.code, 0, explain(phoneResult));
      assert.match(phoneResult.log, /call done[^]*unregistered 1002/);

      const records = await again.api<{ total: number; items: { caller: string; callee: string; hangupBy: string | null; disposition: string; answeredAt: string | null }[] }>(
        'GET', '/api/v1/call-records',
      );
      assert.equal(records.status, 200);
      const record = records.body.items.find((r) => r.caller === '1001' && r.callee === '1002');
      assert.ok(record, `call record 1001 -> 1002 missing: ${JSON.stringify(records.body)}`);
      assert.equal(record.hangupBy, 'system');
      assert.equal(record.disposition, 'answered');
      assert.notEqual(record.answeredAt, null);
    } finally {
      await phone.kill();
      if (again) assert.equal(await stopServer(again), 0, again.output());
    }
    // With cdr.csv on by default the record also reached the CSV files.
    const csv = (await Promise.all((await readdir(path.join(dataDir, 'cdr'))).map((name) => readFile(path.join(dataDir, 'cdr', name), 'utf8')))).join('\n');
    assert.match(csv, /1001[^\n]*1002/, `CSV CDR holds the call:\n${csv}`);
  });

  it('on SIGTERM cancels a ringing call towards the phone, answers the caller with a final status, and records it', async () => {
    const dataDir = await tempDir();
    const server = await launch({ dataDir });
    const target = `${HOST}:${server.sipPort}`;
    await server.createExtension('1101', 'Caller-pw-1101');
    await server.createExtension('1102', 'Callee-pw-1102');

    let phone: SippHandle | undefined;
    let caller: SippHandle | undefined;
    try {
      phone = await startSipp({
        scenario: sippScenario('uas-ring-forever'),
        register: true,
        target,
        injection: sippInjection([{ number: '1102', password: 'Callee-pw-1102' }]),
        keys: { expires: '120', wait_ms: '30000' },
        timeoutMs: 40_000,
      });
      await phone.waitForLog('registered 1102', 10_000);
      caller = await startSipp({
        scenario: sippScenario('uac-expect-status'),
        target,
        injection: sippInjection([{ number: '1101', password: 'Caller-pw-1101' }]),
        keys: { callee: '1102', status: '487' },
        timeoutMs: 30_000,
      });
      await phone.waitForLog('incoming', 10_000);
      // Wait until the server knows the call is ringing.
      let ringing = false;
      for (let i = 0; i < 50 && !ringing; i++) {
        const calls = await server.api<unknown>('GET', '/api/v1/calls');
        ringing = JSON.stringify(calls.body).includes('1102');
        if (!ringing) await sleep(POLL_MS);
      }
      assert.ok(ringing, 'the call shows up in /api/v1/calls');

      const t0 = Date.now();
      const code = await stopServer(server, 'SIGTERM');
      const elapsed = Date.now() - t0;
      assert.equal(code, 0, server.output().slice(-3000));
      assert.ok(elapsed < SHUTDOWN_LIMIT_MS, `exited after ${elapsed} ms`);

      const callerResult = await caller.done;
      assert.equal(callerResult.code, 0, explain(callerResult));
      await phone.waitForLog('cancelled', 5_000);
    } finally {
      await Promise.all([caller?.kill(), phone?.kill()]);
      if (servers.has(server)) await stopServer(server, 'SIGKILL');
    }

    const again = await launch({ dataDir });
    try {
      const records = await again.api<{ items: { caller: string; callee: string; hangupBy: string | null; disposition: string; answeredAt: string | null }[] }>(
        'GET', '/api/v1/call-records',
      );
      const record = records.body.items.find((r) => r.caller === '1101' && r.callee === '1102');
      assert.ok(record, `call record 1101 -> 1102 missing: ${JSON.stringify(records.body)}`);
      assert.equal(record.hangupBy, 'system');
      assert.equal(record.disposition, 'cancelled');
      assert.equal(record.answeredAt, null);
    } finally {
      assert.equal(await stopServer(again), 0, again.output());
    }
  });

  it('on SIGINT exits 0 within 5 s', async () => {
    const server = await launch();
    const t0 = Date.now();
    const code = await stopServer(server, 'SIGINT');
    const elapsed = Date.now() - t0;
    assert.equal(code, 0, server.output());
    assert.ok(elapsed < SHUTDOWN_LIMIT_MS, `exited after ${elapsed} ms`);
  });

  it('on SIGTERM with no calls exits 0 and releases its ports', async () => {
    const server = await launch();
    const code = await stopServer(server, 'SIGTERM');
    assert.equal(code, 0, server.output());
    // The ports are free again: binding them succeeds.
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ port: server.sipPort, address: HOST, exclusive: true }, () => resolve());
    });
    udp.close();
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ port: server.httpsPort, host: HOST, exclusive: true }, () => resolve());
    });
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });
});
