// Robustness of a running Switchboard against hostile input:
//  (a) 2,000 random datagrams (random bytes, and random mutations and truncations of the RFC 4475
//      torture messages) over UDP, and the same 2,000 payloads as one TCP byte stream cut into random
//      chunks; afterwards OPTIONS is still answered promptly, no message handler threw, and the
//      server's resident memory has not grown beyond a generous bound;
//  (b) a 100 KB header section without CRLFCRLF on TCP gets the connection closed, and the server
//      keeps serving;
//  (c) a 10 MB Content-Length on TCP is refused by closing the connection long before 10 MB could
//      have been buffered.
// Everything is seeded (ROBUSTNESS_SEED overrides the seed), bounded in count and in time, and on
// loopback only.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { readTorture, tortureNames } from '../sip/torture-messages.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';

const HOST = '127.0.0.1';
const PAYLOADS = 2_000;
const SEED = Number(process.env.ROBUSTNESS_SEED ?? 0x5eed4475) >>> 0;
/** "Promptly": a good OPTIONS after the flood. */
const PROMPT_ANSWER_MS = 1_000;
const FLOOD_TIME_LIMIT_MS = 60_000;
/** Generous: the flood may leave transactions behind (INVITEs wait 32 s for an ACK), not a leak. */
const MAX_RSS_GROWTH_KB = 150 * 1024;
const MAX_RSS_KB = 700 * 1024;
const CLOSE_TIMEOUT_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32) and payload generators

class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** Bytes that matter to a SIP parser, so mutations hit separators more often than chance would. */
const SIP_BYTES = Buffer.from(':;,<>"\\\r\n \t@=?%/.0123456789-zZ\x00\xff', 'latin1');
const NASTY_VALUES = ['4294967296', '99999999999999999999', '-1', '0', '', '%00', '"', '<', '\r\n\r\n', ' \r\n ', '65536', '1e9'];

/** Replaces the first Via sent-by so that answers to still-valid mutants come back to us, not to 5060. */
function withTopViaSentBy(data: Buffer, sentBy: string): Buffer {
  const text = data.toString('latin1');
  const replaced = text.replace(/(\r\n(?:via|v)[ \t]*:[ \t\r\n]*SIP[ \t\r\n]*\/[ \t\r\n]*[^ \t\r\n/]+[ \t\r\n]*\/[ \t\r\n]*[^ \t\r\n;,]+[ \t\r\n]+)[^ \t\r\n;,]+/i, `$1${sentBy}`);
  return Buffer.from(replaced, 'latin1');
}

function mutate(random: Random, original: Buffer): Buffer {
  let data = Buffer.from(original);
  const rounds = 1 + random.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = data.length === 0 ? 0 : random.int(data.length);
    switch (random.int(9)) {
      case 0: // flip a bit
        if (data.length > 0) data[at] = data[at]! ^ (1 << random.int(8));
        break;
      case 1: // a SIP-significant byte
        if (data.length > 0) data[at] = SIP_BYTES[random.int(SIP_BYTES.length)]!;
        break;
      case 2: // truncate
        data = data.subarray(0, at);
        break;
      case 3: // delete a range
        data = Buffer.concat([data.subarray(0, at), data.subarray(at + 1 + random.int(64))]);
        break;
      case 4: // duplicate a range
        data = Buffer.concat([data.subarray(0, at), data.subarray(at, at + 1 + random.int(200)), data.subarray(at)]);
        break;
      case 5: // insert random bytes
        data = Buffer.concat([data.subarray(0, at), random.bytes(1 + random.int(32)), data.subarray(at)]);
        break;
      case 6: {
        // swap two lines
        const lines = data.toString('latin1').split('\r\n');
        const i = random.int(lines.length);
        const j = random.int(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        data = Buffer.from(lines.join('\r\n'), 'latin1');
        break;
      }
      case 7: {
        // a number becomes a nasty value
        const text = data.toString('latin1');
        const numbers = [...text.matchAll(/\d+/g)];
        if (numbers.length > 0) {
          const m = random.pick(numbers);
          data = Buffer.from(text.slice(0, m.index) + random.pick(NASTY_VALUES) + text.slice(m.index! + m[0].length), 'latin1');
        }
        break;
      }
      default: {
        // a header line is repeated many times (bounded)
        const lines = data.toString('latin1').split('\r\n');
        const i = random.int(lines.length);
        const copies = Array.from({ length: 1 + random.int(40) }, () => lines[i]!);
        lines.splice(i, 0, ...copies);
        data = Buffer.from(lines.join('\r\n'), 'latin1');
      }
    }
  }
  // stay well inside one UDP datagram
  return data.subarray(0, 60_000);
}

function makePayloads(seed: number, sentBy: string): Buffer[] {
  const random = new Random(seed);
  const bases = tortureNames().map((name) => withTopViaSentBy(readTorture(name), sentBy));
  const payloads: Buffer[] = [];
  for (let i = 0; i < PAYLOADS; i++) {
    const kind = random.int(10);
    if (kind < 3) payloads.push(random.bytes(random.int(1_500)));
    else if (kind < 4) payloads.push(random.pick(bases).subarray(0, random.int(2_000))); // plain truncation
    else payloads.push(mutate(random, random.pick(bases)));
  }
  return payloads;
}

// ---------------------------------------------------------------------------------------------
// Server process: pid and memory

/**
 * startSwitchboard() does not expose the child's pid, so find it: our child process whose command
 * line carries `--sip-port <sipPort>`.
 */
function serverPid(sipPort: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
      const i = args.indexOf('--sip-port');
      if (i >= 0 && args[i + 1] === String(sipPort)) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  throw new Error(`no child process of ${process.pid} with --sip-port ${sipPort}`);
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb);
}

// ---------------------------------------------------------------------------------------------
// Minimal SIP clients

function goodOptions(transport: 'UDP' | 'TCP', localPort: number, sipPort: number): Buffer {
  const id = randomBytes(6).toString('hex');
  return Buffer.from(
    [
      `OPTIONS sip:${HOST}:${sipPort} SIP/2.0`,
      `Via: SIP/2.0/${transport} ${HOST}:${localPort};branch=z9hG4bK-robust-${id};rport`,
      'Max-Forwards: 70',
      `From: <sip:robust@${HOST}>;tag=${id}`,
      `To: <sip:${HOST}:${sipPort}>`,
      `Call-ID: robust-${id}@${HOST}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

function statusOf(text: string): number | undefined {
  const m = /^SIP\/2\.0 (\d{3})/.exec(text);
  return m ? Number(m[1]) : undefined;
}

function bindUdp(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

function closeUdp(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

function connectTcp(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

function destroyTcp(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve());
    socket.destroy();
  });
}

/** Resolves true when the socket closes within timeoutMs (the server closed it), false otherwise. */
function closedWithin(socket: net.Socket, timeoutMs: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Sends a good OPTIONS and returns the status of the first final answer and how long it took. */
async function optionsOver(transport: 'UDP' | 'TCP', sipPort: number, timeoutMs: number): Promise<{ status: number | undefined; ms: number }> {
  const started = Date.now();
  if (transport === 'UDP') {
    const socket = await bindUdp();
    try {
      return await new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ status: undefined, ms: Date.now() - started }), timeoutMs);
        socket.on('message', (data) => {
          const status = statusOf(data.toString('latin1'));
          if (status !== undefined && status >= 200) {
            clearTimeout(timer);
            resolve({ status, ms: Date.now() - started });
          }
        });
        socket.send(goodOptions('UDP', socket.address().port, sipPort), sipPort, HOST);
      });
    } finally {
      await closeUdp(socket);
    }
  }
  const socket = await connectTcp(sipPort);
  try {
    return await new Promise((resolve) => {
      let text = '';
      const timer = setTimeout(() => resolve({ status: undefined, ms: Date.now() - started }), timeoutMs);
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        for (const m of text.matchAll(/SIP\/2\.0 (\d{3})/g)) {
          if (Number(m[1]) >= 200) {
            clearTimeout(timer);
            resolve({ status: Number(m[1]), ms: Date.now() - started });
            return;
          }
        }
      });
      socket.write(goodOptions('TCP', socket.localPort ?? 0, sipPort));
    });
  } finally {
    await destroyTcp(socket);
  }
}

/** Writes, waiting for 'drain' when the socket asks us to; false once the connection is gone. */
function writeWithBackpressure(socket: net.Socket, data: Buffer, timeoutMs: number): Promise<boolean> {
  if (socket.destroyed || !socket.writable) return Promise.resolve(false);
  return new Promise((resolve) => {
    if (socket.write(data)) return resolve(true);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(!socket.destroyed), timeoutMs);
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

// ---------------------------------------------------------------------------------------------

describe('robustness against hostile input', { timeout: 240_000 }, () => {
  let server: Switchboard;
  let pid: number;

  before(async () => {
    server = await startSwitchboard();
    pid = serverPid(server.sipPort);
  });

  after(async () => {
    await server?.stop();
  });

  async function assertServing(context: string): Promise<void> {
    for (const transport of ['UDP', 'TCP'] as const) {
      const { status, ms } = await optionsOver(transport, server.sipPort, 3_000);
      assert.equal(status, 200, `good OPTIONS over ${transport} after ${context}: ${status ?? 'no answer'}\n${server.output().slice(-3000)}`);
      assert.ok(ms <= PROMPT_ANSWER_MS, `good OPTIONS over ${transport} after ${context} took ${ms} ms`);
    }
  }

  /** Lines where the server caught an exception while handling input: each one is a bug. */
  function handlerFailures(): string[] {
    return server
      .output()
      .split('\n')
      .filter((line) => /error while handling a SIP message|message handler failed|uncaught|unhandled/i.test(line));
  }

  it(`(a) survives ${PAYLOADS} random datagrams over UDP and the same as a randomly chunked TCP stream (seed ${SEED})`, async (t) => {
    // Warm up (JIT, first transactions, SQLite pages) before taking the baseline.
    for (let i = 0; i < 20; i++) await assertServing('warm-up');
    const rssBefore = rssKb(pid);
    const started = Date.now();

    // --- UDP: one datagram per payload, paced so the socket buffers do not simply drop them
    const udp = await bindUdp();
    let udpAnswers = 0;
    udp.on('message', () => udpAnswers++);
    try {
      const payloads = makePayloads(SEED, `${HOST}:${udp.address().port}`);
      for (let i = 0; i < payloads.length; i++) {
        assert.ok(Date.now() - started < FLOOD_TIME_LIMIT_MS, `UDP flood exceeded ${FLOOD_TIME_LIMIT_MS} ms at payload ${i}`);
        await new Promise<void>((resolve) => udp.send(payloads[i]!, server.sipPort, HOST, () => resolve()));
        if (i % 25 === 24) await sleep(2);
      }
      await sleep(300);
    } finally {
      await closeUdp(udp);
    }
    assert.ok(udpAnswers > 0, 'the server answered none of the UDP payloads (were they received at all?)');
    await assertServing('the UDP flood');

    // --- TCP: the same kind of payloads as one byte stream in random chunks; reconnect when the server
    // closes the connection (framing violations close it by design) and go on with the next payload.
    const random = new Random(SEED ^ 0x7c9);
    let socket = await connectTcp(server.sipPort);
    socket.on('data', () => undefined);
    let connections = 1;
    let closedByServer = 0;
    try {
      const payloads = makePayloads(SEED + 1, `${HOST}:${socket.localPort ?? 0}`);
      for (let i = 0; i < payloads.length; i++) {
        assert.ok(Date.now() - started < 2 * FLOOD_TIME_LIMIT_MS, `TCP flood exceeded its time at payload ${i}`);
        const payload = payloads[i]!;
        for (let pos = 0; pos < payload.length; ) {
          const size = 1 + random.int(random.int(4) === 0 ? 16 : 3_000);
          const ok = await writeWithBackpressure(socket, payload.subarray(pos, pos + size), 2_000);
          if (!ok) break;
          pos += size;
          // let some chunks arrive on their own
          if (random.int(8) === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        if (random.int(50) === 0) await sleep(1);
        if (socket.destroyed || !socket.writable || socket.readableEnded) {
          closedByServer++;
          await destroyTcp(socket);
          assert.ok(connections < PAYLOADS + 1, 'too many reconnections');
          socket = await connectTcp(server.sipPort);
          socket.on('data', () => undefined);
          connections++;
        }
      }
      await sleep(300);
    } finally {
      await destroyTcp(socket);
    }
    const elapsed = Date.now() - started;

    await assertServing(`the TCP flood (${connections} connections, ${closedByServer} closed by the server)`);
    const rssAfter = rssKb(pid);
    const growth = rssAfter - rssBefore;
    assert.ok(growth < MAX_RSS_GROWTH_KB, `server RSS grew by ${growth} kB (${rssBefore} → ${rssAfter} kB)`);
    assert.ok(rssAfter < MAX_RSS_KB, `server RSS is ${rssAfter} kB`);
    assert.ok(elapsed < 2 * FLOOD_TIME_LIMIT_MS, `the floods took ${elapsed} ms`);
    t.diagnostic(`UDP: ${udpAnswers} answers; TCP: ${connections} connections, ${closedByServer} closed by the server; ${elapsed} ms; RSS ${rssBefore} → ${rssAfter} kB`);
    const failures = handlerFailures();
    assert.deepEqual(failures.slice(0, 5), [], `the server caught ${failures.length} exceptions while handling input`);
  });

  it('(b) closes a TCP connection whose header section exceeds the limit (100 KB without CRLFCRLF)', async (t) => {
    const socket = await connectTcp(server.sipPort);
    const closed = closedWithin(socket, 10_000);
    let answered = '';
    socket.on('data', (chunk: Buffer) => { answered += chunk.toString('latin1'); });
    try {
      const start = Buffer.from(`OPTIONS sip:${HOST}:${server.sipPort} SIP/2.0\r\nX-Filler: `, 'latin1');
      let sent = 0;
      const total = 100 * 1024;
      const writeStarted = Date.now();
      if (await writeWithBackpressure(socket, start, 2_000)) sent += start.length;
      for (let i = 0; i < 200 && sent < total && !socket.destroyed; i++) {
        const chunk = Buffer.alloc(Math.min(4096, total - sent), i % 2 === 0 ? 'a' : 'b');
        if (!(await writeWithBackpressure(socket, chunk, 2_000))) break;
        sent += chunk.length;
      }
      const wasClosed = await Promise.race([closed, sleep(CLOSE_TIMEOUT_MS).then(() => false)]);
      assert.ok(wasClosed, `connection still open ${Date.now() - writeStarted} ms after ${sent} bytes of header`);
      t.diagnostic(`closed after ${sent} bytes were written, ${Date.now() - writeStarted} ms; said: ${JSON.stringify(answered.slice(0, 80))}`);
      if (answered.length > 0) assert.match(answered, /^SIP\/2\.0 [45]\d\d /, 'anything said before closing is an error response');
    } finally {
      await destroyTcp(socket);
    }
    await assertServing('an oversized TCP header');
  });

  it('(c) refuses a 10 MB Content-Length on TCP by closing the connection without buffering the body', async (t) => {
    const announced = 10 * 1024 * 1024;
    const socket = await connectTcp(server.sipPort);
    const closed = closedWithin(socket, 10_000);
    socket.on('data', () => undefined);
    const rssBefore = rssKb(pid);
    let sent = 0;
    try {
      const head = Buffer.from(
        [
          `OPTIONS sip:${HOST}:${server.sipPort} SIP/2.0`,
          `Via: SIP/2.0/TCP ${HOST}:${socket.localPort ?? 0};branch=z9hG4bK-big-${randomBytes(4).toString('hex')}`,
          'Max-Forwards: 70',
          `From: <sip:big@${HOST}>;tag=big`,
          `To: <sip:${HOST}:${server.sipPort}>`,
          `Call-ID: big-${randomBytes(4).toString('hex')}@${HOST}`,
          'CSeq: 1 OPTIONS',
          'Content-Type: text/plain',
          `Content-Length: ${announced}`,
          '',
          '',
        ].join('\r\n'),
        'latin1',
      );
      const writeStarted = Date.now();
      await writeWithBackpressure(socket, head, 2_000);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      for (let i = 0; i < announced / chunk.length && !socket.destroyed; i++) {
        if (!(await writeWithBackpressure(socket, chunk, 2_000))) break;
        sent += chunk.length;
      }
      const wasClosed = await Promise.race([closed, sleep(CLOSE_TIMEOUT_MS).then(() => false)]);
      assert.ok(wasClosed, `connection still open ${Date.now() - writeStarted} ms after ${sent} bytes of a ${announced}-byte body`);
      t.diagnostic(`closed after ${sent} body bytes were written, ${Date.now() - writeStarted} ms`);
      // The kernel's socket buffers take some bytes before the close arrives, but not the 10 MB.
      assert.ok(sent < announced, `all ${announced} bytes of the body were accepted before the server closed the connection`);
      const rssAfter = rssKb(pid);
      assert.ok(rssAfter - rssBefore < announced / 1024, `server RSS grew by ${rssAfter - rssBefore} kB for a refused body`);
    } finally {
      await destroyTcp(socket);
    }
    await assertServing('a 10 MB Content-Length');
  });
});
