// The 49 RFC 4475 torture messages against a running Switchboard, over UDP and over TCP: what the
// server answers (first final response; 100 Trying is ignored), or that it stays silent for the
// messages it must drop, and that it still answers a good OPTIONS with 200 afterwards.
//
// What the message layer makes of each file is unit-tested in test/sip/rfc4475.test.ts; here the
// whole server decides, so "process normally" means the answer a registrar/B2BUA gives a stranger:
// 407 for an INVITE, 401 for a REGISTER, 200 for OPTIONS, 481 for a request with a To tag that
// matches no dialog, 501 for an unknown method. RFC 4475 is the authority; the table below says
// which section each expectation comes from.
//
// Two deliberate changes to the bytes sent (everything else is byte-exact):
//  * The top Via sent-by (host[:port]) of every request is rewritten to 127.0.0.1:<our port>.
//    The torture Vias name other hosts, and RFC 3261 §18.2.2 sends a UDP response to the source
//    address but the Via port (5060 by default). It also keeps the transaction keys of different
//    cases apart: many messages share branch=z9hG4bKkdjuw and a sent-by, which a server rightly
//    treats as one transaction (RFC 3261 §17.2.3). The transport token and the parameters of the
//    Via (including malformed ones, as in badinv01) are left alone.
//  * Nothing else. Responses (unreason, noreason, bcast, scalarlg, bigcode) are sent untouched.
//
// The TCP cases run before the UDP ones, and every final response to an INVITE is ACKed: the UDP copy
// of a message carries the same From tag, Call-ID and CSeq as the TCP copy, so while the TCP
// transaction is alive the server would rightly answer the UDP copy with 482 (merged request,
// RFC 3261 §8.2.2.2). Over TCP a non-INVITE transaction ends with its final response and an
// INVITE one with its ACK (Timer I = 0), so the UDP copies find nothing left behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { readTorture, tortureNames } from '../sip/torture-messages.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { parseSipReply, type SipReply } from '../support/sip-reply.js';

const HOST = '127.0.0.1';
/** How long a dropped message is given to (wrongly) produce a response. */
const SILENCE_WINDOW_MS = 300;
/** Upper bound for a final response to arrive; INVITEs send 100 Trying first. */
const ANSWER_TIMEOUT_MS = 3_000;
/** Upper bound for the server to close a TCP connection after a framing error. */
const CLOSE_TIMEOUT_MS = 3_000;

type Transport = 'UDP' | 'TCP';

type Expectation =
  /** the first final response has one of these codes */
  | { kind: 'status'; codes: readonly number[] }
  /** no response at all (not even 100) within SILENCE_WINDOW_MS */
  | { kind: 'silence' }
  /** TCP framing error: the server closes the connection; anything it says first is a 400 */
  | { kind: 'close' };


interface Case {
  section: string;
  why: string;
  udp: Expectation;
  /** defaults to `udp` */
  tcp?: Expectation;
  /** for 400: a word the reason phrase should contain, naming the fault */
  fault?: RegExp;
  /** further checks on the first final response */
  check?: (reply: SipReply, transport: Transport) => void;
}

const status = (...codes: number[]): Expectation => ({ kind: 'status', codes });
const SILENCE: Expectation = { kind: 'silence' };
const CLOSE: Expectation = { kind: 'close' };

const CASES: Record<string, Case> = {
  // 3.1.1 valid messages: parse and process normally
  wsinv: { section: '3.1.1.1', why: 'valid INVITE with a To tag matching no dialog: 481', udp: status(481) },
  intmeth: { section: '3.1.1.2', why: 'valid request with an unknown method: 501', udp: status(501), check: hasAllow },
  esc01: { section: '3.1.1.3', why: 'valid INVITE from an unauthenticated caller: 407', udp: status(407), check: hasChallenge('proxy-authenticate') },
  escnull: { section: '3.1.1.4', why: 'valid REGISTER without credentials: 401', udp: status(401), check: hasChallenge('www-authenticate') },
  esc02: { section: '3.1.1.5', why: 'RE%47IST%45R is an unknown method, not REGISTER: 501', udp: status(501), check: hasAllow },
  lwsdisp: { section: '3.1.1.6', why: 'valid OPTIONS: 200', udp: status(200) },
  longreq: { section: '3.1.1.7', why: 'valid INVITE from an unauthenticated caller: 407', udp: status(407), check: hasChallenge('proxy-authenticate') },
  dblreq: {
    section: '3.1.1.8',
    why: 'the REGISTER is answered (401); over UDP the INVITE after Content-Length is ignored, over TCP it is the next message',
    udp: status(401),
    check: (reply) => assert.match(reply.get('cseq') ?? '', /^8 REGISTER$/),
  },
  semiuri: { section: '3.1.1.9', why: 'valid OPTIONS: 200', udp: status(200) },
  transports: { section: '3.1.1.10', why: 'valid OPTIONS: 200', udp: status(200) },
  mpart01: { section: '3.1.1.11', why: 'valid MESSAGE, a method the server knows but does not offer: 405 with Allow', udp: status(405), check: hasAllow },
  unreason: { section: '3.1.1.12', why: 'valid response matching no transaction: absorbed, no answer', udp: SILENCE },
  noreason: { section: '3.1.1.13', why: 'valid response matching no transaction: absorbed, no answer', udp: SILENCE },

  // 3.1.2 invalid messages
  badinv01: { section: '3.1.2.1', why: 'empty Via and Contact parameters: 400', udp: status(400), fault: /Via|Contact/i },
  clerr: {
    section: '3.1.2.2',
    why: 'Content-Length larger than the datagram: 400; over TCP the message is merely incomplete, so nothing is answered',
    udp: status(400),
    tcp: SILENCE,
    fault: /Content-Length/i,
  },
  ncl: {
    section: '3.1.2.3',
    why: 'negative Content-Length: 400 over UDP; over TCP the framing is lost and the connection is closed',
    udp: status(400),
    tcp: CLOSE,
    fault: /Content-Length/i,
  },
  scalar02: { section: '3.1.2.4', why: 'CSeq number beyond 2**32-1: 400', udp: status(400), fault: /CSeq|Expires|Max-Forwards/i },
  scalarlg: { section: '3.1.2.5', why: 'response with overlarge scalars: dropped', udp: SILENCE },
  quotbal: { section: '3.1.2.6', why: 'unterminated quoted string in To: 400', udp: status(400), fault: /To/ },
  ltgtruri: { section: '3.1.2.7', why: '<> around the Request-URI: 400', udp: status(400), fault: /Request-URI|Request-Line|start line/i },
  lwsruri: { section: '3.1.2.8', why: 'whitespace inside the Request-URI: 400', udp: status(400), fault: /Request-URI|Request-Line|start line/i },
  lwsstart: { section: '3.1.2.9', why: 'several spaces in the Request-Line: 400', udp: status(400), fault: /Request-URI|Request-Line|start line/i },
  trws: { section: '3.1.2.10', why: 'trailing whitespace after the Request-Line, read liberally: 200', udp: status(200) },
  escruri: { section: '3.1.2.11', why: 'unescaped headers in the Request-URI: 400', udp: status(400), fault: /Request-URI/i },
  baddate: { section: '3.1.2.12', why: 'non-GMT Date, read liberally: INVITE from a stranger gets 407', udp: status(407), check: hasChallenge('proxy-authenticate') },
  regbadct: { section: '3.1.2.13', why: 'Contact URI with ? outside <>: 400', udp: status(400), fault: /Contact/i },
  badaspec: { section: '3.1.2.14', why: 'whitespace inside <> of the To URI: 400', udp: status(400), fault: /To/ },
  baddn: {
    section: '3.1.2.15',
    why: 'unquoted display name with a comma: 400. The stored file ends after "l: 0" CRLF without the empty line, so over TCP the header section never ends and nothing can be answered',
    udp: status(400),
    tcp: SILENCE,
    fault: /From|To/,
  },
  badvers: { section: '3.1.2.16', why: 'SIP/7.0: 505', udp: status(505) },
  mismatch01: { section: '3.1.2.17', why: 'CSeq method differs from the Request-Line: 400', udp: status(400), fault: /CSeq/i },
  mismatch02: { section: '3.1.2.18', why: 'unknown method with an INVITE CSeq: 400', udp: status(400), fault: /CSeq/i },
  bigcode: { section: '3.1.2.19', why: 'response with a status code beyond 699: dropped', udp: SILENCE },

  // 3.2 transaction layer
  badbranch: { section: '3.2.1', why: 'branch of only the magic cookie: processed, OPTIONS gets 200', udp: status(200) },

  // 3.3 application layer
  insuf: { section: '3.3.1', why: 'missing Call-ID, From, To, Max-Forwards: 400', udp: status(400), fault: /Missing|Call-ID|From|To/ },
  unkscm: { section: '3.3.2', why: 'unknown Request-URI scheme: 416', udp: status(416) },
  novelsc: { section: '3.3.3', why: 'unknown Request-URI scheme: 416', udp: status(416) },
  unksm2: {
    section: '3.3.4',
    why: 'unknown schemes in To/From/Contact are fine; a REGISTER whose To is not a SIP AOR has nothing to register: 404 (401 would do too)',
    udp: status(404, 401),
  },
  bext01: {
    section: '3.3.5',
    why: 'unknown Require option tags: 420 with Unsupported naming them',
    udp: status(420),
    check: (reply) => {
      const unsupported = reply.all('unsupported').join(',').toLowerCase();
      assert.match(unsupported, /\bnothingsupportsthis\b/);
      assert.match(unsupported, /\bnothingsupportsthiseither\b/);
    },
  },
  invut: {
    section: '3.3.6',
    why: 'INVITE with an unknown body type: 415 with Accept',
    udp: status(415),
    check: (reply) => assert.match(reply.all('accept').join(','), /application\/sdp/),
  },
  regaut01: {
    section: '3.3.7',
    why: 'unknown authorization scheme: challenged with 401',
    udp: status(401),
    check: hasChallenge('www-authenticate'),
  },
  multi01: { section: '3.3.8', why: 'several Call-ID, To, From, CSeq, Max-Forwards: 400', udp: status(400), fault: /Multiple|Call-ID|CSeq|From|To/ },
  mcl01: {
    section: '3.3.9',
    why: 'conflicting Content-Length values: 400 over UDP; over TCP the framing is lost and the connection is closed',
    udp: status(400),
    tcp: CLOSE,
    fault: /Content-Length/i,
  },
  bcast: { section: '3.3.10', why: 'response with a broadcast Via: dropped', udp: SILENCE },
  zeromf: { section: '3.3.11', why: 'Max-Forwards 0 OPTIONS for the server itself: answered as UAS, 200', udp: status(200) },
  cparam01: { section: '3.3.12', why: 'valid REGISTER without credentials: 401', udp: status(401), check: hasChallenge('www-authenticate') },
  cparam02: { section: '3.3.13', why: 'valid REGISTER without credentials: 401', udp: status(401), check: hasChallenge('www-authenticate') },
  regescrt: { section: '3.3.14', why: 'valid REGISTER without credentials: 401', udp: status(401), check: hasChallenge('www-authenticate') },
  sdp01: {
    section: '3.3.15',
    why: 'INVITE whose Accept excludes application/sdp: 406',
    udp: status(406),
  },

  // 3.4 backward compatibility
  inv2543: {
    section: '3.4.1',
    why: 'RFC 2543 INVITE (no branch, no Max-Forwards) from a stranger: 407; over TCP there is no Content-Length, so the body counts as 0 and the SDP lines that follow are garbage on the stream',
    udp: status(407),
    check: hasChallenge('proxy-authenticate'),
  },
};

function hasAllow(reply: SipReply): void {
  assert.match(reply.get('allow') ?? '', /INVITE/, 'response carries Allow');
}

function hasChallenge(header: string): (reply: SipReply) => void {
  return (reply) => assert.match(reply.all(header).join(','), /^Digest /i, `response carries ${header}`);
}

// ---------------------------------------------------------------------------------------------
// Message helpers


/** Anything the server sent, as a reply; what is not a SIP response gets status -1 so the case fails. */
function readReply(data: Buffer): SipReply {
  const text = data.toString('latin1');
  try {
    return parseSipReply(text);
  } catch (err) {
    return { status: -1, reason: String(err), names: [], all: () => [], get: () => undefined, topVia: undefined, text };
  }
}

function isResponseMessage(data: Buffer): boolean {
  return data.subarray(0, 4).toString('latin1') === 'SIP/';
}

/**
 * Replaces the sent-by (host[:port]) of the first Via header line of the first message in `data`
 * by host:port, keeping every other byte, folding and parameter as it was.
 */
function rewriteTopViaSentBy(data: Buffer, host: string, port: number): Buffer {
  const text = data.toString('latin1');
  const headerEnd = text.indexOf('\r\n\r\n');
  const head = headerEnd < 0 ? text : text.slice(0, headerEnd);
  // A header line starts after CRLF with no leading whitespace (which would make it a continuation).
  const viaLine = /\r\n(?:via|v)[ \t]*:/gi.exec(head);
  if (!viaLine) return data;
  const lws = '[ \\t\\r\\n]*';
  const sentBy = new RegExp(`${lws}SIP${lws}/${lws}[^ \\t\\r\\n/]+${lws}/${lws}[^ \\t\\r\\n;,]+[ \\t\\r\\n]+([^ \\t\\r\\n;,]+)`, 'iy');
  sentBy.lastIndex = viaLine.index + viaLine[0].length;
  const found = sentBy.exec(head);
  if (!found) return data;
  const at = found.index + found[0].length - found[1]!.length;
  return Buffer.from(`${text.slice(0, at)}${host}:${port}${text.slice(at + found[1]!.length)}`, 'latin1');
}

/** The Request-URI of the first line, as sent (for the ACK). */
function requestUriOf(data: Buffer): string | undefined {
  const firstLine = data.toString('latin1').split('\r\n', 1)[0] ?? '';
  return firstLine.split(' ')[1];
}

function methodOf(data: Buffer): string {
  return data.toString('latin1').split(' ', 1)[0] ?? '';
}

/** RFC 3261 §17.1.1.3: the ACK for a non-2xx final response, built from the response. */
function ackFor(requestUri: string, reply: SipReply): Buffer | undefined {
  const seq = /^(\d+)/.exec(reply.get('cseq') ?? '')?.[1];
  const from = reply.get('from');
  const to = reply.get('to');
  const callId = reply.get('call-id');
  if (!reply.topVia || !seq || !from || !to || !callId) return undefined;
  return Buffer.from(
    [
      `ACK ${requestUri} SIP/2.0`,
      `Via: ${reply.topVia}`,
      'Max-Forwards: 70',
      `From: ${from}`,
      `To: ${to}`,
      `Call-ID: ${callId}`,
      `CSeq: ${seq} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

let healthCounter = 0;

function goodOptions(transport: Transport, localPort: number, sipPort: number): Buffer {
  const n = ++healthCounter;
  const id = randomBytes(6).toString('hex');
  return Buffer.from(
    [
      `OPTIONS sip:${HOST}:${sipPort} SIP/2.0`,
      `Via: SIP/2.0/${transport} ${HOST}:${localPort};branch=z9hG4bK-health-${id};rport`,
      'Max-Forwards: 70',
      `From: <sip:health@${HOST}>;tag=h${id}`,
      `To: <sip:${HOST}:${sipPort}>`,
      `Call-ID: health-${n}-${id}@${HOST}`,
      `CSeq: ${n} OPTIONS`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

// ---------------------------------------------------------------------------------------------
// Clients: each collects what the server sends and lets a test wait for it with a deadline.

interface Client {
  readonly transport: Transport;
  readonly localPort: number;
  readonly replies: SipReply[];
  /** set when the server closed a TCP connection */
  readonly closed: boolean;
  send(data: Buffer): Promise<void>;
  /** resolves when `done()` holds or `timeoutMs` passed; returns whether it held */
  waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

class Waiters {
  private waiters: (() => void)[] = [];

  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}

/** UDP sockets are kept open until the end so that no later case reuses a port (and so a transaction key). */
const openUdpSockets: dgram.Socket[] = [];

async function udpClient(sipPort: number): Promise<Client> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  openUdpSockets.push(socket);
  socket.on('error', () => undefined);
  const replies: SipReply[] = [];
  const waiters = new Waiters();
  socket.on('message', (data) => {
    replies.push(readReply(data));
    waiters.wake();
  });
  return {
    transport: 'UDP',
    localPort: socket.address().port,
    replies,
    closed: false,
    send: (data) =>
      new Promise<void>((resolve, reject) => socket.send(data, sipPort, HOST, (err) => (err ? reject(err) : resolve()))),
    waitUntil: (done, timeoutMs) => waiters.until(done, timeoutMs),
    close: async () => undefined,
  };
}

/** Frames SIP messages from a byte stream (CRLF keep-alives skipped, Content-Length bodies). */
function takeStreamMessages(buffer: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let rest = buffer;
  for (let guard = 0; guard < 1000; guard++) {
    let start = 0;
    while (start < rest.length && (rest[start] === 0x0d || rest[start] === 0x0a)) start++;
    rest = rest.subarray(start);
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.subarray(0, end).toString('latin1');
    const length = Number(/\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(head)?.[1] ?? '0');
    if (rest.length < end + 4 + length) break;
    messages.push(rest.subarray(0, end + 4 + length));
    rest = rest.subarray(end + 4 + length);
  }
  return { messages, rest };
}

async function tcpClient(sipPort: number): Promise<Client> {
  const socket = net.connect({ host: HOST, port: sipPort });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', () => undefined);
  const replies: SipReply[] = [];
  const waiters = new Waiters();
  let pending = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    const { messages, rest } = takeStreamMessages(Buffer.concat([pending, chunk]));
    pending = Buffer.from(rest);
    for (const m of messages) replies.push(readReply(m));
    waiters.wake();
  });
  socket.on('close', () => {
    closed = true;
    waiters.wake();
  });
  return {
    transport: 'TCP',
    localPort: socket.localPort ?? 0,
    replies,
    get closed() {
      return closed;
    },
    send: (data) =>
      new Promise<void>((resolve, reject) => {
        if (socket.destroyed) return reject(new Error('connection already closed'));
        socket.write(data, (err) => (err ? reject(err) : resolve()));
      }),
    waitUntil: (done, timeoutMs) => waiters.until(done, timeoutMs),
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        socket.destroy();
      }),
  };
}

function openClient(transport: Transport, sipPort: number): Promise<Client> {
  return transport === 'UDP' ? udpClient(sipPort) : tcpClient(sipPort);
}

function describeReplies(replies: SipReply[]): string {
  return replies.length === 0 ? '(nothing)' : replies.map((r) => `${r.status} ${r.reason}`).join(' | ');
}

// ---------------------------------------------------------------------------------------------

describe('RFC 4475 torture messages against a running server', { timeout: 180_000 }, () => {
  let server: Switchboard;

  before(async () => {
    server = await startSwitchboard();
  });

  after(async () => {
    await Promise.all(openUdpSockets.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    await server?.stop();
  });

  /** A good OPTIONS on a fresh socket/connection gets 200: the server is alive and serving. */
  async function assertHealthy(transport: Transport, context: string): Promise<void> {
    const client = await openClient(transport, server.sipPort);
    try {
      await client.send(goodOptions(transport, client.localPort, server.sipPort));
      const answered = await client.waitUntil(() => client.replies.some((r) => r.status >= 200), ANSWER_TIMEOUT_MS);
      assert.ok(answered, `no answer to a good OPTIONS over ${transport} after ${context}\n${server.output().slice(-3000)}`);
      assert.equal(client.replies.find((r) => r.status >= 200)?.status, 200, `good OPTIONS over ${transport} after ${context}`);
    } finally {
      await client.close();
    }
  }

  async function runCase(name: string, transport: Transport): Promise<void> {
    const spec = CASES[name]!;
    const expectation = transport === 'TCP' ? (spec.tcp ?? spec.udp) : spec.udp;
    const original = readTorture(name);
    const client = await openClient(transport, server.sipPort);
    try {
      const data = isResponseMessage(original) ? original : rewriteTopViaSentBy(original, HOST, client.localPort);
      if (!isResponseMessage(original)) {
        assert.notDeepEqual(data, original, `${name}: the top Via sent-by was rewritten`);
      }
      await client.send(data);
      const label = `${name} (RFC 4475 §${spec.section}) over ${transport}: ${spec.why}`;

      if (expectation.kind === 'silence') {
        await client.waitUntil(() => client.replies.length > 0, SILENCE_WINDOW_MS);
        assert.equal(describeReplies(client.replies), '(nothing)', `${label}: expected no response`);
      } else if (expectation.kind === 'close') {
        const closed = await client.waitUntil(() => client.closed, CLOSE_TIMEOUT_MS);
        assert.ok(closed, `${label}: connection still open after ${CLOSE_TIMEOUT_MS} ms; got ${describeReplies(client.replies)}`);
        for (const reply of client.replies) {
          assert.equal(reply.status, 400, `${label}: only a 400 may precede the close, got ${describeReplies(client.replies)}`);
        }
      } else {
        const finalReply = () => client.replies.find((r) => r.status >= 200 || r.status < 0);
        const answered = await client.waitUntil(() => finalReply() !== undefined || client.closed, ANSWER_TIMEOUT_MS);
        const reply = finalReply();
        assert.ok(
          answered && reply,
          `${label}: no final response within ${ANSWER_TIMEOUT_MS} ms (got ${describeReplies(client.replies)}${client.closed ? ', connection closed' : ''})`,
        );
        // Be a well-behaved UAC: ACK a final response to an INVITE so its transaction ends.
        const requestUri = requestUriOf(original);
        if (methodOf(original) === 'INVITE' && reply.status >= 300 && requestUri && !client.closed) {
          const ack = ackFor(requestUri, reply);
          if (ack) await client.send(ack).catch(() => undefined);
        }
        assert.ok(expectation.codes.includes(reply.status), `${label}: expected ${expectation.codes.join(' or ')}, got ${reply.status} ${reply.reason}\n${reply.text}`);
        if (reply.status === 400) {
          assert.notEqual(reply.reason.trim().toLowerCase(), 'bad request', `${label}: the 400 reason phrase names no fault`);
          assert.ok(reply.reason.trim().length > 'Bad Request'.length, `${label}: the 400 reason phrase "${reply.reason}" names no fault`);
          if (spec.fault) assert.match(reply.reason, spec.fault, `${label}: the 400 reason phrase "${reply.reason}" does not name the fault`);
        }
        spec.check?.(reply, transport);
        // Every response to a request must carry its Call-ID when the request had one.
        const callId = /\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)/i.exec(original.toString('latin1'))?.[1]?.trim();
        if (callId && !/^multi01/.test(name)) assert.equal(reply.get('call-id'), callId, `${label}: Call-ID of the response`);
      }
      if (name === 'dblreq' && transport === 'UDP') {
        // RFC 4475 §3.1.1.8: the INVITE after the REGISTER's (empty) body is not a request.
        await client.waitUntil(() => false, SILENCE_WINDOW_MS);
        const others = client.replies.filter((r) => !/ REGISTER$/.test(r.get('cseq') ?? ''));
        assert.equal(describeReplies(others), '(nothing)', 'dblreq over UDP: the INVITE in the same datagram must not be answered');
      }
    } finally {
      await client.close();
    }
    await assertHealthy(transport, `${name} over ${transport}`);
  }

  it('covers all 49 torture messages', () => {
    assert.equal(tortureNames().length, 49);
    assert.deepEqual(tortureNames(), Object.keys(CASES).sort());
  });

  it('rewrites only the top Via sent-by', () => {
    const wsinv = rewriteTopViaSentBy(readTorture('wsinv'), HOST, 4242).toString('latin1');
    assert.match(wsinv, /Via {2}: SIP {2}\/ {3}2\.0\r\n \/UDP\r\n {4}127\.0\.0\.1:4242;branch=390skdjuw\r\n/);
    assert.match(wsinv, /spindle\.example\.com/);
    const badinv = rewriteTopViaSentBy(readTorture('badinv01'), HOST, 4242).toString('latin1');
    assert.match(badinv, /\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:4242;;,;,,\r\n/);
    const longreq = rewriteTopViaSentBy(readTorture('longreq'), HOST, 4242).toString('latin1');
    assert.match(longreq, /\r\nVia: SIP\/2\.0\/TCP 127\.0\.0\.1:4242\r\nv: SIP\/2\.0\/TCP sip32\.example\.com\r\n/);
    const original = readTorture('lwsruri');
    const rewritten = rewriteTopViaSentBy(original, HOST, 4242);
    assert.equal(rewritten.length - original.length, '127.0.0.1:4242'.length - '192.0.2.1:5060'.length);
  });

  // TCP first: see the note at the top of the file.
  for (const transport of ['TCP', 'UDP'] as const) {
    describe(`over ${transport}`, () => {
      for (const name of Object.keys(CASES).sort()) {
        const spec = CASES[name]!;
        const expectation = transport === 'TCP' ? (spec.tcp ?? spec.udp) : spec.udp;
        const what = expectation.kind === 'status' ? expectation.codes.join('/') : expectation.kind;
        it(`${name} → ${what}`, () => runCase(name, transport));
      }
    });
  }
});
