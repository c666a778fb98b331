import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { ensureCertificate } from '../../src/transport/certificate.js';
import type { TransportLayer } from '../../src/transport/transport-layer.js';
import { Inbox, portOf, sipRequest, startOnFreePorts } from './helpers.js';

describe('TLS transport', () => {
  let dir: string;
  let identity: { key: string; cert: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-tls-'));
    identity = await ensureCertificate(dir, ['localhost']);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('carries a request and its reply between two layers over the generated certificate', async () => {
    const aInbox = new Inbox();
    const bInbox = new Inbox();
    const layers: TransportLayer[] = [];
    try {
      const a = await startOnFreePorts({ bind: ['127.0.0.1'], tcp: false, tlsEnabled: true, tls: identity, onMessage: aInbox.onMessage });
      layers.push(a);
      const b = await startOnFreePorts({ bind: ['127.0.0.1'], tcp: false, tlsEnabled: true, tls: identity, onMessage: bInbox.onMessage });
      layers.push(b);
      assert.deepEqual(a.listeners().map((l) => l.transport), ['TLS']);

      const dest = { transport: 'TLS' as const, address: '127.0.0.1', port: portOf(b, 'TLS', '127.0.0.1') };
      const invite = sipRequest('INVITE', 'v=0\r\n');
      a.send(invite, dest);
      const [request] = await bInbox.waitFor(1);
      assert.deepEqual(request.data, invite);
      assert.equal(request.source.transport, 'TLS');

      b.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), request.source);
      const [reply] = await aInbox.waitFor(1);
      assert.equal(reply.data.toString(), 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
      assert.equal(reply.source.port, dest.port);
      assert.equal(a.isReliable('TLS'), true);
    } finally {
      await Promise.all(layers.map((l) => l.close()));
    }
  });

  it('presents a certificate a verifying client accepts for 127.0.0.1', async () => {
    const inbox = new Inbox();
    const layer = await startOnFreePorts({ bind: ['127.0.0.1'], tcp: false, tlsEnabled: true, tls: identity, onMessage: inbox.onMessage });
    try {
      const socket = connect({ host: '127.0.0.1', port: portOf(layer, 'TLS', '127.0.0.1'), ca: identity.cert });
      socket.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      assert.equal(socket.authorized, true);
      socket.write(sipRequest('OPTIONS'));
      const [got] = await inbox.waitFor(1);
      assert.equal(got.source.transport, 'TLS');
      socket.destroy();
    } finally {
      await layer.close();
    }
  });
});
