import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, request, response, type Harness } from './harness.js';
import type { ServerTransaction } from '../../src/transaction/layer.js';

function receiveBye(h: Harness, transport: 'UDP' | 'TCP' = 'UDP'): ServerTransaction {
  h.layer.receive(request({ method: 'BYE', toTag: 'b', transport }));
  const last = h.requests.at(-1);
  assert.ok(last);
  return last.tx;
}

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  it('absorbs retransmissions silently while Trying', () => {
    const h = harness();
    const tx = receiveBye(h);
    assert.equal(tx.state, 'Trying');
    h.layer.receive(request({ method: 'BYE', toTag: 'b' }));
    assert.equal(h.requests.length, 1);
    assert.equal(h.sent.length, 0);
    h.clock.advance(10_000);
    assert.equal(h.sent.length, 0);
  });

  it('answers retransmissions with the latest provisional while Proceeding', () => {
    const h = harness();
    const tx = receiveBye(h);
    tx.respond(response(tx.request, 100));
    assert.equal(tx.state, 'Proceeding');
    h.layer.receive(request({ method: 'BYE', toTag: 'b' }));
    assert.deepEqual(h.sentSummary(), ['100', '100']);
  });

  it('answers retransmissions with the final response, ignores later responses, and ends on Timer J = 64*T1', () => {
    const h = harness();
    const tx = receiveBye(h);
    let terminated = 0;
    tx.onTerminated = () => terminated++;
    const req = tx.request;
    tx.respond(response(req, 200, 'b'));
    assert.equal(tx.state, 'Completed');
    assert.throws(() => tx.request, /no longer kept/);
    tx.respond(response(req, 500, 'b'));
    h.layer.receive(request({ method: 'BYE', toTag: 'b' }));
    assert.deepEqual(h.sentSummary(), ['200', '200']);
    assert.equal(h.requests.length, 1);
    h.clock.advance(31_999);
    assert.equal(tx.state, 'Completed');
    assert.equal(h.sent.length, 2);
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
    assert.equal(terminated, 1);
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
    h.layer.receive(request({ method: 'BYE', toTag: 'b' }));
    assert.equal(h.requests.length, 2);
  });

  it('ends at once on a reliable transport (Timer J = 0)', () => {
    const h = harness();
    const tx = receiveBye(h, 'TCP');
    tx.respond(response(tx.request, 200, 'b'));
    assert.equal(tx.state, 'Terminated');
    assert.equal(h.clock.pending(), 0);
    assert.equal(h.sent[0].dest.connectionId, 7);
  });

  it('ends a transaction the TU never answers after 64*T1, while Trying', () => {
    const h = harness();
    const tx = receiveBye(h);
    let terminated = 0;
    tx.onTerminated = () => terminated++;
    h.clock.advance(31_999);
    assert.equal(tx.state, 'Trying');
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
    assert.equal(terminated, 1);
    assert.equal(h.sent.length, 0);
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
    // a late answer is ignored, and the request's key is free again
    tx.respond(response(tx.request, 200, 'b'));
    assert.equal(h.sent.length, 0);
    h.layer.receive(request({ method: 'BYE', toTag: 'b' }));
    assert.equal(h.requests.length, 2);
  });

  it('ends a transaction left in Proceeding after 64*T1 from its start, on TCP too', () => {
    const h = harness();
    h.timers.T1 = 100;
    const tx = receiveBye(h, 'TCP');
    h.clock.advance(1000);
    tx.respond(response(tx.request, 100));
    assert.equal(tx.state, 'Proceeding');
    h.clock.advance(5399);
    assert.equal(tx.state, 'Proceeding');
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
  });

  it('stops the backstop once a final response is sent', () => {
    const h = harness();
    const tx = receiveBye(h);
    h.clock.advance(1000);
    tx.respond(response(tx.request, 200, 'b'));
    assert.equal(h.clock.pending(), 1, 'Timer J only');
    h.clock.advance(31_999);
    assert.equal(tx.state, 'Completed', 'Timer J runs from the final response, not from the request');
    h.clock.advance(1);
    assert.equal(tx.state, 'Terminated');
  });

  it('ends with onTransportError when the response cannot be sent', () => {
    const h = harness();
    const tx = receiveBye(h);
    const errors: Error[] = [];
    tx.onTransportError = (err) => errors.push(err);
    h.failNextSends(1);
    tx.respond(response(tx.request, 200, 'b'));
    assert.equal(errors.length, 1);
    assert.equal(tx.state, 'Terminated');
    assert.equal(h.clock.pending(), 0);
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
  });
});
