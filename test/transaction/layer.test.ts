import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, recordingUser, request, response } from './harness.js';

describe('transaction layer matching', () => {
  it('finds the INVITE server transaction a CANCEL refers to (§9.2), which itself is a new request', () => {
    const h = harness();
    h.layer.receive(request());
    const invite = h.requests[0].tx;
    const cancel = request({ method: 'CANCEL' });
    h.layer.receive(cancel);
    assert.equal(h.requests.length, 2);
    assert.equal(h.requests[1].req.method, 'CANCEL');
    assert.notEqual(h.requests[1].tx, invite);
    assert.equal(h.layer.findInviteFor(cancel), invite);
    assert.equal(h.layer.findInviteFor(request({ method: 'CANCEL', branch: 'z9hG4bK-2' })), undefined);
    assert.equal(h.layer.findInviteFor(request({ method: 'CANCEL', viaHost: 'elsewhere.example.com' })), undefined);
    assert.deepEqual(h.layer.count(), { client: 0, server: 2 });
  });

  it('matches server transactions by branch, sent-by and method', () => {
    const h = harness();
    // in-dialog (To tag), so a second sender is not mistaken for a merged request
    h.layer.receive(request({ method: 'OPTIONS', toTag: 'b' }));
    h.layer.receive(request({ method: 'OPTIONS', toTag: 'b', viaPort: 5070 }));
    h.layer.receive(request({ method: 'OPTIONS', toTag: 'b', viaHost: 'CLIENT.example.com' }));
    h.layer.receive(request({ method: 'INFO', toTag: 'b', cseqMethod: 'INFO' }));
    assert.deepEqual(
      h.requests.map((r) => r.req.method),
      ['OPTIONS', 'OPTIONS', 'INFO'],
    );
  });

  it('answers a merged request (§8.2.2.2) with 482 on its own transaction', () => {
    const h = harness();
    h.layer.receive(request());
    h.layer.receive(request({ branch: 'z9hG4bK-via-other-path' }));
    assert.equal(h.requests.length, 1);
    assert.deepEqual(h.sentSummary(), ['482']);
    const loop = h.sent[0].msg;
    assert.ok(!loop.isRequest);
    assert.equal(loop.status, 482);
    assert.ok(loop.toTag());
    assert.equal(loop.topVia()?.params.branch, 'z9hG4bK-via-other-path');
    h.layer.receive(request({ branch: 'z9hG4bK-via-other-path' }));
    assert.deepEqual(h.sentSummary(), ['482', '482']);
    h.layer.receive(request({ method: 'ACK', branch: 'z9hG4bK-via-other-path', toTag: loop.toTag() }));
    assert.equal(h.acks.length, 0);
  });

  it('does not treat in-dialog requests or other CSeqs as merged', () => {
    const h = harness();
    h.layer.receive(request());
    h.layer.receive(request({ branch: 'z9hG4bK-2', toTag: 'b' }));
    h.layer.receive(request({ branch: 'z9hG4bK-3', seq: 2 }));
    h.layer.receive(request({ branch: 'z9hG4bK-4', method: 'CANCEL' }));
    assert.equal(h.requests.length, 4);
    assert.equal(h.sent.length, 0);
  });

  it('stops detecting a merge once the first transaction is gone', () => {
    const h = harness();
    h.layer.receive(request({ method: 'MESSAGE', transport: 'TCP' }));
    h.requests[0].tx.respond(response(h.requests[0].req, 200, 'm'));
    h.layer.receive(request({ method: 'MESSAGE', branch: 'z9hG4bK-2' }));
    assert.equal(h.requests.length, 2);
  });

  describe('RFC 2543 requests (no magic cookie)', () => {
    const legacy = { branch: null, viaPort: 0 } as const;

    it('matches INVITE retransmissions, absorbs the ACK for a non-2xx and finds the CANCELled INVITE', () => {
      const h = harness();
      h.layer.receive(request(legacy));
      const tx = h.requests[0].tx;
      h.layer.receive(request(legacy));
      assert.equal(h.requests.length, 1);
      assert.deepEqual(h.sentSummary(), ['100']);
      const cancel = request({ ...legacy, method: 'CANCEL' });
      assert.equal(h.layer.findInviteFor(cancel), tx);
      assert.equal(h.layer.findInviteFor(request({ ...legacy, method: 'CANCEL', toTag: 'x' })), undefined);
      tx.respond(response(tx.request, 486, 'busy'));
      h.layer.receive(request({ ...legacy, method: 'ACK', toTag: 'wrong' }));
      assert.equal(tx.state, 'Completed');
      assert.equal(h.acks.length, 1);
      h.layer.receive(request({ ...legacy, method: 'ACK', toTag: 'busy' }));
      assert.equal(tx.state, 'Confirmed');
      assert.equal(h.acks.length, 1);
    });

    it('tells requests apart by Request-URI, Call-ID, From tag and CSeq', () => {
      const h = harness();
      h.layer.receive(request({ ...legacy, method: 'OPTIONS' }));
      h.layer.receive(request({ ...legacy, method: 'OPTIONS' }));
      h.layer.receive(request({ ...legacy, method: 'OPTIONS', uri: 'sip:carol@example.com', fromTag: 'a2' }));
      h.layer.receive(request({ ...legacy, method: 'OPTIONS', callId: 'call-2' }));
      h.layer.receive(request({ ...legacy, method: 'OPTIONS', seq: 2 }));
      assert.equal(h.requests.length, 4);
    });

    it('uses the To tag of the 2xx to route the ACK of an accepted INVITE to the TU', () => {
      const h = harness();
      h.layer.receive(request(legacy));
      const tx = h.requests[0].tx;
      tx.respond(response(tx.request, 200, 'ok'));
      h.layer.receive(request({ ...legacy, method: 'ACK', toTag: 'ok' }));
      assert.equal(h.acks.length, 1);
      h.clock.advance(10_000);
      assert.equal(h.sent.length, 1);
    });
  });

  it('passes unmatched ACKs to the TU and unmatched responses as strays', () => {
    const h = harness();
    h.layer.receive(request({ method: 'ACK', toTag: 'x' }));
    h.layer.receive(response(request(), 200, 'x'));
    assert.equal(h.acks.length, 1);
    assert.equal(h.strays.length, 1);
    assert.equal(h.requests.length, 0);
  });

  it('drops requests without a Via, since they cannot be answered', () => {
    const h = harness();
    const req = request();
    req.remove('via');
    h.layer.receive(req);
    assert.equal(h.requests.length, 0);
    assert.equal(h.sent.length, 0);
  });

  it('counts live transactions and clears every timer on shutdown', () => {
    const h = harness();
    h.layer.receive(request());
    h.layer.receive(request({ method: 'OPTIONS', branch: 'z9hG4bK-o' }));
    h.requests[1].tx.respond(response(h.requests[1].req, 200, 'o'));
    h.layer.sendRequest(request({ branch: 'z9hG4bK-out' }), { transport: 'UDP', address: '198.51.100.5', port: 5060 }, recordingUser());
    assert.deepEqual(h.layer.count(), { client: 1, server: 2 });
    assert.ok(h.clock.pending() > 0);
    h.layer.shutdown();
    assert.deepEqual(h.layer.count(), { client: 0, server: 0 });
    assert.equal(h.clock.pending(), 0);
    assert.equal(h.requests[0].tx.state, 'Terminated');
  });

  it('sends stateless messages straight to the transport', () => {
    const h = harness();
    const dest = { transport: 'UDP', address: '198.51.100.5', port: 5060 } as const;
    h.layer.sendStateless(request({ method: 'ACK' }), dest);
    assert.deepEqual(h.sentSummary(), ['ACK']);
    h.failNextSends(1);
    assert.throws(() => h.layer.sendStateless(request({ method: 'ACK' }), dest), /connection reset/);
  });
});
