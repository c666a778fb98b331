import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TransportLayer } from '../../src/transport/transport-layer.js';
import { delay, Inbox, portOf, requireIpv6Loopback, sipRequest, startOnFreePorts } from './helpers.js';

/** A raw client that records what it reads and whether the server closed it. */
interface Client {
  socket: Socket;
  received(): string;
  closed: Promise<void>;
  waitForText(text: string, timeoutMs?: number): Promise<void>;
}

async function client(port: number, host = '127.0.0.1'): Promise<Client> {
  const socket = connect({ port, host });
  socket.setNoDelay(true);
  let text = '';
  socket.on('data', (chunk) => (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    socket,
    closed,
    received: () => text,
    async waitForText(expected, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (!text.includes(expected)) {
        if (Date.now() > deadline) throw new Error(`did not receive ${JSON.stringify(expected)}; got ${JSON.stringify(text)}`);
        await delay(5);
      }
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('TCP transport', () => {
  let inbox: Inbox;
  let layer: TransportLayer;
  let port: number;
  const warnings: string[] = [];

  before(async () => {
    inbox = new Inbox();
    layer = await startOnFreePorts({
      bind: ['127.0.0.1'],
      maxHeaderBytes: 1024,
      onMessage: inbox.onMessage,
      onLog: (level, msg) => {
        if (level === 'warn') warnings.push(msg);
      },
    });
    port = portOf(layer, 'TCP', '127.0.0.1');
  });

  after(async () => {
    await layer.close();
  });

  it('frames a message written one byte at a time', async () => {
    const c = await client(port);
    const invite = sipRequest('INVITE', 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n');
    for (let i = 0; i < invite.length; i++) {
      c.socket.write(invite.subarray(i, i + 1));
      if (i % 50 === 0) await delay(1);
    }
    const [got] = await inbox.waitFor(1);
    assert.deepEqual(got.data, invite);
    assert.equal(got.source.transport, 'TCP');
    assert.equal(got.source.address, '127.0.0.1');
    assert.equal(got.source.port, c.socket.localPort);
    assert.equal(typeof got.source.connectionId, 'number');
    c.socket.destroy();
    inbox.items.length = 0;
  });

  it('frames several messages from one write, with bodies and compact l:', async () => {
    const c = await client(port);
    const first = sipRequest('OPTIONS');
    const second = sipRequest('MESSAGE', 'hello world');
    const third = Buffer.from('INFO sip:a SIP/2.0\r\nl: 3\r\n\r\nabc');
    c.socket.write(Buffer.concat([first, second, third]));
    const got = await inbox.waitFor(3);
    assert.deepEqual(got.map((r) => r.data.toString()), [first, second, third].map((b) => b.toString()));
    assert.equal(new Set(got.map((r) => r.source.connectionId)).size, 1, 'one connection, one id');
    c.socket.destroy();
    inbox.items.length = 0;
  });

  it('answers a CRLFCRLF ping with CRLF and does not deliver it', async () => {
    const c = await client(port);
    c.socket.write('\r\n\r\n');
    await c.waitForText('\r\n');
    assert.equal(c.received(), '\r\n');
    c.socket.write(sipRequest('OPTIONS'));
    await inbox.waitFor(1);
    assert.equal(inbox.items.length, 1);
    c.socket.destroy();
    inbox.items.length = 0;
  });

  it('closes a connection whose header section exceeds the limit', async () => {
    const c = await client(port);
    c.socket.write('INVITE sip:a SIP/2.0\r\n' + 'X-Filler: 0123456789\r\n'.repeat(100));
    await withTimeout(c.closed, 2000, 'server closing the connection');
    assert.ok(warnings.some((w) => w.includes('header section exceeds 1024 bytes')), warnings.join('; '));
  });

  it('replies on the connection a request came in on, by id and by address', async () => {
    const c = await client(port);
    c.socket.write(sipRequest('REGISTER'));
    const [request] = await inbox.waitFor(1);
    layer.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), request.source);
    await c.waitForText('SIP/2.0 200 OK');
    const { connectionId: _, ...byAddress } = request.source;
    layer.send(Buffer.from('NOTIFY sip:c SIP/2.0\r\nContent-Length: 0\r\n\r\n'), byAddress);
    await c.waitForText('NOTIFY sip:c');
    assert.deepEqual(layer.localEndpointFor(request.source), { address: '127.0.0.1', port });
    assert.equal(layer.isReliable('TCP'), true);
    c.socket.destroy();
    inbox.items.length = 0;
  });

  it('closes idle connections', async () => {
    const idle = await startOnFreePorts({ bind: ['127.0.0.1'], idleTimeoutMs: 100, onMessage: () => undefined });
    try {
      const c = await client(portOf(idle, 'TCP', '127.0.0.1'));
      await withTimeout(c.closed, 2000, 'idle connection being closed');
    } finally {
      await idle.close();
    }
  });

  it('keeps framing after a consumer throws', async () => {
    const seen: string[] = [];
    const fragile = await startOnFreePorts({
      bind: ['127.0.0.1'],
      onMessage: (data) => {
        seen.push(data.toString());
        if (seen.length === 1) throw new Error('consumer bug');
      },
    });
    try {
      const c = await client(portOf(fragile, 'TCP', '127.0.0.1'));
      c.socket.write(Buffer.concat([sipRequest('OPTIONS'), sipRequest('INFO')]));
      const deadline = Date.now() + 2000;
      while (seen.length < 2 && Date.now() < deadline) await delay(5);
      assert.equal(seen.length, 2);
      c.socket.destroy();
    } finally {
      await fragile.close();
    }
  });
});

describe('TCP between two layers', () => {
  it('opens an outbound connection, reads the reply on it, and reuses it (IPv4 and IPv6)', async () => {
    requireIpv6Loopback();
    const aInbox = new Inbox();
    const bInbox = new Inbox();
    const a = await startOnFreePorts({ bind: ['127.0.0.1', '::1'], onMessage: aInbox.onMessage });
    const b = await startOnFreePorts({ bind: ['127.0.0.1', '::1'], onMessage: bInbox.onMessage });
    try {
      for (const [address, round] of [['127.0.0.1', 0], ['::1', 1]] as const) {
        const dest = { transport: 'TCP' as const, address, port: portOf(b, 'TCP', address) };
        a.send(sipRequest('INVITE'), dest);
        a.send(sipRequest('ACK'), dest);
        const atB = await bInbox.waitFor(2 * round + 2);
        const [invite, ack] = atB.slice(2 * round);
        assert.equal(invite.source.address, address);
        assert.equal(invite.source.connectionId, ack.source.connectionId, 'second request reused the connection');

        b.send(Buffer.from('SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n'), invite.source);
        const [reply] = (await aInbox.waitFor(round + 1)).slice(round);
        assert.equal(reply.data.toString(), 'SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n');
        assert.deepEqual({ ...reply.source, connectionId: undefined }, { ...dest, connectionId: undefined });
        assert.equal(typeof reply.source.connectionId, 'number');
        assert.deepEqual(a.localEndpointFor(dest), { address, port: portOf(a, 'TCP', address) });
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('logs a refused outbound connection', async () => {
    const warnings: string[] = [];
    const a = await startOnFreePorts({
      bind: ['127.0.0.1'],
      onMessage: () => undefined,
      onLog: (level, msg) => {
        if (level === 'warn') warnings.push(msg);
      },
    });
    const b = await startOnFreePorts({ bind: ['127.0.0.1'], onMessage: () => undefined });
    const deadPort = portOf(b, 'TCP', '127.0.0.1');
    await b.close();
    try {
      a.send(sipRequest('OPTIONS'), { transport: 'TCP', address: '127.0.0.1', port: deadPort });
      const deadline = Date.now() + 2000;
      while (warnings.length === 0 && Date.now() < deadline) await delay(5);
      assert.equal(warnings[0], `cannot connect to TCP 127.0.0.1:${deadPort}: connection refused`);
    } finally {
      await a.close();
    }
  });
});
