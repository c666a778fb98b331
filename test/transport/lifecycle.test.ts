import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { TransportLayer } from '../../src/transport/transport-layer.js';
import { portOf, probeFreePort, startOnFreePorts } from './helpers.js';

describe('TransportLayer lifecycle', () => {
  it('rejects with a one-line error when the UDP port is taken', async () => {
    const blocker = createSocket('udp4');
    await new Promise<void>((resolve) => blocker.bind(0, '127.0.0.1', resolve));
    const port = blocker.address().port;
    try {
      await assert.rejects(TransportLayer.start({ bind: ['127.0.0.1'], sipPort: port, tlsPort: 0, onMessage: () => undefined }), {
        message: `cannot listen on UDP 127.0.0.1:${port}: address already in use`,
      });
    } finally {
      blocker.close();
    }
  });

  it('rejects with a one-line error when the TCP port is taken, releasing the UDP port', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '::1', resolve));
    const bound = blocker.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : 0;
    try {
      await assert.rejects(TransportLayer.start({ bind: ['::1'], sipPort: port, tlsPort: 0, onMessage: () => undefined }), {
        message: `cannot listen on TCP [::1]:${port}: address already in use`,
      });
      const udp = createSocket('udp6');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, '::1', resolve);
      });
      udp.close();
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('rejects bad options with one-line errors', async () => {
    const onMessage = (): void => undefined;
    await assert.rejects(TransportLayer.start({ bind: [], sipPort: 5060, tlsPort: 0, onMessage }), {
      message: 'no address to listen on: bind is empty',
    });
    await assert.rejects(TransportLayer.start({ bind: ['localhost'], sipPort: 5060, tlsPort: 0, onMessage }), {
      message: 'cannot listen on "localhost": not an IP address',
    });
    await assert.rejects(TransportLayer.start({ bind: ['127.0.0.1'], sipPort: 0, tlsPort: 5061, onMessage }), {
      message: 'TLS needs a key and a certificate (tls option)',
    });
    const port = await probeFreePort('127.0.0.1');
    await assert.rejects(
      TransportLayer.start({ bind: ['127.0.0.1'], sipPort: 0, tlsPort: port, tls: { key: 'nope', cert: 'nope' }, onMessage }),
      (err: Error) => err.message.startsWith(`cannot listen on TLS 127.0.0.1:${port}: invalid key or certificate`) && !err.message.includes('\n'),
    );
  });

  it('reports its listeners and releases the ports on close', async () => {
    const layer = await startOnFreePorts({ bind: ['127.0.0.1'], onMessage: () => undefined });
    const port = portOf(layer, 'UDP', '127.0.0.1');
    assert.deepEqual(layer.listeners(), [
      { transport: 'UDP', address: '127.0.0.1', port },
      { transport: 'TCP', address: '127.0.0.1', port },
    ]);
    await layer.close();
    const again = await TransportLayer.start({ bind: ['127.0.0.1'], sipPort: port, tlsPort: 0, onMessage: () => undefined });
    await again.close();
  });
});
