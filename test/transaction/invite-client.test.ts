import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from '../../src/sip/message.js';
import { harness, recordingUser, request, response, sendTimes } from './harness.js';

const UDP_DEST: Endpoint = { transport: 'UDP', address: '198.51.100.5', port: 5060 };
const TCP_DEST: Endpoint = { transport: 'TCP', address: '198.51.100.5', port: 5060, connectionId: 3 };

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  it('retransmits on UDP with Timer A doubling past T2, then Timer B times out at 64*T1', () => {
    const h = harness();
    const user = recordingUser();
    const tx = h.layer.sendRequest(request(), UDP_DEST, user);
    assert.equal(tx.state, 'Calling');
    h.clock.advance(31_999);
    assert.deepEqual(sendTimes(h.sent), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert.equal(user.timeouts, 0);
    h.clock.advance(1);
    assert.equal(user.timeouts, 1);
    assert.equal(tx.state, 'Terminated');
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
    assert.equal(h.clock.pending(), 0);
    assert.ok(h.sent.every((s) => s.dest === UDP_DEST));
  });

  it('does not retransmit on a reliable transport but still times out with Timer B', () => {
    const h = harness();
    const user = recordingUser();
    h.layer.sendRequest(request({ transport: 'TCP' }), TCP_DEST, user);
    h.clock.advance(32_000);
    assert.equal(h.sent.length, 1);
    assert.equal(user.timeouts, 1);
  });

  it('reads timer values when the transaction starts', () => {
    const h = harness();
    h.timers.T1 = 1000;
    const user = recordingUser();
    h.layer.sendRequest(request(), UDP_DEST, user);
    h.timers.T1 = 10;
    h.clock.advance(63_999);
    assert.deepEqual(sendTimes(h.sent), [0, 1000, 3000, 7000, 15000, 31000, 63000]);
    assert.equal(user.timeouts, 0);
    h.clock.advance(1);
    assert.equal(user.timeouts, 1);
  });

  it('stops retransmitting and leaves Timer B behind on a provisional response', () => {
    const h = harness();
    const user = recordingUser();
    const req = request();
    const tx = h.layer.sendRequest(req, UDP_DEST, user);
    h.clock.advance(600);
    h.layer.receive(response(req, 180, 'b1'));
    assert.equal(tx.state, 'Proceeding');
    h.clock.advance(100_000);
    assert.equal(h.sent.length, 2);
    assert.equal(user.timeouts, 0);
    assert.deepEqual(user.responses.map((r) => r.status), [180]);
    assert.equal(h.layer.count().client, 1);
    tx.terminate();
    assert.equal(tx.state, 'Terminated');
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
    assert.equal(user.timeouts, 0);
  });

  it('ACKs a non-2xx final response per §17.1.1.3 and absorbs its retransmissions until Timer D', () => {
    const h = harness();
    const user = recordingUser();
    const req = request({ route: '<sip:proxy.example.com;lr>', seq: 42 });
    const tx = h.layer.sendRequest(req, UDP_DEST, user);
    h.layer.receive(response(req, 100));
    h.layer.receive(response(req, 486, 'busy1'));
    assert.equal(tx.state, 'Completed');
    assert.deepEqual(h.sentSummary(), ['INVITE', 'ACK']);
    const ack = h.sent[1].msg;
    assert.ok(ack.isRequest);
    assert.equal(ack.uri, req.uri);
    assert.equal(ack.topVia()?.params.branch, 'z9hG4bK-1');
    assert.equal(ack.getAll('via').length, 1);
    assert.equal(ack.toTag(), 'busy1');
    assert.equal(ack.fromTag(), 'a1');
    assert.equal(ack.callId, 'call-1');
    assert.deepEqual(ack.cseq(), { seq: 42, method: 'ACK' });
    assert.equal(ack.get('route'), '<sip:proxy.example.com;lr>');
    assert.equal(ack.body.length, 0);
    assert.equal(h.sent[1].dest, UDP_DEST);

    h.clock.advance(5000);
    h.layer.receive(response(req, 486, 'busy1'));
    assert.deepEqual(h.sentSummary(), ['INVITE', 'ACK', 'ACK']);
    assert.deepEqual(user.responses.map((r) => r.status), [100, 486]);

    h.clock.advance(26_999);
    assert.equal(tx.state, 'Completed');
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
    h.layer.receive(response(req, 486, 'busy1'));
    assert.equal(h.strays.length, 1);
    assert.equal(h.clock.pending(), 0);
  });

  it('makes Timer D cover 64*T1 when T1 is large', () => {
    const h = harness({ timers: { T1: 1000, T2: 4000, T4: 5000 } });
    const req = request();
    const tx = h.layer.sendRequest(req, UDP_DEST, recordingUser());
    h.layer.receive(response(req, 603, 'x'));
    h.clock.advance(63_999);
    assert.equal(tx.state, 'Completed');
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
  });

  it('terminates right after the ACK on a reliable transport (Timer D = 0)', () => {
    const h = harness();
    const user = recordingUser();
    const req = request({ transport: 'TCP' });
    const tx = h.layer.sendRequest(req, TCP_DEST, user);
    h.layer.receive(response(req, 404, 'nf'));
    assert.deepEqual(h.sentSummary(), ['INVITE', 'ACK']);
    assert.equal(tx.state, 'Terminated');
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(user.responses.map((r) => r.status), [404]);
  });

  it('enters Accepted on 2xx, passes every 2xx to the TU without ACKing, and ends on Timer M', () => {
    const h = harness();
    const user = recordingUser();
    const req = request();
    const tx = h.layer.sendRequest(req, UDP_DEST, user);
    h.clock.advance(500);
    h.layer.receive(response(req, 200, 'fork1'));
    assert.equal(tx.state, 'Accepted');
    h.layer.receive(response(req, 200, 'fork1'));
    h.layer.receive(response(req, 200, 'fork2'));
    h.layer.receive(response(req, 180, 'fork3'));
    h.layer.receive(response(req, 486, 'fork4'));
    assert.deepEqual(user.responses.map((r) => `${r.status}/${r.toTag()}`), ['200/fork1', '200/fork1', '200/fork2']);
    assert.deepEqual(h.sentSummary(), ['INVITE', 'INVITE']);
    h.clock.advance(31_999);
    assert.equal(tx.state, 'Accepted');
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
    h.layer.receive(response(req, 200, 'fork1'));
    assert.equal(h.strays.length, 1);
    assert.equal(user.timeouts, 0);
  });

  it('reports a transport error on the first send and ends', () => {
    const h = harness();
    const user = recordingUser();
    h.failNextSends(1);
    const tx = h.layer.sendRequest(request(), UDP_DEST, user);
    assert.equal(tx.state, 'Terminated');
    assert.equal(user.errors.length, 1);
    assert.equal(user.errors[0].message, 'connection reset');
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
  });

  it('reports a transport error on a retransmission and stops retransmitting', () => {
    const h = harness();
    const user = recordingUser();
    const tx = h.layer.sendRequest(request(), UDP_DEST, user);
    h.failNextSends(1);
    h.clock.advance(500);
    assert.equal(tx.state, 'Terminated');
    assert.equal(user.errors.length, 1);
    h.clock.advance(64_000);
    assert.equal(user.timeouts, 0);
    assert.equal(h.sent.length, 1);
  });

  it('reports a transport error when the ACK cannot be sent, after delivering the response', () => {
    const h = harness();
    const user = recordingUser();
    const req = request();
    const tx = h.layer.sendRequest(req, UDP_DEST, user);
    h.failNextSends(1);
    h.layer.receive(response(req, 500, 't'));
    assert.deepEqual(user.responses.map((r) => r.status), [500]);
    assert.equal(user.errors.length, 1);
    assert.equal(tx.state, 'Terminated');
  });

  it('matches responses by branch and CSeq method only (§17.1.3)', () => {
    const h = harness();
    const inviteUser = recordingUser();
    const cancelUser = recordingUser();
    const invite = request();
    h.layer.sendRequest(invite, UDP_DEST, inviteUser);
    const cancel = request({ method: 'CANCEL' });
    h.layer.sendRequest(cancel, UDP_DEST, cancelUser);
    h.layer.receive(response(cancel, 200, 'c'));
    h.layer.receive(response(request({ branch: 'z9hG4bK-other' }), 180));
    assert.deepEqual(cancelUser.responses.map((r) => r.status), [200]);
    assert.equal(inviteUser.responses.length, 0);
    assert.equal(h.strays.length, 1);
    assert.throws(() => h.layer.sendRequest(request(), UDP_DEST, recordingUser()), /already in use/);
    assert.throws(() => h.layer.sendRequest(request({ method: 'ACK' }), UDP_DEST, recordingUser()), /ACK/);
    assert.throws(() => h.layer.sendRequest(request({ branch: null }), UDP_DEST, recordingUser()), /branch/);
  });
});
