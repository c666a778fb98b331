import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { describe, it } from 'node:test';
import { ConnectionLimiter } from '../../src/transport/connection-limits.js';
import { ensureCertificate } from '../../src/transport/certificate.js';
import type { TransportLayer } from '../../src/transport/transport-layer.js';
import { delay, Inbox, portOf, sipRequest, startOnFreePorts } from './helpers.js';

interface Attempt {
  socket: Socket;
  outcome: 'admitted' | 'refused';
}

/**
 * Connects from `from` (any 127/8 address is loopback on Linux), sends a request with a unique
 * Call-ID, and reports whether the layer delivered it (admitted) or closed the socket (refused).
 */
async function attempt(inbox: Inbox, port: number, from: string, tls = false): Promise<Attempt> {
  const tag = `limit-${Math.random().toString(36).slice(2)}`;
  const options = { host: '127.0.0.1', port, localAddress: from };
  const socket: Socket = tls ? connectTls({ ...options, rejectUnauthorized: false }) : connectTcp(options);
  socket.on('error', () => undefined);
  const closed = new Promise<'refused'>((resolve) => socket.once('close', () => resolve('refused')));
  socket.once(tls ? 'secureConnect' : 'connect', () => socket.write(sipRequest('OPTIONS', '', [`X-Tag: ${tag}`])));
  const delivered = (async (): Promise<'admitted' | 'refused'> => {
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      if (inbox.items.some((r) => r.data.toString().includes(tag))) return 'admitted';
      await delay(5);
    }
    return 'refused';
  })();
  const outcome = await Promise.race([closed, delivered]);
  return { socket, outcome };
}

/** The layer sees a client's close a moment later; retry (bounded) until the freed slot is usable. */
async function attemptUntilAdmitted(inbox: Inbox, port: number, from: string): Promise<Attempt> {
  for (let i = 0; i < 50; i++) {
    const a = await attempt(inbox, port, from);
    if (a.outcome === 'admitted') return a;
    a.socket.destroy();
    await delay(20);
  }
  throw new Error(`no connection from ${from} was admitted again`);
}

describe('ConnectionLimiter', () => {
  it('caps per address and in total, frees on release, and logs one warning per 10 s', () => {
    let now = 0;
    const warnings: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
    const limiter = new ConnectionLimiter(
      { maxConnections: 3, maxConnectionsPerIp: 2 },
      (level, msg, fields) => {
        if (level === 'warn') warnings.push({ msg, fields });
      },
      () => now,
    );
    assert.equal(limiter.admit('192.0.2.1', 'TCP'), true);
    assert.equal(limiter.admit('192.0.2.1', 'TCP'), true);
    assert.equal(limiter.admit('192.0.2.1', 'TLS'), false);
    assert.equal(limiter.admit('192.0.2.2', 'TCP'), true);
    assert.equal(limiter.admit('192.0.2.3', 'TCP'), false);
    assert.equal(limiter.admit('192.0.2.3', 'TCP'), false);
    assert.deepEqual(limiter.counts(), { total: 3, addresses: 2 });
    assert.deepEqual(warnings, [
      { msg: 'refused TLS connection from 192.0.2.1: 2 inbound connections from 192.0.2.1 are open', fields: { address: '192.0.2.1' } },
    ]);
    now = 10_000;
    assert.equal(limiter.admit('192.0.2.3', 'TCP'), false);
    assert.deepEqual(warnings[1], {
      msg: 'refused TCP connection from 192.0.2.3: 3 inbound connections are open',
      fields: { address: '192.0.2.3', suppressed: 2 },
    });
    limiter.release('192.0.2.1');
    assert.equal(limiter.admit('192.0.2.3', 'TCP'), true);
    limiter.release('192.0.2.2');
    limiter.release('192.0.2.1');
    limiter.release('192.0.2.1');
    limiter.release('192.0.2.3');
    assert.deepEqual(limiter.counts(), { total: 0, addresses: 0 });
  });
});

describe('TCP/TLS connection limits', () => {
  it('rejects the rejected socket at once, per source IP and in total, and admits again once one closes', async () => {
    const inbox = new Inbox();
    const warnings: string[] = [];
    const layer = await startOnFreePorts({
      bind: ['127.0.0.1'],
      maxConnections: 3,
      maxConnectionsPerIp: 2,
      onMessage: inbox.onMessage,
      onLog: (level, msg) => {
        if (level === 'warn') warnings.push(msg);
      },
    });
    const sockets: Socket[] = [];
    try {
      const port = portOf(layer, 'TCP', '127.0.0.1');
      const run = async (from: string): Promise<string> => {
        const a = await attempt(inbox, port, from);
        sockets.push(a.socket);
        return a.outcome;
      };
      assert.equal(await run('127.0.0.1'), 'admitted');
      assert.equal(await run('127.0.0.1'), 'admitted');
      assert.equal(await run('127.0.0.1'), 'refused', 'third from one IP');
      assert.equal(await run('127.0.0.2'), 'admitted');
      assert.equal(await run('127.0.0.3'), 'refused', 'fourth in total');
      assert.equal(await run('127.0.0.3'), 'refused');
      assert.deepEqual(warnings, [`refused TCP connection from 127.0.0.1: 2 inbound connections from 127.0.0.1 are open`]);

      sockets[0].destroy();
      const again = await attemptUntilAdmitted(inbox, port, '127.0.0.3');
      sockets.push(again.socket);
      assert.equal(await run('127.0.0.4'), 'refused', 'the total is full again');
    } finally {
      for (const s of sockets) s.destroy();
      await layer.close();
    }
  });

  it('counts TLS connections before the handshake, together with TCP', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-limits-'));
    const inbox = new Inbox();
    const sockets: Socket[] = [];
    let layer: TransportLayer | undefined;
    try {
      const identity = await ensureCertificate(dir, ['localhost']);
      layer = await startOnFreePorts({
        bind: ['127.0.0.1'],
        tlsEnabled: true,
        tls: identity,
        maxConnectionsPerIp: 1,
        onMessage: inbox.onMessage,
      });
      const tcpPort = portOf(layer, 'TCP', '127.0.0.1');
      const tlsPort = portOf(layer, 'TLS', '127.0.0.1');
      const first = await attempt(inbox, tlsPort, '127.0.0.5', true);
      sockets.push(first.socket);
      assert.equal(first.outcome, 'admitted');
      const overTcp = await attempt(inbox, tcpPort, '127.0.0.5');
      sockets.push(overTcp.socket);
      assert.equal(overTcp.outcome, 'refused');
      // a socket that never starts its handshake still holds its slot
      const silent = connectTcp({ host: '127.0.0.1', port: tlsPort, localAddress: '127.0.0.6' });
      silent.on('error', () => undefined);
      sockets.push(silent);
      await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
      await delay(50);
      const second = await attempt(inbox, tlsPort, '127.0.0.6', true);
      sockets.push(second.socket);
      assert.equal(second.outcome, 'refused');
      assert.equal(silent.destroyed, false, 'the first socket from 127.0.0.6 stays open');
    } finally {
      for (const s of sockets) s.destroy();
      await layer?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects limits that are not positive integers', async () => {
    await assert.rejects(startOnFreePorts({ bind: ['127.0.0.1'], maxConnectionsPerIp: 0, onMessage: () => undefined }), /maxConnectionsPerIp must be a positive integer, got 0/);
  });
});
