// The call manager with a real MediaRelay over a fake relay engine: the relay ports in the SDP each
// party gets, and every way a call ends giving back every leg it opened (docs/media.md).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaRelay } from '../../src/media/relay/media-relay.js';
import { parseSdp, type SdpStream } from '../../src/media/sdp/session-sdp.js';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { FakeRelayEngine } from '../support/fake-relay.js';
import {
  ANSWER_SDP, CALLER_CALL_ID, CALLER_SOURCE, DEVICE_A, DEVICE_B, FakeServerTransaction, LATE_ANSWER_SDP,
  calleeInDialog, callerCancel, callerInDialog, callerInvite, deliver, inviteTo, setup, toTagOf,
  type Harness, type InviteOptions, type SentRequest,
} from './harness.js';

/** our address as the caller and as the callees reach us, told apart to catch a side mixed up */
const TO_CALLER = '203.0.113.1';
const TO_CALLEE = '203.0.113.2';
const MEDIA_TIMEOUT_SECONDS = 60;

interface MediaHarness {
  h: Harness;
  engine: FakeRelayEngine;
}

function withMedia(capacity = 100): MediaHarness {
  const engine = new FakeRelayEngine(capacity);
  const h = setup(undefined, (clock) => new MediaRelay({
    engine,
    clock,
    timeoutSeconds: () => MEDIA_TIMEOUT_SECONDS,
    localAddressFor: (remote) => (remote === CALLER_SOURCE.address ? TO_CALLER : TO_CALLEE),
  }));
  return { h, engine };
}

/** Lets the relay's open() (promises only, no timers) finish. */
function mediaOpened(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Ringing {
  m: MediaHarness;
  h: Harness;
  tx: FakeServerTransaction;
  a: SentRequest;
  b: SentRequest;
  id: string;
}

/** A call from 100 to 200 with its media opened, forked to devices A and B. */
async function ring(m: MediaHarness = withMedia(), opts: InviteOptions = {}): Promise<Ringing> {
  const invite = callerInvite(opts);
  const tx = new FakeServerTransaction(invite);
  m.h.stack.inviteTx = tx;
  m.h.manager.handleInvite(invite, tx);
  await mediaOpened();
  const calls = m.h.manager.list();
  assert.equal(calls.length, 1, `the INVITE started a call (responses: ${tx.statuses().join(',')})`);
  return { m, h: m.h, tx, a: inviteTo(m.h.stack, DEVICE_A), b: inviteTo(m.h.stack, DEVICE_B), id: calls[0]!.id };
}

/** Device A answers with SDP; returns our To tag towards the caller. */
function answerByA(r: Ringing, sdp = ANSWER_SDP): string {
  deliver(r.a, 200, { tag: 'tagA', sdp });
  const ok = r.tx.responses.find((res) => res.status === 200);
  assert.ok(ok, 'the caller got a 200');
  return toTagOf(ok);
}

function audioOf(msg: SipRequest | SipResponse): SdpStream {
  const sdp = parseSdp(msg.body.toString('utf8'));
  assert.ok(sdp, `SDP in the ${'method' in msg ? msg.method : msg.status}`);
  assert.ok(sdp.streams[0]);
  return sdp.streams[0];
}

/** Every leg the call opened is back with the engine, each exactly once. */
function assertLegsBack(engine: FakeRelayEngine, opened = 2): void {
  assert.equal(engine.opened.length, opened, 'legs opened');
  assert.equal(engine.closed, opened, 'legs given back');
  assert.equal(engine.used, 0);
  assert.equal(engine.doubleCloses, 0, 'no leg given back twice');
}

function assertLegsInUse(engine: FakeRelayEngine): void {
  assert.equal(engine.used, 2, 'the call still holds its legs');
}

describe('call manager with the media relay: SDP', () => {
  it('the INVITE to every callee names the callee leg, the 200 to the caller the caller leg', async () => {
    const r = await ring();
    const [callerLeg, calleeLeg] = r.m.engine.opened;
    assert.ok(callerLeg && calleeLeg);
    for (const sent of [r.a, r.b]) {
      const offer = audioOf(sent.req);
      assert.deepEqual([offer.address, offer.port], [TO_CALLEE, calleeLeg.rtpPort]);
    }
    assert.deepEqual(callerLeg.signalled, [{ address: CALLER_SOURCE.address, port: 4000, rtcpPort: 4001, signallingAddress: CALLER_SOURCE.address }]);

    answerByA(r);
    const answer = audioOf(r.tx.final());
    assert.deepEqual([answer.address, answer.port], [TO_CALLER, callerLeg.rtpPort]);
    assert.deepEqual(calleeLeg.signalled, [{ address: DEVICE_A.address, port: 5000, rtcpPort: 5001, signallingAddress: DEVICE_A.address }]);
    assert.deepEqual(r.h.manager.list()[0]?.media.map((s) => [s.caller.relayPort, s.callee?.relayPort]), [[callerLeg.rtpPort, calleeLeg.rtpPort]]);
  });

  it('late offer: the callee\'s offer reaches the caller in the 200, the caller\'s answer in the ACK reaches the callee', async () => {
    const r = await ring(withMedia(), { sdp: false });
    const [callerLeg, calleeLeg] = r.m.engine.opened;
    assert.ok(callerLeg && calleeLeg);
    assert.equal(r.a.req.body.length, 0, 'no offer to pass on');
    const ourTag = answerByA(r);
    const offer = audioOf(r.tx.final());
    assert.deepEqual([offer.address, offer.port], [TO_CALLER, callerLeg.rtpPort]);
    assert.equal(calleeLeg.signalled[0]?.port, 5000);

    r.h.manager.handleAck(callerInDialog('ACK', 10, ourTag, ['Content-Type: application/sdp'], LATE_ANSWER_SDP));
    assert.equal(r.h.stack.acks.length, 1);
    const { ack, dest } = r.h.stack.acks[0]!;
    assert.deepEqual(dest, DEVICE_A);
    const answer = audioOf(ack);
    assert.deepEqual([answer.address, answer.port], [TO_CALLEE, calleeLeg.rtpPort]);
    assert.deepEqual(callerLeg.signalled.map((s) => s.port), [4002]);
  });
});

describe('call manager with the media relay: every way a call ends gives every leg back', () => {
  it('answered, then BYE from the caller', async () => {
    const r = await ring();
    const ourTag = answerByA(r);
    assertLegsInUse(r.m.engine);
    const bye = new FakeServerTransaction(callerInDialog('BYE', 11, ourTag));
    r.h.manager.handleInDialog(bye.request, bye);
    assert.equal(bye.final().status, 200);
    assertLegsBack(r.m.engine);
  });

  it('answered, then BYE from the callee', async () => {
    const r = await ring();
    answerByA(r);
    const bye = new FakeServerTransaction(calleeInDialog(r.a, 'BYE', 5));
    r.h.manager.handleInDialog(bye.request, bye);
    assert.equal(bye.final().status, 200);
    assert.equal(r.h.records[0]?.hangupBy, 'callee');
    assertLegsBack(r.m.engine);
  });

  it('CANCEL while the media is still opening: the legs that open afterwards go straight back', async () => {
    const m = withMedia();
    const release = m.engine.holdOpening();
    const invite = callerInvite();
    const tx = new FakeServerTransaction(invite);
    m.h.stack.inviteTx = tx;
    m.h.manager.handleInvite(invite, tx);
    await mediaOpened();
    const cancel = new FakeServerTransaction(callerCancel());
    m.h.manager.handleCancel(cancel.request, cancel);
    assert.equal(cancel.final().status, 200);
    assert.equal(tx.final().status, 487);
    release();
    await mediaOpened();
    assert.equal(m.h.stack.byMethod('INVITE').length, 0, 'no callee is called for a cancelled call');
    assert.deepEqual(tx.statuses(), [487]);
    assert.equal(m.h.records.length, 1);
    assertLegsBack(m.engine);
  });

  it('CANCEL while ringing', async () => {
    const r = await ring();
    deliver(r.a, 180, { tag: 'tagA' });
    const cancel = new FakeServerTransaction(callerCancel());
    r.h.manager.handleCancel(cancel.request, cancel);
    assert.equal(r.tx.final().status, 487);
    assertLegsBack(r.m.engine);
  });

  for (const [a, b, expected] of [[486, 404, 486], [404, 480, 404], [408, 408, 408]] as const) {
    it(`every branch fails (${a}, ${b}): ${expected} to the caller`, async () => {
      const r = await ring();
      for (const [sent, status] of [[r.a, a], [r.b, b]] as const) {
        if (status === 408) sent.user.onTimeout();
        else deliver(sent, status, { tag: `tag${status}` });
      }
      assert.equal(r.tx.final().status, expected);
      assertLegsBack(r.m.engine);
    });
  }

  it('no answer before the no-answer timeout', async () => {
    const r = await ring();
    deliver(r.a, 180, { tag: 'tagA' });
    r.h.clock.advance(r.h.noAnswerSeconds * 1000);
    assert.equal(r.tx.final().status, 408);
    assertLegsBack(r.m.engine);
  });

  it('a 6xx from one device ends the call', async () => {
    const r = await ring();
    deliver(r.a, 603, { tag: 'tagA' });
    assert.equal(r.tx.final().status, 603);
    assertLegsBack(r.m.engine);
  });

  it('an INVITE whose SDP cannot be read: 488 and no callee called', async () => {
    const m = withMedia();
    const invite = callerInvite();
    invite.body = Buffer.from('this is not a session description');
    const tx = new FakeServerTransaction(invite);
    m.h.manager.handleInvite(invite, tx);
    await mediaOpened();
    assert.equal(tx.final().status, 488);
    assert.equal(m.h.stack.byMethod('INVITE').length, 0);
    assert.deepEqual([m.h.records[0]?.disposition, m.h.records[0]?.finalStatus], ['failed', 488]);
    assertLegsBack(m.engine);
  });

  it('a 2xx whose SDP cannot be read: BYE to that device, 488 to the caller', async () => {
    const r = await ring();
    deliver(r.a, 200, { tag: 'tagA', sdp: 'this is not a session description' });
    assert.equal(r.tx.final().status, 488);
    assert.deepEqual(r.h.stack.byMethod('BYE').map((s) => s.dest), [DEVICE_A]);
    assertLegsBack(r.m.engine);
  });

  it('a late offer in a 2xx that cannot be read: the device gets its ACK, then BYE; 488 to the caller', async () => {
    const r = await ring(withMedia(), { sdp: false });
    deliver(r.a, 200, { tag: 'tagA', sdp: 'this is not a session description' });
    assert.equal(r.tx.final().status, 488);
    // RFC 3261 §13.2.2.4: every 2xx is acknowledged, even one whose offer is refused with BYE
    assert.deepEqual(r.h.stack.acks.map((x) => [x.dest, x.ack.toTag()]), [[DEVICE_A, 'tagA']]);
    assert.deepEqual(r.h.stack.byMethod('BYE').map((s) => s.dest), [DEVICE_A]);
    deliver(r.a, 200, { tag: 'tagA', sdp: 'this is not a session description' });
    assert.equal(r.h.stack.resends.length, 1, 'a retransmitted 2xx gets the ACK again');
    assertLegsBack(r.m.engine);
  });

  for (const capacity of [0, 1]) {
    it(`the port range is used up (room for ${capacity} legs): 503 no media ports, no callee called`, async () => {
      const m = withMedia(capacity);
      const invite = callerInvite();
      const tx = new FakeServerTransaction(invite);
      m.h.manager.handleInvite(invite, tx);
      await mediaOpened();
      const res = tx.final();
      assert.deepEqual([res.status, res.reason], [503, 'Service Unavailable - no media ports']);
      assert.equal(m.h.stack.byMethod('INVITE').length, 0);
      assert.deepEqual([m.h.records[0]?.disposition, m.h.records[0]?.finalStatus, m.h.records[0]?.hangupBy], ['failed', 503, 'system']);
      assert.equal(m.h.manager.count(), 0);
      assertLegsBack(m.engine, capacity);
    });
  }

  it('the caller never ACKs the 200', async () => {
    const r = await ring();
    answerByA(r);
    r.tx.onAckTimeout?.();
    assert.equal(r.h.records[0]?.endReason, 'ack_timeout');
    assertLegsBack(r.m.engine);
  });

  it('hangup through the API, ringing and answered', async () => {
    const ringing = await ring();
    assert.equal(ringing.h.manager.hangup(ringing.id), true);
    assert.equal(ringing.tx.final().status, 487);
    assertLegsBack(ringing.m.engine);

    const answered = await ring();
    answerByA(answered);
    assert.equal(answered.h.manager.hangup(answered.id), true);
    assert.equal(answered.h.records[0]?.endReason, 'hangup_api');
    assertLegsBack(answered.m.engine);
  });

  it('shutdown', async () => {
    const r = await ring();
    answerByA(r);
    r.h.manager.shutdown();
    assert.equal(r.h.records[0]?.endReason, 'shutdown');
    assertLegsBack(r.m.engine);
  });

  it('a second device answering after the winner takes no legs of its own', async () => {
    const r = await ring();
    answerByA(r);
    deliver(r.b, 200, { tag: 'tagB', sdp: ANSWER_SDP });
    assertLegsInUse(r.m.engine);
    assert.equal(r.m.engine.opened.length, 2);
  });

  it('media timeout: BYE on both legs, record media_timeout, legs back', async () => {
    const r = await ring();
    answerByA(r);
    const answeredAt = r.h.clock.now();
    // packets keep the call up; the timeout counts from the newest
    r.h.clock.advance(50_000);
    r.m.engine.opened[1]!.lastReceivedAt = r.h.clock.now();
    r.h.clock.advance(59_000);
    assert.equal(r.h.stack.byMethod('BYE').length, 0);
    assertLegsInUse(r.m.engine);
    r.h.clock.advance(1_000);
    const byes = r.h.stack.byMethod('BYE');
    assert.deepEqual(byes.map((s) => s.req.callId).sort(), [CALLER_CALL_ID, r.a.req.callId].sort());
    assert.equal(r.h.manager.count(), 0);
    const rec = r.h.records[0];
    assert.deepEqual([rec?.disposition, rec?.hangupBy, rec?.endReason, rec?.durationSeconds], ['answered', 'system', 'media_timeout', (r.h.clock.now() - answeredAt) / 1000]);
    assertLegsBack(r.m.engine);
  });
});
