import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from '../../src/sip/message.js';
import { harness, recordingUser, request, response, sendTimes } from './harness.js';

const UDP_DEST: Endpoint = { transport: 'UDP', address: '198.51.100.5', port: 5060 };
const TCP_DEST: Endpoint = { transport: 'TCP', address: '198.51.100.5', port: 5060, connectionId: 3 };

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('retransmits with Timer E doubling and capped at T2, then Timer F times out at 64*T1', () => {
    const h = harness();
    const user = recordingUser();
    const tx = h.layer.sendRequest(request({ method: 'OPTIONS' }), UDP_DEST, user);
    assert.equal(tx.state, 'Trying');
    h.clock.advance(31_999);
    assert.deepEqual(sendTimes(h.sent), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert.equal(user.timeouts, 0);
    h.clock.advance(1);
    assert.equal(user.timeouts, 1);
    assert.equal(tx.state, 'Terminated');
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
  });

  it('retransmits every T2 once Proceeding, and Timer F still applies', () => {
    const h = harness();
    const user = recordingUser();
    const req = request({ method: 'BYE' });
    const tx = h.layer.sendRequest(req, UDP_DEST, user);
    h.clock.advance(600);
    h.layer.receive(response(req, 100));
    assert.equal(tx.state, 'Proceeding');
    h.layer.receive(response(req, 180));
    h.clock.advance(31_399);
    // 1500 was already scheduled when the provisional came; from then on T2 apart
    assert.deepEqual(sendTimes(h.sent), [0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]);
    assert.deepEqual(user.responses.map((r) => r.status), [100, 180]);
    h.clock.advance(1);
    assert.equal(user.timeouts, 1);
  });

  it('passes the final response once, absorbs retransmissions during Timer K = T4, then ends', () => {
    const h = harness();
    const user = recordingUser();
    const req = request({ method: 'REGISTER' });
    const tx = h.layer.sendRequest(req, UDP_DEST, user);
    h.layer.receive(response(req, 200, 'r'));
    assert.equal(tx.state, 'Completed');
    h.layer.receive(response(req, 200, 'r'));
    h.layer.receive(response(req, 100));
    assert.deepEqual(user.responses.map((r) => r.status), [200]);
    assert.equal(h.strays.length, 0);
    h.clock.advance(4999);
    assert.equal(tx.state, 'Completed');
    assert.equal(h.sent.length, 1);
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
    h.layer.receive(response(req, 200, 'r'));
    assert.equal(h.strays.length, 1);
    assert.equal(user.timeouts, 0);
  });

  it('on a reliable transport never retransmits and ends at once on a final response (Timer K = 0)', () => {
    const h = harness();
    const user = recordingUser();
    const req = request({ method: 'MESSAGE', transport: 'TCP' });
    const tx = h.layer.sendRequest(req, TCP_DEST, user);
    h.clock.advance(10_000);
    assert.equal(h.sent.length, 1);
    h.layer.receive(response(req, 202, 'm'));
    assert.equal(tx.state, 'Terminated');
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(user.responses.map((r) => r.status), [202]);
  });

  it('times out with Timer F on a reliable transport', () => {
    const h = harness();
    const user = recordingUser();
    h.layer.sendRequest(request({ method: 'OPTIONS', transport: 'TCP' }), TCP_DEST, user);
    h.clock.advance(31_999);
    assert.equal(user.timeouts, 0);
    h.clock.advance(1);
    assert.equal(user.timeouts, 1);
  });

  it('ends with onTransportError when a send fails', () => {
    const h = harness();
    const user = recordingUser();
    const tx = h.layer.sendRequest(request({ method: 'OPTIONS' }), UDP_DEST, user);
    h.failNextSends(1);
    h.clock.advance(500);
    assert.equal(tx.state, 'Terminated');
    assert.equal(user.errors.length, 1);
    h.clock.advance(64_000);
    assert.equal(user.timeouts, 0);
    assert.equal(h.clock.pending(), 0);
  });
});
