import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import {
  ANSWER_SDP, CALLER_CALL_ID, CALLER_CONTACT, CALLER_RECORD_ROUTE, CALLER_SOURCE, CALLER_TAG, CALLER_VIA_BRANCH,
  DEVICE_A, DEVICE_A_URI, DEVICE_B, DEVICE_B_URI, FakeServerTransaction, LATE_ANSWER_SDP, OFFER_SDP, OUR_ADDRESS, START,
  calleeInDialog, callerCancel, callerInDialog, callerInvite, deliver, inviteTo, reply, setup, toTagOf,
  type Harness, type InviteOptions, type SentRequest,
} from './harness.js';

const OUR_CONTACT_TO_CALLER = `<sip:${OUR_ADDRESS}:5060;x-peer=${CALLER_SOURCE.address}>`;

interface Ringing {
  h: Harness;
  invite: SipRequest;
  tx: FakeServerTransaction;
  a: SentRequest;
  b: SentRequest;
  id: string;
}

/** A call from 100 to 200, forked to devices A and B. */
function ring(opts: InviteOptions = {}, h: Harness = setup()): Ringing {
  const invite = callerInvite(opts);
  const tx = new FakeServerTransaction(invite);
  h.stack.inviteTx = tx;
  h.manager.handleInvite(invite, tx);
  const calls = h.manager.list();
  assert.equal(calls.length, 1, `the INVITE started a call (responses: ${tx.statuses().join(',')})`);
  return { h, invite, tx, a: inviteTo(h.stack, DEVICE_A), b: inviteTo(h.stack, DEVICE_B), id: calls[0].id };
}

/** Device A answers with SDP; returns our To tag towards the caller. */
function answerByA(r: Ringing, opts: { sdp?: string } = {}): string {
  deliver(r.a, 200, { tag: 'tagA', sdp: opts.sdp ?? ANSWER_SDP });
  const ok = r.tx.responses.find((res) => res.status === 200);
  assert.ok(ok, 'the caller got a 200');
  return toTagOf(ok);
}

function headerValues(msg: SipRequest | SipResponse): string[] {
  return msg.headers.map((h) => `${h.name}: ${h.value}`);
}

describe('forking', () => {
  it('(1) sends one INVITE per binding at once, each leg with its own Call-ID and From tag and nothing of the caller leg', () => {
    const { h, tx, a, b } = ring();
    const invites = h.stack.byMethod('INVITE');
    assert.equal(invites.length, 2);
    assert.deepEqual(a.dest, DEVICE_A);
    assert.deepEqual(b.dest, DEVICE_B);
    assert.equal(a.req.uri, DEVICE_A_URI);
    assert.equal(b.req.uri, DEVICE_B_URI);
    assert.equal(tx.responses.length, 0, 'no response to the caller before a device answers');

    assert.notEqual(a.req.callId, b.req.callId);
    assert.ok(a.req.fromTag() && b.req.fromTag());
    assert.notEqual(a.req.fromTag(), b.req.fromTag());
    for (const { req, dest } of invites) {
      assert.notEqual(req.callId, CALLER_CALL_ID);
      assert.ok(!req.callId.includes(CALLER_CALL_ID));
      assert.notEqual(req.fromTag(), CALLER_TAG);
      assert.equal(req.toTag(), undefined);
      assert.equal(req.from()?.uri.user, '100');
      assert.equal(req.from()?.display, 'Alice');
      assert.equal(req.to()?.uri.user, '200');
      assert.equal(req.get('max-forwards'), '69', 'Max-Forwards decremented');
      assert.equal(req.cseq()?.method, 'INVITE');
      const vias = req.getAll('via');
      assert.equal(vias.length, 1, 'only our own Via');
      assert.ok(!vias[0].includes(CALLER_VIA_BRANCH));
      assert.deepEqual(req.getAll('contact'), [`<sip:${OUR_ADDRESS}:5060;x-peer=${dest.address}>`]);
      assert.equal(req.has('record-route'), false, 'Record-Route belongs to the caller leg');
      for (const line of headerValues(req)) {
        assert.ok(!line.includes(CALLER_SOURCE.address), `caller address leaked: ${line}`);
        assert.ok(!line.includes(CALLER_TAG), `caller tag leaked: ${line}`);
      }
      assert.equal(req.get('content-type'), 'application/sdp');
      assert.equal(req.body.toString(), OFFER_SDP);
    }
    assert.equal(h.manager.count(), 1);
    assert.equal(h.manager.list()[0].state, 'ringing');
  });

  it('decrements a low Max-Forwards and refuses 0 with 483', () => {
    const low = callerInvite();
    low.remove('Max-Forwards').add('Max-Forwards', '1');
    const r = ring({}, setup());
    assert.equal(r.a.req.get('max-forwards'), '69');
    const h1 = setup();
    h1.manager.handleInvite(low, new FakeServerTransaction(low));
    assert.deepEqual(h1.stack.byMethod('INVITE').map((s) => s.req.get('max-forwards')), ['0', '0']);
    const h = setup();
    const invite = callerInvite();
    invite.remove('Max-Forwards').add('Max-Forwards', '0');
    const tx = new FakeServerTransaction(invite);
    h.manager.handleInvite(invite, tx);
    assert.equal(tx.final().status, 483);
    assert.equal(h.stack.requests.length, 0);
    assert.equal(h.records.length, 0);
  });

  it('answers 404 for an unknown extension and 480 when the callee has no binding, with failed records', () => {
    const h = setup();
    const unknown = callerInvite({ requestUri: 'sip:999@example.com' });
    const tx1 = new FakeServerTransaction(unknown);
    h.manager.handleInvite(unknown, tx1);
    assert.equal(tx1.final().status, 404);

    const h2 = setup([]);
    const invite = callerInvite();
    const tx2 = new FakeServerTransaction(invite);
    h2.manager.handleInvite(invite, tx2);
    assert.equal(tx2.final().status, 480);
    assert.equal(h.stack.requests.length + h2.stack.requests.length, 0);
    assert.deepEqual([h.records[0]?.disposition, h.records[0]?.finalStatus, h.records[0]?.callee], ['failed', 404, '999']);
    assert.deepEqual([h2.records[0]?.disposition, h2.records[0]?.finalStatus], ['failed', 480]);
  });
});

describe('provisional responses', () => {
  it('(2) relays 180 with our To tag, our Contact and the INVITE\'s Record-Route; a 100 is not relayed', () => {
    const { tx, a, b } = ring();
    deliver(a, 100);
    assert.equal(tx.responses.length, 0, '100 stays on its leg');
    deliver(a, 180, { tag: 'tagA' });
    deliver(b, 180, { tag: 'tagB' });
    assert.deepEqual(tx.statuses(), [180, 180]);
    const tags = tx.responses.map(toTagOf);
    assert.equal(tags[0], tags[1], 'one To tag towards the caller whichever device rings');
    assert.ok(!['tagA', 'tagB'].includes(tags[0]), 'the device tag does not leak');
    for (const res of tx.responses) {
      assert.equal(res.callId, CALLER_CALL_ID);
      assert.equal(res.fromTag(), CALLER_TAG);
      assert.equal(res.get('cseq'), '10 INVITE');
      assert.ok(res.getAll('via')[0].includes(CALLER_VIA_BRANCH));
      assert.deepEqual(res.getAll('contact'), [OUR_CONTACT_TO_CALLER], 'our Contact, not the device\'s');
      assert.deepEqual(res.getAll('record-route'), [CALLER_RECORD_ROUTE]);
    }
  });
});

describe('answer', () => {
  it('(3) first 2xx wins: ACK to it, CANCEL to the other ringing branch, 200 with SDP to the caller', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    deliver(r.b, 180, { tag: 'tagB' });
    const ringTag = toTagOf(r.tx.responses[0]);
    const ourTag = answerByA(r);

    assert.equal(r.h.stack.acks.length, 1);
    const { ack, dest } = r.h.stack.acks[0];
    assert.deepEqual(dest, DEVICE_A);
    assert.equal(ack.method, 'ACK');
    assert.equal(ack.uri, DEVICE_A_URI, 'ACK to the Contact of the 2xx');
    assert.equal(ack.callId, r.a.req.callId);
    assert.equal(ack.fromTag(), r.a.req.fromTag());
    assert.equal(ack.toTag(), 'tagA');
    assert.equal(ack.get('cseq'), '1 ACK');

    assert.equal(r.h.stack.cancels.length, 1, 'only the losing branch is cancelled');
    const { cancel, dest: cancelDest } = r.h.stack.cancels[0];
    assert.deepEqual(cancelDest, DEVICE_B);
    assert.equal(cancel.uri, r.b.req.uri);
    assert.equal(cancel.callId, r.b.req.callId);
    assert.equal(cancel.get('from'), r.b.req.get('from'));
    assert.equal(cancel.get('to'), r.b.req.get('to'));
    assert.equal(cancel.get('cseq'), '1 CANCEL');
    assert.equal(cancel.getAll('via')[0], r.b.req.getAll('via')[0], 'CANCEL shares the INVITE\'s top Via');

    const ok = r.tx.final();
    assert.equal(ok.status, 200);
    assert.equal(ourTag, ringTag, 'the 200 keeps the tag of the early dialog');
    assert.equal(ok.get('content-type'), 'application/sdp');
    assert.equal(ok.body.toString(), ANSWER_SDP);
    assert.deepEqual(ok.getAll('contact'), [OUR_CONTACT_TO_CALLER]);
    assert.deepEqual(ok.getAll('record-route'), [CALLER_RECORD_ROUTE]);
    assert.equal(r.h.manager.list()[0].state, 'answered');
    assert.equal(r.h.manager.list()[0].answeredAt, START);
    assert.equal(r.h.records.length, 0);
  });

  it('(3) a branch that sent nothing yet gets its CANCEL only when its first provisional (even 100) arrives', () => {
    const r = ring();
    answerByA(r);
    assert.equal(r.h.stack.cancels.length, 0, 'no CANCEL before a provisional (RFC 3261 §9.1)');
    deliver(r.b, 100);
    assert.equal(r.h.stack.cancels.length, 1);
    assert.deepEqual(r.h.stack.cancels[0].dest, DEVICE_B);
    assert.equal(r.h.stack.cancels[0].cancel.callId, r.b.req.callId);
    deliver(r.b, 180, { tag: 'tagB' });
    assert.equal(r.h.stack.cancels.length, 1, 'one CANCEL only');
    assert.deepEqual(r.tx.statuses(), [200], 'the late 180 is not relayed');
  });

  it('(4) a retransmitted 2xx of the winner is re-ACKed with the same ACK and never answered with BYE', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    answerByA(r);
    const first = r.h.stack.acks[0];
    deliver(r.a, 200, { tag: 'tagA', sdp: ANSWER_SDP });
    assert.equal(r.h.stack.resends.length, 1);
    assert.equal(r.h.stack.resends[0].msg, first.ack, 'the same ACK, unchanged');
    assert.deepEqual(r.h.stack.resends[0].dest, DEVICE_A);
    // after the client transaction ended, the stack hands the 2xx over as a stray response
    r.h.manager.handleStrayResponse(reply(r.a, 200, { tag: 'tagA', sdp: ANSWER_SDP }));
    assert.equal(r.h.stack.resends.length, 2);
    assert.equal(r.h.stack.resends[1].msg, first.ack);
    assert.equal(r.h.stack.byMethod('BYE').length, 0);
    assert.equal(r.h.stack.acks.length, 1, 'no new ACK transaction');
    assert.deepEqual(r.tx.statuses(), [180, 200], 'the caller is answered once');
    assert.equal(r.h.manager.list()[0].state, 'answered');
  });

  it('(5) a 2xx from a second branch after the winner gets ACK + BYE', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    deliver(r.b, 180, { tag: 'tagB' });
    answerByA(r);
    assert.equal(r.h.stack.cancels.length, 1);
    deliver(r.b, 200, { tag: 'tagB', sdp: ANSWER_SDP }); // crossed our CANCEL
    assert.equal(r.h.stack.acks.length, 2);
    const ackB = r.h.stack.acks[1];
    assert.deepEqual(ackB.dest, DEVICE_B);
    assert.equal(ackB.ack.callId, r.b.req.callId);
    assert.equal(ackB.ack.toTag(), 'tagB');
    assert.equal(ackB.ack.get('cseq'), '1 ACK');
    const byes = r.h.stack.byMethod('BYE');
    assert.equal(byes.length, 1);
    assert.deepEqual(byes[0].dest, DEVICE_B);
    assert.equal(byes[0].req.callId, r.b.req.callId);
    assert.equal(byes[0].req.toTag(), 'tagB');
    assert.equal(byes[0].req.fromTag(), r.b.req.fromTag());
    assert.ok((byes[0].req.cseq()?.seq ?? 0) > 1);
    assert.deepEqual(r.tx.statuses(), [180, 180, 200], 'the caller sees one answer');
    assert.equal(r.h.manager.list()[0].state, 'answered');
    assert.equal(r.h.records.length, 0);
  });

  it('(5) a 2xx from a branch that was still silent when the winner answered is also ACKed and released', () => {
    const r = ring();
    answerByA(r);
    deliver(r.b, 200, { tag: 'tagB', sdp: ANSWER_SDP });
    assert.equal(r.h.stack.acks.filter((x) => x.ack.callId === r.b.req.callId).length, 1);
    assert.equal(r.h.stack.byMethod('BYE').filter((x) => x.req.callId === r.b.req.callId).length, 1);
    assert.deepEqual(r.tx.statuses(), [200]);
  });
});

describe('failures', () => {
  it('(6) all branches busy: 486 to the caller once the last one fails, record busy', () => {
    const r = ring();
    r.h.clock.advance(2000);
    deliver(r.a, 486, { tag: 'tagA' });
    assert.equal(r.tx.responses.length, 0, 'B may still answer');
    deliver(r.b, 486, { tag: 'tagB' });
    const res = r.tx.final();
    assert.equal(res.status, 486);
    assert.equal(res.callId, CALLER_CALL_ID);
    assert.ok(res.toTag());
    assert.equal(r.h.manager.count(), 0);
    assert.deepEqual(r.h.records, [{
      callId: CALLER_CALL_ID, domain: 'example.com', caller: '100', callee: '200', startedAt: START, answeredAt: null,
      endedAt: START + 2000, durationSeconds: 0, disposition: 'busy', finalStatus: 486, hangupBy: 'callee', endReason: null,
    }]);
  });

  it('(6) one busy and one unavailable branch still make the call busy', () => {
    const r = ring();
    deliver(r.a, 480, { tag: 'tagA' });
    deliver(r.b, 486, { tag: 'tagB' });
    assert.equal(r.tx.final().status, 486);
    assert.equal(r.h.records[0]?.disposition, 'busy');
  });

  it('(7) no answer within noAnswerTimeoutSeconds: branches cancelled, 408 to the caller, record no_answer', () => {
    const h = setup();
    h.noAnswerSeconds = 20;
    const r = ring({}, h);
    deliver(r.a, 180, { tag: 'tagA' });
    deliver(r.b, 180, { tag: 'tagB' });
    h.clock.advance(19_999);
    assert.equal(h.stack.cancels.length, 0);
    assert.deepEqual(r.tx.statuses(), [180, 180]);
    h.clock.advance(1);
    assert.deepEqual(h.stack.cancels.map((c) => c.dest).sort((x, y) => x.port - y.port), [DEVICE_A, DEVICE_B]);
    assert.equal(r.tx.final().status, 408);
    assert.equal(h.manager.count(), 0);
    assert.equal(h.records.length, 1);
    assert.deepEqual([h.records[0].disposition, h.records[0].finalStatus, h.records[0].hangupBy, h.records[0].endedAt], ['no_answer', 408, 'system', START + 20_000]);
    deliver(r.a, 487, { tag: 'tagA' });
    deliver(r.b, 487, { tag: 'tagB' });
    assert.equal(r.tx.responses.length, 3, 'the 487s stay on their legs');
    assert.equal(h.records.length, 1);
    h.clock.advance(40_000);
    assert.equal(r.a.tx.terminated + r.b.tx.terminated, 0, 'branches that answered the CANCEL are not given up');
  });

  it('(8) a cancelled branch that never sends a final response is given up after 32 s', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    deliver(r.b, 180, { tag: 'tagB' });
    assert.equal(r.h.manager.hangup(r.id), true);
    assert.equal(r.h.stack.cancels.length, 2);
    deliver(r.b, 487, { tag: 'tagB' });
    r.h.clock.advance(31_999);
    assert.equal(r.a.tx.terminated, 0);
    r.h.clock.advance(1);
    assert.equal(r.a.tx.terminated, 1, 'A ignored the CANCEL: its transaction is ended');
    assert.equal(r.b.tx.terminated, 0, 'B answered 487');
    r.h.clock.advance(600_000);
    assert.equal(r.a.tx.terminated, 1, 'given up once');
    assert.equal(r.tx.final().status, 487);
    assert.equal(r.h.records.length, 1);
  });

  it('(15) caller and callee in different domains: 403 and nothing sent', () => {
    const h = setup();
    const invite = callerInvite({ from: '"Carol" <sip:300@other.com>' });
    const tx = new FakeServerTransaction(invite);
    h.manager.handleInvite(invite, tx);
    assert.equal(tx.final().status, 403);
    assert.equal(h.stack.requests.length, 0);
    assert.equal(h.manager.count(), 0);

    const back = callerInvite({ requestUri: 'sip:300@other.com' });
    const tx2 = new FakeServerTransaction(back);
    h.manager.handleInvite(back, tx2);
    assert.equal(tx2.final().status, 403);
    assert.equal(h.stack.requests.length, 0);
  });
});

describe('caller CANCEL', () => {
  it('(9) 200 to the CANCEL, 487 to the INVITE, branches cancelled, record cancelled', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    r.h.clock.advance(3000);
    const cancelTx = new FakeServerTransaction(callerCancel());
    r.h.manager.handleCancel(cancelTx.request, cancelTx);
    assert.equal(cancelTx.final().status, 200);
    assert.equal(cancelTx.final().get('cseq'), '10 CANCEL');
    const terminated = r.tx.final();
    assert.equal(terminated.status, 487);
    assert.equal(toTagOf(terminated), toTagOf(r.tx.responses[0]), 'the 487 ends the early dialog the 180 created');
    assert.equal(r.h.stack.cancels.length, 1, 'A rang, so it is cancelled now');
    assert.deepEqual(r.h.stack.cancels[0].dest, DEVICE_A);
    deliver(r.b, 100);
    assert.equal(r.h.stack.cancels.length, 2, 'B gets its CANCEL with its first provisional');
    assert.deepEqual(r.h.stack.cancels[1].dest, DEVICE_B);
    assert.equal(r.h.manager.count(), 0);
    assert.equal(r.h.records.length, 1);
    assert.deepEqual([r.h.records[0].disposition, r.h.records[0].finalStatus, r.h.records[0].hangupBy, r.h.records[0].endedAt], ['cancelled', 487, 'caller', START + 3000]);
  });

  it('(9) the 200 to the CANCEL carries the same To tag as the 487 (RFC 3261 §9.2)', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    const cancelTx = new FakeServerTransaction(callerCancel());
    r.h.manager.handleCancel(cancelTx.request, cancelTx);
    assert.equal(cancelTx.final().toTag(), r.tx.final().toTag());
  });

  it('a CANCEL matching no INVITE gets 481', () => {
    const h = setup();
    const cancelTx = new FakeServerTransaction(callerCancel());
    h.manager.handleCancel(cancelTx.request, cancelTx);
    assert.equal(cancelTx.final().status, 481);
  });

  it('a CANCEL after the answer gets 200 and changes nothing', () => {
    const r = ring();
    answerByA(r);
    const cancelTx = new FakeServerTransaction(callerCancel());
    r.h.manager.handleCancel(cancelTx.request, cancelTx);
    assert.equal(cancelTx.final().status, 200);
    assert.deepEqual(r.tx.statuses(), [200]);
    assert.equal(r.h.manager.list()[0].state, 'answered');
    assert.equal(r.h.stack.byMethod('BYE').length, 0);
  });
});

describe('hang-up', () => {
  it('(10) BYE from the caller: 200, BYE on the callee leg above the INVITE\'s CSeq, record answered by caller', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    const ourTag = answerByA(r);
    r.h.clock.advance(5_000);
    const byeTx = new FakeServerTransaction(callerInDialog('BYE', 11, ourTag));
    assert.equal(r.h.manager.handleInDialog(byeTx.request, byeTx), true);
    assert.equal(byeTx.final().status, 200);
    const byes = r.h.stack.byMethod('BYE');
    assert.equal(byes.length, 1, 'no BYE back to the caller');
    const bye = byes[0];
    assert.deepEqual(bye.dest, DEVICE_A);
    assert.equal(bye.req.uri, DEVICE_A_URI);
    assert.equal(bye.req.callId, r.a.req.callId);
    assert.equal(bye.req.fromTag(), r.a.req.fromTag());
    assert.equal(bye.req.toTag(), 'tagA');
    assert.ok((bye.req.cseq()?.seq ?? 0) > (r.a.req.cseq()?.seq ?? Infinity), 'CSeq above the INVITE\'s');
    assert.equal(r.h.manager.count(), 0);
    assert.deepEqual(r.h.records, [{
      callId: CALLER_CALL_ID, domain: 'example.com', caller: '100', callee: '200', startedAt: START, answeredAt: START,
      endedAt: START + 5_000, durationSeconds: 5, disposition: 'answered', finalStatus: 200, hangupBy: 'caller', endReason: null,
    }]);
  });

  it('BYE from the callee: 200, BYE to the caller through its Record-Route, record answered by callee', () => {
    const r = ring();
    const ourTag = answerByA(r);
    const byeTx = new FakeServerTransaction(calleeInDialog(r.a, 'BYE', 5));
    assert.equal(r.h.manager.handleInDialog(byeTx.request, byeTx), true);
    assert.equal(byeTx.final().status, 200);
    const byes = r.h.stack.byMethod('BYE');
    assert.equal(byes.length, 1);
    const bye = byes[0].req;
    assert.deepEqual(byes[0].dest, { transport: 'UDP', address: '198.51.100.50', port: 5060 });
    assert.equal(bye.uri, CALLER_CONTACT);
    assert.deepEqual(bye.getAll('route'), [CALLER_RECORD_ROUTE]);
    assert.equal(bye.callId, CALLER_CALL_ID);
    assert.equal(bye.fromTag(), ourTag);
    assert.equal(bye.toTag(), CALLER_TAG);
    assert.equal(r.h.records[0]?.hangupBy, 'callee');
  });

  it('(13) the caller never ACKs the 200: BYE on both legs, record answered hung up by system', () => {
    const r = ring();
    answerByA(r);
    assert.ok(r.tx.onAckTimeout, 'CallManager watches for the missing ACK');
    r.tx.onAckTimeout();
    const byes = r.h.stack.byMethod('BYE');
    assert.equal(byes.length, 2);
    const toCaller = byes.find((s) => s.req.callId === CALLER_CALL_ID);
    const toCallee = byes.find((s) => s.req.callId === r.a.req.callId);
    assert.ok(toCaller && toCallee);
    assert.deepEqual(toCaller.dest, { transport: 'UDP', address: '198.51.100.50', port: 5060 });
    assert.deepEqual(toCallee.dest, DEVICE_A);
    assert.equal(r.h.manager.count(), 0);
    assert.deepEqual([r.h.records[0]?.disposition, r.h.records[0]?.hangupBy, r.h.records[0]?.finalStatus, r.h.records[0]?.endReason], ['answered', 'system', 200, 'ack_timeout']);
  });

  it('(13) an ACK timeout after the caller did ACK changes nothing', () => {
    const r = ring();
    const ourTag = answerByA(r);
    r.h.manager.handleAck(callerInDialog('ACK', 10, ourTag));
    r.tx.onAckTimeout?.();
    assert.equal(r.h.stack.byMethod('BYE').length, 0);
    assert.equal(r.h.manager.count(), 1);
    assert.equal(r.h.records.length, 0);
  });

  it('(14) a request in a dialog that ended gets 481, a BYE gets 200; the dialog is forgotten after 32 s', () => {
    const r = ring();
    const ourTag = answerByA(r);
    const byeTx = new FakeServerTransaction(callerInDialog('BYE', 11, ourTag));
    r.h.manager.handleInDialog(byeTx.request, byeTx);
    const sent = r.h.stack.requests.length;

    const infoTx = new FakeServerTransaction(callerInDialog('INFO', 12, ourTag));
    assert.equal(r.h.manager.handleInDialog(infoTx.request, infoTx), true);
    assert.equal(infoTx.final().status, 481);
    const reinviteTx = new FakeServerTransaction(callerInDialog('INVITE', 13, ourTag));
    assert.equal(r.h.manager.handleInDialog(reinviteTx.request, reinviteTx), true);
    assert.equal(reinviteTx.final().status, 481);
    const byeAgainTx = new FakeServerTransaction(callerInDialog('BYE', 14, ourTag));
    r.h.manager.handleInDialog(byeAgainTx.request, byeAgainTx);
    assert.equal(byeAgainTx.final().status, 200);
    const crossedTx = new FakeServerTransaction(calleeInDialog(r.a, 'BYE', 5));
    assert.equal(r.h.manager.handleInDialog(crossedTx.request, crossedTx), true);
    assert.equal(crossedTx.final().status, 200, 'the callee\'s BYE crossed ours');
    assert.equal(r.h.stack.requests.length, sent, 'nothing relayed from an ended dialog');
    assert.equal(r.h.records.length, 1);

    r.h.clock.advance(32_000);
    const lateTx = new FakeServerTransaction(callerInDialog('INFO', 15, ourTag));
    assert.equal(r.h.manager.handleInDialog(lateTx.request, lateTx), false, 'no longer ours');
    assert.equal(lateTx.responses.length, 0);
  });

  it('(16) hangup(id) of a ringing call: 487 to the caller, ringing branches cancelled, record cancelled by system', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    assert.equal(r.h.manager.hangup(r.id), true);
    assert.equal(r.tx.final().status, 487);
    assert.equal(r.h.stack.cancels.length, 1);
    assert.deepEqual(r.h.stack.cancels[0].dest, DEVICE_A);
    deliver(r.b, 180, { tag: 'tagB' });
    assert.equal(r.h.stack.cancels.length, 2);
    assert.deepEqual(r.h.stack.cancels[1].dest, DEVICE_B);
    assert.deepEqual(r.tx.statuses(), [180, 487], 'the late 180 is not relayed');
    assert.equal(r.h.manager.count(), 0);
    assert.deepEqual([r.h.records[0]?.disposition, r.h.records[0]?.finalStatus, r.h.records[0]?.hangupBy, r.h.records[0]?.endReason], ['cancelled', 487, 'system', 'hangup_api']);
    assert.equal(r.h.manager.hangup(r.id), false);
  });

  it('(16) hangup(id) of an answered call: BYE on both legs, record answered by system', () => {
    const r = ring();
    answerByA(r);
    r.h.clock.advance(61_000);
    assert.equal(r.h.manager.hangup(r.id), true);
    const byes = r.h.stack.byMethod('BYE');
    assert.deepEqual(byes.map((s) => s.req.callId).sort(), [CALLER_CALL_ID, r.a.req.callId].sort());
    assert.equal(r.h.manager.count(), 0);
    assert.deepEqual([r.h.records[0]?.disposition, r.h.records[0]?.finalStatus, r.h.records[0]?.hangupBy, r.h.records[0]?.durationSeconds, r.h.records[0]?.endReason], ['answered', 200, 'system', 61, 'hangup_api']);
    assert.equal(r.h.manager.hangup(r.id), false);
    assert.equal(r.h.manager.hangup('no-such-call'), false);
  });

  it('(17) shutdown() ends active calls and refuses new INVITEs with 503', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    r.h.manager.shutdown();
    assert.equal(r.tx.final().status, 487);
    assert.equal(r.h.manager.count(), 0);
    assert.equal(r.h.records[0]?.endReason, 'shutdown');
    const sent = r.h.stack.requests.length;
    const invite = callerInvite();
    const tx = new FakeServerTransaction(invite);
    r.h.manager.handleInvite(invite, tx);
    assert.equal(tx.final().status, 503);
    assert.equal(r.h.stack.requests.length, sent, 'no branch for a refused call');
    assert.equal(r.h.manager.count(), 0);
  });
});

describe('late offer', () => {
  it('(11) the callee is ACKed only when the caller\'s ACK brings the answer, and that ACK carries its SDP', () => {
    const r = ring({ sdp: false });
    assert.equal(r.a.req.body.length, 0);
    assert.equal(r.a.req.has('content-type'), false);
    deliver(r.a, 180, { tag: 'tagA' });
    const ourTag = answerByA(r, { sdp: ANSWER_SDP }); // the callee's offer
    assert.equal(r.h.stack.acks.length, 0, 'our ACK waits for the caller\'s answer');
    assert.equal(r.tx.final().body.toString(), ANSWER_SDP, 'the offer reaches the caller in our 200');
    deliver(r.a, 200, { tag: 'tagA', sdp: ANSWER_SDP }); // retransmitted while we wait
    assert.equal(r.h.stack.acks.length + r.h.stack.resends.length, 0, 'still waiting');
    assert.equal(r.h.stack.byMethod('BYE').length, 0);

    r.h.manager.handleAck(callerInDialog('ACK', 10, ourTag, ['Content-Type: application/sdp'], LATE_ANSWER_SDP));
    assert.equal(r.h.stack.acks.length, 1);
    const { ack, dest } = r.h.stack.acks[0];
    assert.deepEqual(dest, DEVICE_A);
    assert.equal(ack.callId, r.a.req.callId);
    assert.equal(ack.toTag(), 'tagA');
    assert.equal(ack.get('cseq'), '1 ACK');
    assert.equal(ack.get('content-type'), 'application/sdp');
    assert.equal(ack.body.toString(), LATE_ANSWER_SDP);

    deliver(r.a, 200, { tag: 'tagA', sdp: ANSWER_SDP });
    assert.equal(r.h.stack.resends.length, 1, 'a later retransmission gets the same ACK again');
    assert.equal(r.h.stack.resends[0].msg, ack);
  });
});

describe('reliable provisionals (RFC 3262)', () => {
  it('(12) relays a reliable 180 with our RSeq, maps the PRACK back, and the BYE CSeq is above the PRACK\'s', () => {
    const r = ring({ extra: ['Supported: 100rel'] });
    assert.deepEqual(r.a.req.optionTags('supported'), ['100rel']);
    deliver(r.a, 180, { tag: 'tagA', extra: ['Require: 100rel', 'RSeq: 7'] });
    deliver(r.b, 180, { tag: 'tagB', extra: ['Require: 100rel', 'RSeq: 7'] });
    assert.deepEqual(r.tx.statuses(), [180, 180]);
    const [fromA, fromB] = r.tx.responses;
    assert.deepEqual(fromA.optionTags('require'), ['100rel']);
    const oursA = Number(fromA.get('rseq'));
    const oursB = Number(fromB.get('rseq'));
    assert.ok(Number.isInteger(oursA) && Number.isInteger(oursB));
    assert.notEqual(oursA, oursB, 'one RSeq space towards the caller');
    const ourTag = toTagOf(fromA);

    const prackTx = new FakeServerTransaction(callerInDialog('PRACK', 11, ourTag, [`RAck: ${oursA} 10 INVITE`]));
    assert.equal(r.h.manager.handleInDialog(prackTx.request, prackTx), true);
    const pracks = r.h.stack.byMethod('PRACK');
    assert.equal(pracks.length, 1);
    const prack = pracks[0];
    assert.deepEqual(prack.dest, DEVICE_A);
    assert.equal(prack.req.callId, r.a.req.callId);
    assert.equal(prack.req.toTag(), 'tagA');
    assert.equal(prack.req.get('rack'), `7 ${r.a.req.cseq()?.seq} INVITE`);
    const prackSeq = prack.req.cseq()?.seq ?? 0;
    assert.ok(prackSeq > (r.a.req.cseq()?.seq ?? Infinity));
    deliver(prack, 200, { tag: 'tagA', contact: '' });
    assert.equal(prackTx.final().status, 200);

    const prackB = new FakeServerTransaction(callerInDialog('PRACK', 12, ourTag, [`RAck: ${oursB} 10 INVITE`]));
    r.h.manager.handleInDialog(prackB.request, prackB);
    const toB = r.h.stack.byMethod('PRACK')[1];
    assert.deepEqual(toB?.dest, DEVICE_B);
    assert.equal(toB?.req.get('rack'), `7 ${r.b.req.cseq()?.seq} INVITE`);

    answerByA(r);
    const byeTx = new FakeServerTransaction(callerInDialog('BYE', 13, ourTag));
    r.h.manager.handleInDialog(byeTx.request, byeTx);
    const bye = r.h.stack.byMethod('BYE').find((s) => s.req.callId === r.a.req.callId);
    assert.ok(bye);
    assert.ok((bye.req.cseq()?.seq ?? 0) > prackSeq, `BYE CSeq ${bye.req.cseq()?.seq} above the PRACK's ${prackSeq}`);
  });

  it('a PRACK for an RSeq we never sent gets 481', () => {
    const r = ring({ extra: ['Supported: 100rel'] });
    deliver(r.a, 180, { tag: 'tagA', extra: ['Require: 100rel', 'RSeq: 7'] });
    const ourTag = toTagOf(r.tx.responses[0]);
    const prackTx = new FakeServerTransaction(callerInDialog('PRACK', 11, ourTag, ['RAck: 99 10 INVITE']));
    r.h.manager.handleInDialog(prackTx.request, prackTx);
    assert.equal(prackTx.final().status, 481);
    assert.equal(r.h.stack.byMethod('PRACK').length, 0);
  });
});

describe('losing branch retransmissions', () => {
  it('a retransmitted 2xx of a released branch is re-ACKed without a second BYE reusing the same CSeq', () => {
    const r = ring();
    deliver(r.a, 180, { tag: 'tagA' });
    deliver(r.b, 180, { tag: 'tagB' });
    answerByA(r);
    deliver(r.b, 200, { tag: 'tagB', sdp: ANSWER_SDP });
    deliver(r.b, 200, { tag: 'tagB', sdp: ANSWER_SDP }); // our ACK was lost
    const acksToB = r.h.stack.acks.filter((x) => x.ack.callId === r.b.req.callId).length
      + r.h.stack.resends.filter((x) => x.msg.callId === r.b.req.callId).length;
    assert.equal(acksToB, 2, 'each 2xx is acknowledged');
    const byes = r.h.stack.byMethod('BYE').filter((s) => s.req.callId === r.b.req.callId);
    assert.deepEqual(byes.map((s) => s.req.get('cseq')), ['2 BYE'], 'one BYE releases the branch');
  });
});
