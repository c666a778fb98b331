import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';

/** Keeps only the tail of a child's output: SIPp and servers can be chatty under load. */
const MAX_CAPTURED_CHARS = 200_000;
const STOP_GRACE_MS = 5_000;

export interface Child {
  readonly pid: number;
  readonly exited: Promise<number>;
  hasExited(): boolean;
  output(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves with the exit code. */
  stop(): Promise<number>;
}

const running = new Set<ChildProcess>();

// A bench that throws or is interrupted must not leave servers and SIPp instances behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of running) child.kill('SIGKILL');
    process.exit(130);
  });
}

export function startChild(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`cannot start ${command}`);
  running.add(child);
  let text = '';
  const capture = (chunk: string) => {
    text += chunk;
    if (text.length > MAX_CAPTURED_CHARS) text = text.slice(-MAX_CAPTURED_CHARS);
  };
  child.stdout!.setEncoding('utf8').on('data', capture);
  child.stderr!.setEncoding('utf8').on('data', capture);
  let done = false;
  const exited = new Promise<number>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
      running.delete(child);
      resolve(code ?? (signal ? 128 : 0));
    });
  });
  const pid = child.pid;
  return {
    pid,
    exited,
    hasExited: () => done,
    output: () => text,
    async stop() {
      if (done) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Runs a command to completion, killing it after `timeoutMs`. */
export async function runChild(command: string, args: readonly string[], timeoutMs: number, cwd?: string): Promise<{ code: number; output: string; timedOut: boolean }> {
  const child = startChild(command, args, { cwd });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void child.stop();
  }, timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, output: child.output(), timedOut };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function bindUdp(port: number): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => { socket.close(); resolve(undefined); });
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

function listenTcp(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * `n` distinct ports on 127.0.0.1, each free for both UDP and TCP a moment ago (SIP servers listen on
 * both). All are held until the last is found, so none is handed out twice.
 */
export async function freePorts(n: number): Promise<number[]> {
  const held: Array<{ tcp: net.Server; udp: dgram.Socket }> = [];
  try {
    for (let attempt = 0; held.length < n && attempt < 50 * n; attempt++) {
      const tcp = await listenTcp(0);
      if (!tcp) continue;
      const udp = await bindUdp((tcp.address() as net.AddressInfo).port);
      if (udp) held.push({ tcp, udp });
      else tcp.close();
    }
    if (held.length < n) throw new Error(`could not find ${n} free ports on 127.0.0.1`);
    return held.map(({ udp }) => udp.address().port);
  } finally {
    for (const { tcp, udp } of held) {
      tcp.close();
      udp.close();
    }
  }
}

/** Sends OPTIONS until any SIP response comes back: the server's UDP listener is up. */
export async function waitForSip(port: number, timeoutMs: number, isAlive: () => boolean): Promise<void> {
  const socket = dgram.createSocket('udp4');
  let answered = false;
  socket.on('message', (msg) => {
    if (msg.toString('latin1', 0, 8) === 'SIP/2.0 ') answered = true;
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const local = socket.address().port;
  try {
    const deadline = Date.now() + timeoutMs;
    for (let n = 0; !answered; n++) {
      if (!isAlive()) throw new Error('server exited before answering SIP');
      if (Date.now() > deadline) throw new Error(`no SIP answer on UDP ${port} within ${timeoutMs} ms`);
      const options = [
        'OPTIONS sip:127.0.0.1:' + port + ' SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-bench-probe-${n}`,
        `From: <sip:probe@127.0.0.1>;tag=probe${n}`,
        'To: <sip:127.0.0.1>',
        `Call-ID: bench-probe-${n}@127.0.0.1`,
        'CSeq: 1 OPTIONS',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(options, port, '127.0.0.1');
      await sleep(200);
    }
  } finally {
    socket.close();
  }
}
