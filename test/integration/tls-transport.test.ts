// SIP over TLS against the real server: a node:tls client sends OPTIONS on the TLS port and gets
// 200, the certificate it is shown is the one in <data-dir>/tls/, and that identity survives a restart.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import tls from 'node:tls';
import { startSwitchboard, type Switchboard } from '../support/server.js';

const HOST = '127.0.0.1';
const ANSWER_TIMEOUT_MS = 5_000;

const servers = new Set<Switchboard>();
const directories = new Set<string>();

after(async () => {
  await Promise.all([...servers].map((s) => s.stop('SIGKILL').catch(() => 0)));
  await Promise.all([...directories].map((d) => rm(d, { recursive: true, force: true })));
});

async function launch(dataDir: string): Promise<Switchboard> {
  const server = await startSwitchboard({ dataDir });
  servers.add(server);
  return server;
}

async function stop(server: Switchboard): Promise<number> {
  servers.delete(server);
  return server.stop('SIGTERM');
}

interface SipAnswer {
  statusLine: string;
  headers: Map<string, string[]>;
  raw: string;
}

/** Splits one complete SIP message off the front of `buffer`, or returns undefined when it is not all there yet. */
function takeMessage(buffer: string): { message: SipAnswer; rest: string } | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buffer.slice(0, end);
  const lines = head.split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const length = Number((headers.get('content-length') ?? headers.get('l') ?? ['0'])[0]);
  const total = end + 4 + (Number.isFinite(length) ? length : 0);
  if (buffer.length < total) return undefined;
  return { message: { statusLine: lines[0]!, headers, raw: buffer.slice(0, total) }, rest: buffer.slice(total) };
}

/** A TLS connection that yields SIP messages one at a time. */
class SipTlsClient {
  private buffer = '';
  private readonly queue: SipAnswer[] = [];
  private waiter: (() => void) | undefined;
  private closed: Error | undefined;

  private constructor(readonly socket: tls.TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let taken = takeMessage(this.buffer); taken; taken = takeMessage(this.buffer)) {
        this.queue.push(taken.message);
        this.buffer = taken.rest;
      }
      this.waiter?.();
    });
    socket.on('close', () => { this.closed ??= new Error('connection closed'); this.waiter?.(); });
    socket.on('error', (error) => { this.closed = error; this.waiter?.(); });
  }

  static connect(port: number, options: tls.ConnectionOptions = { rejectUnauthorized: false }): Promise<SipTlsClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: HOST, port, ...options });
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no TLS handshake on port ${port}`)); }, ANSWER_TIMEOUT_MS);
      socket.once('secureConnect', () => { clearTimeout(timer); resolve(new SipTlsClient(socket)); });
      socket.once('error', (error) => { clearTimeout(timer); reject(error); });
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async next(): Promise<SipAnswer> {
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    while (this.queue.length === 0) {
      if (this.closed) throw this.closed;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SIP message within ${ANSWER_TIMEOUT_MS} ms; have ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(timer); resolve(); };
      });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }

  /** The next final response, skipping provisional ones. */
  async nextFinal(): Promise<SipAnswer> {
    for (let i = 0; i < 10; i++) {
      const message = await this.next();
      if (!/^SIP\/2\.0 1\d\d /.test(message.statusLine)) return message;
    }
    throw new Error('too many provisional responses');
  }

  close(): void {
    this.socket.destroy();
  }
}

function options(targetPort: number, localPort: number, callId: string, cseq: number, branch: string): string {
  return [
    `OPTIONS sip:${HOST}:${targetPort};transport=tls SIP/2.0`,
    `Via: SIP/2.0/TLS ${HOST}:${localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:tls-test@${HOST}>;tag=${callId.slice(0, 10)}`,
    `To: <sip:${HOST}:${targetPort}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} OPTIONS`,
    `Contact: <sip:tls-test@${HOST}:${localPort};transport=tls>`,
    'Accept: application/sdp',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const token = () => randomBytes(8).toString('hex');

describe('SIP over TLS', { timeout: 90_000 }, () => {
  it('answers OPTIONS on the TLS port with 200, echoing the transaction, on one reused connection', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-tls-'));
    directories.add(dataDir);
    const server = await launch(dataDir);
    const client = await SipTlsClient.connect(server.tlsPort);
    try {
      const localPort = client.socket.localPort ?? 0;
      const callId = `tls-${token()}`;
      for (const cseq of [1, 2]) {
        const branch = `z9hG4bK-${token()}`;
        client.send(options(server.tlsPort, localPort, callId, cseq, branch));
        const answer = await client.nextFinal();
        assert.match(answer.statusLine, /^SIP\/2\.0 200 /, answer.raw);
        assert.deepEqual(answer.headers.get('call-id'), [callId], answer.raw);
        assert.deepEqual(answer.headers.get('cseq'), [`${cseq} OPTIONS`], answer.raw);
        const via = answer.headers.get('via') ?? [];
        assert.equal(via.length, 1, answer.raw);
        assert.match(via[0]!, /^SIP\/2\.0\/TLS /i, answer.raw);
        assert.ok(via[0]!.includes(`branch=${branch}`), answer.raw);
        assert.match(answer.headers.get('to')?.[0] ?? '', /;tag=/, 'a 200 to OPTIONS carries a To tag');
        assert.match((answer.headers.get('allow') ?? []).join(','), /\bINVITE\b/, answer.raw);
      }
      assert.equal(client.socket.destroyed, false, 'the server keeps the connection open after answering');
    } finally {
      client.close();
      assert.equal(await stop(server), 0, server.output());
    }
  });

  it('keeps its key and self-signed certificate in <data-dir>/tls/, presents it, and keeps it across restarts', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-tls-'));
    directories.add(dataDir);
    const certPath = path.join(dataDir, 'tls', 'cert.pem');
    const keyPath = path.join(dataDir, 'tls', 'key.pem');
    assert.ok(!existsSync(certPath));

    const first = await launch(dataDir);
    let presented: X509Certificate;
    try {
      assert.ok(existsSync(certPath), `${certPath} written on first start`);
      assert.ok(existsSync(keyPath), `${keyPath} written on first start`);
      const cert = new X509Certificate(await readFile(certPath));
      const key = createPrivateKey(await readFile(keyPath));
      assert.ok(cert.checkPrivateKey(key), 'key.pem belongs to cert.pem');
      assert.equal((await stat(keyPath)).mode & 0o077, 0, 'the private key is readable by its owner only');
      assert.equal(cert.checkIP(HOST), HOST, `certificate names ${HOST}: ${cert.subjectAltName}`);
      assert.ok(new Date(cert.validTo).getTime() > Date.now() + 365 * 24 * 3600 * 1000, `valid for more than a year: ${cert.validTo}`);

      const client = await SipTlsClient.connect(first.tlsPort);
      try {
        const peer = client.socket.getPeerX509Certificate();
        assert.ok(peer, 'the server presents a certificate');
        assert.equal(peer.fingerprint256, cert.fingerprint256, 'the TLS port presents cert.pem');
      } finally {
        client.close();
      }

      // A client that trusts exactly this certificate verifies the server by its IP address.
      const verified = await SipTlsClient.connect(first.tlsPort, { ca: cert.toString(), rejectUnauthorized: true });
      try {
        assert.equal(verified.socket.authorized, true, String(verified.socket.authorizationError));
        const branch = `z9hG4bK-${token()}`;
        verified.send(options(first.tlsPort, verified.socket.localPort ?? 0, `tls-${token()}`, 1, branch));
        assert.match((await verified.nextFinal()).statusLine, /^SIP\/2\.0 200 /);
      } finally {
        verified.close();
      }
      presented = cert;
    } finally {
      assert.equal(await stop(first), 0, first.output());
    }

    // Restarting on the same data dir reuses the files instead of generating a new identity.
    const second = await launch(dataDir);
    try {
      const again = new X509Certificate(await readFile(certPath));
      assert.equal(again.fingerprint256, presented.fingerprint256, 'cert.pem unchanged across restarts');
      const client = await SipTlsClient.connect(second.tlsPort);
      try {
        assert.equal(client.socket.getPeerX509Certificate()?.fingerprint256, presented.fingerprint256);
      } finally {
        client.close();
      }
    } finally {
      assert.equal(await stop(second), 0, second.output());
    }
  });
});
