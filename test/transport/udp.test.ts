import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { routeSourceAddress } from '../../src/transport/local-address.js';
import type { TransportLayer } from '../../src/transport/transport-layer.js';
import { Inbox, portOf, requireIpv6Loopback, startOnFreePorts } from './helpers.js';

interface Peer {
  socket: Socket;
  port: number;
  next(timeoutMs?: number): Promise<{ data: string; from: RemoteInfo }>;
}

async function peer(type: 'udp4' | 'udp6', address: string): Promise<Peer> {
  const socket = createSocket(type);
  const queue: Array<{ data: string; from: RemoteInfo }> = [];
  socket.on('message', (data, from) => queue.push({ data: data.toString(), from }));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return {
    socket,
    port: socket.address().port,
    async next(timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0) {
        if (Date.now() > deadline) throw new Error('no datagram received');
        await new Promise((r) => setTimeout(r, 5));
      }
      return queue.shift() as { data: string; from: RemoteInfo };
    },
  };
}

function sendTo(socket: Socket, text: string, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => socket.send(text, port, address, (err) => (err ? reject(err) : resolve())));
}

describe('UDP transport', () => {
  const inbox = new Inbox();
  let layer: TransportLayer;
  let v4: Peer;
  let v6: Peer;

  before(async () => {
    requireIpv6Loopback();
    layer = await startOnFreePorts({ bind: ['127.0.0.1', '::1'], onMessage: inbox.onMessage });
    v4 = await peer('udp4', '127.0.0.1');
    v6 = await peer('udp6', '::1');
  });

  after(async () => {
    v4?.socket.close();
    v6?.socket.close();
    await layer?.close();
  });

  it('receives IPv4 and IPv6 datagrams with their source, ignoring CRLF keep-alives', async () => {
    await sendTo(v4.socket, '\r\n\r\n', portOf(layer, 'UDP', '127.0.0.1'), '127.0.0.1');
    await sendTo(v4.socket, 'OPTIONS sip:a SIP/2.0\r\n\r\n', portOf(layer, 'UDP', '127.0.0.1'), '127.0.0.1');
    await sendTo(v6.socket, '\r\n', portOf(layer, 'UDP', '::1'), '::1');
    await sendTo(v6.socket, 'INFO sip:a SIP/2.0\r\n\r\n', portOf(layer, 'UDP', '::1'), '::1');
    const got = await inbox.waitFor(2);
    const byText = new Map(got.map((r) => [r.data.toString(), r.source]));
    assert.deepEqual(byText.get('OPTIONS sip:a SIP/2.0\r\n\r\n'), { transport: 'UDP', address: '127.0.0.1', port: v4.port });
    assert.deepEqual(byText.get('INFO sip:a SIP/2.0\r\n\r\n'), { transport: 'UDP', address: '::1', port: v6.port });
    assert.equal(inbox.items.length, 2, 'keep-alives are not delivered');
  });

  it('sends from the SIP port of the destination family', async () => {
    layer.send(Buffer.from('SIP/2.0 200 OK\r\n\r\n'), { transport: 'UDP', address: '127.0.0.1', port: v4.port });
    layer.send(Buffer.from('SIP/2.0 202 Accepted\r\n\r\n'), { transport: 'UDP', address: '::1', port: v6.port });
    const at4 = await v4.next();
    const at6 = await v6.next();
    assert.equal(at4.data, 'SIP/2.0 200 OK\r\n\r\n');
    assert.equal(at4.from.port, portOf(layer, 'UDP', '127.0.0.1'));
    assert.equal(at6.data, 'SIP/2.0 202 Accepted\r\n\r\n');
    assert.equal(at6.from.address, '::1');
    assert.equal(at6.from.port, portOf(layer, 'UDP', '::1'));
  });

  it('advertises the listener address and port', () => {
    assert.deepEqual(layer.localEndpointFor({ transport: 'UDP', address: '::1', port: 5060 }), {
      address: '::1',
      port: portOf(layer, 'UDP', '::1'),
    });
    assert.equal(layer.isReliable('UDP'), false);
  });

  it('throws a clear error when no socket serves the destination', async () => {
    const v4only = await startOnFreePorts({ bind: ['127.0.0.1'], onMessage: () => undefined });
    try {
      assert.throws(() => v4only.send(Buffer.from('x'), { transport: 'UDP', address: '::1', port: 5060 }), {
        message: 'no UDP listener for IPv6 destination ::1',
      });
      assert.throws(() => v4only.send(Buffer.from('x'), { transport: 'UDP', address: 'example.com', port: 5060 }), {
        message: 'destination must be an IP address, got "example.com"',
      });
      assert.throws(() => v4only.send(Buffer.from('x'), { transport: 'TCP', address: '127.0.0.1', port: 70000 }), {
        message: 'destination port must be 1..65535, got 70000',
      });
      assert.throws(() => v4only.send(Buffer.from('x'), { transport: 'TLS', address: '127.0.0.1', port: 5061 }), {
        message: 'transport TLS is not enabled',
      });
    } finally {
      await v4only.close();
    }
  });

  it('reports send failures through the log instead of throwing later', async () => {
    const warnings: string[] = [];
    const quiet = await startOnFreePorts({
      bind: ['127.0.0.1'],
      onMessage: () => undefined,
      onLog: (level, msg) => {
        if (level === 'warn') warnings.push(msg);
      },
    });
    try {
      quiet.send(Buffer.alloc(70_000), { transport: 'UDP', address: '127.0.0.1', port: 9 });
      const deadline = Date.now() + 2000;
      while (warnings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.match(warnings[0] ?? '', /^UDP send to 127\.0\.0\.1:9 failed: /);
    } finally {
      await quiet.close();
    }
  });
});

describe('source address for wildcard listeners', () => {
  it('uses the loopback address for loopback destinations', () => {
    requireIpv6Loopback();
    assert.equal(routeSourceAddress('127.0.0.1', 4), '127.0.0.1');
    assert.equal(routeSourceAddress('::1', 6), '::1');
  });
});
