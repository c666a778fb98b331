// The Node-socket engine keeps the promise the native one keeps: a throwing media handler costs one
// packet, not the process.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, it } from 'node:test';
import { NodeRelayEngine } from '../../src/media/relay/node-relay-engine.js';
import { FakeClock } from '../support/fake-clock.js';
import { freeConsecutivePorts } from '../support/ports.js';
import { rtpPacket } from '../support/rtp-test-packets.js';

describe('Node relay engine', () => {
  const sockets: dgram.Socket[] = [];
  after(() => sockets.forEach((s) => s.close()));

  it('a handler that throws loses that packet only: the error is reported and delivery goes on', async () => {
    let first = await freeConsecutivePorts(6);
    first += first % 2;
    const reported: unknown[] = [];
    const engine = new NodeRelayEngine(first, first + 3, new FakeClock(0), 1000, (err) => reported.push(err));
    try {
      const leg = await engine.openLeg(4);
      assert.ok(leg);
      const phone = dgram.createSocket('udp4');
      sockets.push(phone);
      await new Promise<void>((resolve) => phone.bind(0, '127.0.0.1', resolve));
      leg.setSignalling({ address: '127.0.0.1', port: phone.address().port, rtcpPort: phone.address().port + 1, signallingAddress: '127.0.0.1' });
      const heard: number[] = [];
      leg.onRtp = (packet) => {
        const seq = packet.readUInt16BE(2);
        if (seq === 2) throw new Error('a bug in one call\'s media code');
        heard.push(seq);
      };
      for (const seq of [1, 2, 3]) {
        await new Promise<void>((resolve) => phone.send(rtpPacket(0, seq, seq * 160, new Uint8Array(160)), leg.rtpPort, '127.0.0.1', () => resolve()));
      }
      for (let i = 0; i < 200 && heard.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(heard, [1, 3]);
      assert.equal(reported.length, 1);
      assert.match(String(reported[0]), /a bug in one call/);
    } finally {
      await engine.close();
    }
  });
});
