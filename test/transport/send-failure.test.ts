import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Endpoint } from '../../src/sip/message.js';
import { serialize } from '../../src/sip/serializer.js';
import { TransactionLayer } from '../../src/transaction/layer.js';
import { ensureCertificate } from '../../src/transport/certificate.js';
import type { TransportLayer } from '../../src/transport/transport-layer.js';
import { FakeClock } from '../support/fake-clock.js';
import { recordingUser, request } from '../transaction/harness.js';
import { delay, Inbox, portOf, probeFreePort, sipRequest, startOnFreePorts } from './helpers.js';

interface Failure {
  dest: Endpoint;
  err: Error;
  at: number;
}

function failureLog(): { failures: Failure[]; onSendFailure: (dest: Endpoint, err: Error) => void; waitFor(n: number): Promise<void> } {
  const failures: Failure[] = [];
  return {
    failures,
    onSendFailure: (dest, err) => void failures.push({ dest, err, at: Date.now() }),
    async waitFor(n) {
      const deadline = Date.now() + 2000;
      while (failures.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} send failures within 2 s, got ${failures.length}`);
        await delay(5);
      }
    },
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const bound = server.address();
      resolve(typeof bound === 'object' && bound !== null ? bound.port : 0);
    });
  });
}

describe('stream send failures (onSendFailure)', () => {
  it('reports a refused outbound TCP connection promptly, naming the connection', async () => {
    const log = failureLog();
    const layer = await startOnFreePorts({ bind: ['127.0.0.1'], onMessage: () => undefined, onSendFailure: log.onSendFailure });
    try {
      const deadPort = await probeFreePort('127.0.0.1');
      const started = Date.now();
      layer.send(sipRequest('INVITE'), { transport: 'TCP', address: '127.0.0.1', port: deadPort });
      layer.send(sipRequest('INVITE'), { transport: 'TCP', address: '127.0.0.1', port: deadPort });
      await log.waitFor(1);
      await delay(50);
      assert.equal(log.failures.length, 1, 'both writes were queued on one connection, which fails once');
      const [failure] = log.failures;
      assert.ok(failure.at - started < 1000, `reported after ${failure.at - started} ms`);
      assert.equal(failure.dest.transport, 'TCP');
      assert.equal(failure.dest.address, '127.0.0.1');
      assert.equal(failure.dest.port, deadPort);
      assert.equal(typeof failure.dest.connectionId, 'number');
      assert.equal(failure.err.message, `cannot connect to TCP 127.0.0.1:${deadPort}: connection refused`);
    } finally {
      await layer.close();
    }
  });

  it('reports a TLS connection whose handshake fails', async () => {
    const log = failureLog();
    const plain = createServer((socket) => socket.destroy());
    const port = await listen(plain);
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-sendfail-'));
    let layer: TransportLayer | undefined;
    try {
      const identity = await ensureCertificate(dir, ['localhost']);
      layer = await startOnFreePorts({ bind: ['127.0.0.1'], tcp: false, tlsEnabled: true, tls: identity, onMessage: () => undefined, onSendFailure: log.onSendFailure });
      layer.send(sipRequest('OPTIONS'), { transport: 'TLS', address: '127.0.0.1', port });
      await log.waitFor(1);
      assert.equal(log.failures[0].dest.transport, 'TLS');
      assert.equal(log.failures[0].dest.port, port);
      assert.match(log.failures[0].err.message, new RegExp(`^cannot connect to TLS 127\\.0\\.0\\.1:${port}: `));
    } finally {
      await layer?.close();
      plain.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports nothing when delivered connections close, nor on transport shutdown', async () => {
    const log = failureLog();
    const bInbox = new Inbox();
    const a = await startOnFreePorts({ bind: ['127.0.0.1'], onMessage: () => undefined, onSendFailure: log.onSendFailure });
    const b = await startOnFreePorts({ bind: ['127.0.0.1'], onMessage: bInbox.onMessage, onSendFailure: log.onSendFailure });
    // an outbound connection that delivered and stays open until shutdown, an inbound one the peer
    // closes, and an outbound one still connecting at shutdown
    try {
      a.send(sipRequest('OPTIONS'), { transport: 'TCP', address: '127.0.0.1', port: portOf(b, 'TCP', '127.0.0.1') });
      await bInbox.waitFor(1);
      const c = connect({ host: '127.0.0.1', port: portOf(a, 'TCP', '127.0.0.1') });
      c.on('error', () => undefined);
      await new Promise<void>((resolve) => c.once('connect', () => resolve()));
      c.destroy();
      await delay(50);
      // still connecting when the transport shuts down
      a.send(sipRequest('OPTIONS'), { transport: 'TCP', address: '127.0.0.1', port: await probeFreePort('127.0.0.1') });
    } finally {
      await a.close();
      await b.close();
    }
    await delay(50);
    assert.deepEqual(log.failures, []);
  });

  it('ends an INVITE client transaction on a refused connection long before Timer B', async () => {
    const clock = new FakeClock();
    const user = recordingUser();
    let transport: TransportLayer | undefined;
    const transactions = new TransactionLayer({
      clock,
      timers: () => ({ T1: 500, T2: 4000, T4: 5000 }),
      encode: serialize,
      send: (data, dest) => transport?.send(data, dest),
      isReliable: (t) => t !== 'UDP',
      onRequest: () => undefined,
      onAck: () => undefined,
      onStrayResponse: () => undefined,
    });
    transport = await startOnFreePorts({
      bind: ['127.0.0.1'],
      onMessage: () => undefined,
      onSendFailure: (dest, err) => transactions.transportFailed(dest, err),
    });
    try {
      const deadPort = await probeFreePort('127.0.0.1');
      const tx = transactions.sendRequest(request({ transport: 'TCP' }), { transport: 'TCP', address: '127.0.0.1', port: deadPort }, user);
      const deadline = Date.now() + 2000;
      while (user.errors.length === 0 && Date.now() < deadline) await delay(5);
      assert.equal(user.errors.length, 1);
      assert.match(user.errors[0].message, /connection refused/);
      assert.equal(tx.state, 'Terminated');
      assert.equal(clock.now(), 0, 'no fake time passed: Timer B did not do it');
      assert.equal(user.timeouts, 0);
      assert.deepEqual(transactions.count(), { client: 0, server: 0 });
    } finally {
      transactions.shutdown();
      await transport.close();
    }
  });
});

describe('responses after the request connection closed (RFC 3261 §18.2.2)', () => {
  it('go to the source address and the fallback (Via sent-by) port, not the ephemeral source port', async () => {
    const inbox = new Inbox();
    // closes idle connections itself, so the test knows when the request connection is gone
    const layer = await startOnFreePorts({ bind: ['127.0.0.1'], idleTimeoutMs: 150, onMessage: inbox.onMessage });
    const received: string[] = [];
    const accepted: Socket[] = [];
    const listener = createServer((socket) => {
      accepted.push(socket);
      socket.on('data', (chunk) => received.push(chunk.toString('latin1')));
    });
    const sentByPort = await listen(listener);
    try {
      const client = connect({ host: '127.0.0.1', port: portOf(layer, 'TCP', '127.0.0.1') });
      client.on('error', () => undefined);
      const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      client.write(sipRequest('OPTIONS'));
      const [req] = await inbox.waitFor(1);
      await clientClosed; // the layer closed it as idle
      const ephemeral = req.source.port;
      assert.notEqual(ephemeral, sentByPort);

      layer.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), { ...req.source, fallbackPort: sentByPort });
      const deadline = Date.now() + 2000;
      while (!received.join('').includes('SIP/2.0 200 OK') && Date.now() < deadline) await delay(5);
      assert.equal(received.join(''), 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
      assert.equal(accepted.length, 1);
      assert.equal(accepted[0].remoteAddress, '127.0.0.1');
    } finally {
      for (const s of accepted) s.destroy();
      listener.close();
      await layer.close();
    }
  });

  it('still use the open request connection when it is alive', async () => {
    const inbox = new Inbox();
    const layer = await startOnFreePorts({ bind: ['127.0.0.1'], onMessage: inbox.onMessage });
    let accepted = 0;
    const listener = createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    const sentByPort = await listen(listener);
    const client = connect({ host: '127.0.0.1', port: portOf(layer, 'TCP', '127.0.0.1') });
    client.on('error', () => undefined);
    let text = '';
    client.on('data', (chunk) => (text += chunk.toString('latin1')));
    try {
      client.write(sipRequest('OPTIONS'));
      const [req] = await inbox.waitFor(1);
      layer.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), { ...req.source, fallbackPort: sentByPort });
      const deadline = Date.now() + 2000;
      while (!text.includes('200 OK') && Date.now() < deadline) await delay(5);
      assert.equal(text, 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
      assert.equal(accepted, 0);
    } finally {
      client.destroy();
      listener.close();
      await layer.close();
    }
  });
});
