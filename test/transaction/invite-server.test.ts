import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, request, response, sendTimes, type Harness } from './harness.js';
import type { ServerTransaction } from '../../src/transaction/layer.js';
import type { InviteServerTransaction } from '../../src/transaction/invite-server.js';

function receiveInvite(h: Harness, spec: Parameters<typeof request>[0] = {}): ServerTransaction {
  h.layer.receive(request(spec));
  const last = h.requests.at(-1);
  assert.ok(last, 'the TU got the INVITE');
  return last.tx;
}

function ack(spec: Parameters<typeof request>[0] = {}) {
  return request({ method: 'ACK', ...spec });
}

describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026)', () => {
  it('sends 100 Trying after 200 ms when the TU is silent', () => {
    const h = harness();
    const tx = receiveInvite(h);
    assert.equal(tx.state, 'Proceeding');
    h.clock.advance(199);
    assert.equal(h.sent.length, 0);
    h.clock.advance(1);
    assert.deepEqual(h.sentSummary(), ['100']);
    assert.equal(h.sent[0].msg.isRequest, false);
    assert.equal((tx as InviteServerTransaction).lastResponse?.status, 100);
  });

  it('sends no 100 Trying when the TU answers within 200 ms', () => {
    const h = harness();
    const tx = receiveInvite(h);
    h.clock.advance(50);
    tx.respond(response(tx.request, 180, 'b'));
    h.clock.advance(1000);
    assert.deepEqual(h.sentSummary(), ['180']);
  });

  it('answers a retransmitted INVITE with 100 at once, then with the latest provisional', () => {
    const h = harness();
    const tx = receiveInvite(h);
    h.layer.receive(request());
    assert.deepEqual(h.sentSummary(), ['100']);
    tx.respond(response(tx.request, 180, 'b'));
    h.layer.receive(request());
    assert.deepEqual(h.sentSummary(), ['100', '180', '180']);
    assert.equal(h.requests.length, 1);
  });

  it('retransmits a non-2xx final with Timer G doubling to T2 and gives up on Timer H at 64*T1', () => {
    const h = harness();
    const tx = receiveInvite(h);
    let ackTimeouts = 0;
    let terminated = 0;
    tx.onAckTimeout = () => ackTimeouts++;
    tx.onTerminated = () => terminated++;
    tx.respond(response(tx.request, 486, 'busy'));
    assert.equal(tx.state, 'Completed');
    h.clock.advance(31_999);
    assert.deepEqual(sendTimes(h.sent), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert.ok(h.sentSummary().every((s) => s === '486'));
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
    assert.equal(ackTimeouts, 1);
    assert.equal(terminated, 1);
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
  });

  it('sends the response to the source address and rport port', () => {
    const h = harness();
    const tx = receiveInvite(h, { rport: true });
    tx.respond(response(tx.request, 486, 'busy'));
    assert.deepEqual(h.sent[0].dest, { transport: 'UDP', address: '192.0.2.10', port: 40000 });
  });

  it('answers a retransmitted INVITE in Completed with the final response', () => {
    const h = harness();
    const tx = receiveInvite(h);
    tx.respond(response(tx.request, 404, 'nf'));
    h.clock.advance(100);
    h.layer.receive(request());
    assert.deepEqual(h.sentSummary(), ['404', '404']);
    assert.equal(h.requests.length, 1);
  });

  it('absorbs the ACK for a non-2xx, stops Timer G, and ends after Timer I = T4', () => {
    const h = harness();
    const tx = receiveInvite(h);
    let ackTimeouts = 0;
    tx.onAckTimeout = () => ackTimeouts++;
    tx.respond(response(tx.request, 486, 'busy'));
    h.clock.advance(600);
    h.layer.receive(ack({ toTag: 'busy' }));
    assert.equal(tx.state, 'Confirmed');
    assert.equal(h.acks.length, 0);
    h.layer.receive(ack({ toTag: 'busy' }));
    h.layer.receive(request());
    assert.equal(h.acks.length, 0);
    h.clock.advance(4999);
    assert.equal(tx.state, 'Confirmed');
    assert.deepEqual(sendTimes(h.sent), [0, 500]);
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
    assert.equal(ackTimeouts, 0);
    assert.equal(h.clock.pending(), 0);
  });

  it('on a reliable transport sends no Timer G retransmissions and ends on the ACK (Timer I = 0)', () => {
    const h = harness();
    const tx = receiveInvite(h, { transport: 'TCP' });
    tx.respond(response(tx.request, 603, 'd'));
    assert.deepEqual(h.sent[0].dest, { transport: 'TCP', address: '192.0.2.10', port: 40000, connectionId: 7, fallbackPort: 5062 });
    h.clock.advance(10_000);
    assert.equal(h.sent.length, 1);
    h.layer.receive(ack({ toTag: 'd', transport: 'TCP' }));
    assert.equal(tx.state, 'Terminated');
    assert.equal(h.clock.pending(), 0);
  });

  it('still applies Timer H on a reliable transport', () => {
    const h = harness();
    const tx = receiveInvite(h, { transport: 'TCP' });
    let ackTimeouts = 0;
    tx.onAckTimeout = () => ackTimeouts++;
    tx.respond(response(tx.request, 603, 'd'));
    h.clock.advance(32_000);
    assert.equal(ackTimeouts, 1);
    assert.equal(tx.state, 'Terminated');
  });

  describe('Accepted (after 2xx)', () => {
    it('retransmits the 2xx at T1 doubling to T2 until the ACK (new branch) arrives, which goes to the TU', () => {
      const h = harness();
      const tx = receiveInvite(h);
      let ackTimeouts = 0;
      tx.onAckTimeout = () => ackTimeouts++;
      tx.respond(response(tx.request, 200, 'ok'));
      assert.equal(tx.state, 'Accepted');
      h.clock.advance(4000);
      assert.deepEqual(sendTimes(h.sent), [0, 500, 1500, 3500]);
      h.layer.receive(ack({ branch: 'z9hG4bK-ack2xx', toTag: 'ok' }));
      assert.equal(h.acks.length, 1);
      h.clock.advance(27_999);
      assert.equal(h.sent.length, 4);
      assert.equal(tx.state, 'Accepted');
      h.clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.equal(ackTimeouts, 0);
      assert.equal(h.clock.pending(), 0);
    });

    it('absorbs INVITE retransmissions without answering or reaching the TU', () => {
      const h = harness();
      const tx = receiveInvite(h);
      tx.respond(response(tx.request, 200, 'ok'));
      h.layer.receive(request());
      assert.equal(h.requests.length, 1);
      assert.deepEqual(h.sentSummary(), ['200']);
    });

    it('passes ACKs that match the transaction itself to the TU', () => {
      const h = harness();
      const tx = receiveInvite(h);
      tx.respond(response(tx.request, 200, 'ok'));
      h.layer.receive(ack({ toTag: 'ok' }));
      h.layer.receive(ack({ toTag: 'ok' }));
      assert.equal(h.acks.length, 2);
      h.clock.advance(10_000);
      assert.equal(h.sent.length, 1);
    });

    it('retransmits until Timer L at 64*T1 when no ACK comes, then reports onAckTimeout', () => {
      const h = harness();
      const tx = receiveInvite(h);
      let ackTimeouts = 0;
      tx.onAckTimeout = () => ackTimeouts++;
      tx.respond(response(tx.request, 200, 'ok'));
      h.layer.receive(ack({ branch: 'z9hG4bK-ack2xx', toTag: 'other-dialog' }));
      h.clock.advance(31_999);
      assert.deepEqual(sendTimes(h.sent), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
      assert.equal(ackTimeouts, 0);
      h.clock.advance(1);
      assert.equal(ackTimeouts, 1);
      assert.equal(tx.state, 'Terminated');
      assert.equal(h.clock.pending(), 0);
    });

    it('lets the TU pass a 2xx again but ignores other responses', () => {
      const h = harness();
      const tx = receiveInvite(h, { transport: 'TCP' });
      tx.respond(response(tx.request, 200, 'ok'));
      tx.respond(response(tx.request, 200, 'ok'));
      tx.respond(response(tx.request, 486, 'ok'));
      tx.respond(response(tx.request, 180, 'ok'));
      assert.deepEqual(h.sentSummary(), ['200', '200']);
    });

    it('does not retransmit on a reliable transport, and Timer L still reports a missing ACK', () => {
      const h = harness();
      const tx = receiveInvite(h, { transport: 'TCP' });
      let ackTimeouts = 0;
      tx.onAckTimeout = () => ackTimeouts++;
      tx.respond(response(tx.request, 200, 'ok'));
      h.clock.advance(32_000);
      assert.equal(h.sent.length, 1);
      assert.equal(ackTimeouts, 1);
    });
  });

  it('ends with onTransportError and onTerminated when a response cannot be sent', () => {
    const h = harness();
    const tx = receiveInvite(h);
    const events: string[] = [];
    tx.onTransportError = (err) => events.push(`error:${err.message}`);
    tx.onTerminated = () => events.push('terminated');
    h.failNextSends(1);
    tx.respond(response(tx.request, 486, 'busy'));
    assert.equal(tx.state, 'Terminated');
    assert.deepEqual(events, ['error:connection reset', 'terminated']);
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
  });

  it('ends with onTransportError when a 2xx retransmission fails', () => {
    const h = harness();
    const tx = receiveInvite(h);
    const errors: Error[] = [];
    tx.onTransportError = (err) => errors.push(err);
    tx.respond(response(tx.request, 200, 'ok'));
    h.failNextSends(1);
    h.clock.advance(500);
    assert.equal(errors.length, 1);
    assert.equal(tx.state, 'Terminated');
    assert.equal(h.clock.pending(), 0);
  });
});
