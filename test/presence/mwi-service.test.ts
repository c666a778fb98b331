import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MESSAGE_SUMMARY_TYPE } from '../../src/presence/message-summary.js';
import type { SipResponse } from '../../src/sip/message.js';
import {
  answer,
  binding,
  DOMAIN,
  OUR_CONTACT,
  PHONE,
  PHONE_CONTACT,
  send,
  sendInDialog,
  setup,
  subscribe,
  summaryOf,
  voiceCounts,
  type MwiHarness,
} from './mwi-harness.js';

/** Subscribes 1001 to its own mailbox and returns the 200 after checking the first NOTIFY went out. */
function subscribed(h: MwiHarness, expires = '3600'): SipResponse {
  const res = send(h, subscribe({ expires }));
  assert.equal(res.status, 200, res.reason);
  h.stack.takeOne();
  return res;
}

function refresh(h: MwiHarness, ok: SipResponse, cseq: number, expires?: string): SipResponse | undefined {
  return sendInDialog(h, subscribe({ toTag: ok.toTag(), cseq, expires }));
}

describe('MWI subscriptions', () => {
  it('accepts a phone subscribing to its own mailbox: 200 with To tag, Contact and Expires, then a NOTIFY in the new dialog', () => {
    const h = setup();
    const res = send(h, subscribe({ expires: '1800' }));
    assert.equal(res.status, 200);
    const tag = res.toTag();
    assert.ok(tag, 'the 200 carries our To tag');
    assert.equal(res.get('contact'), `<${OUR_CONTACT}>`);
    assert.equal(res.get('expires'), '1800');

    const { req: notify, dest } = h.stack.takeOne();
    assert.equal(notify.method, 'NOTIFY');
    assert.equal(notify.uri, PHONE_CONTACT, 'sent to the Contact of the SUBSCRIBE');
    assert.deepEqual(dest, PHONE, 'over the flow the SUBSCRIBE came in on');
    assert.equal(notify.callId, 'sub-1@198.51.100.7');
    assert.equal(notify.fromTag(), tag, 'our tag as From');
    assert.equal(notify.toTag(), 'phonetag', "the phone's tag as To");
    assert.equal(notify.get('event'), 'message-summary');
    assert.equal(notify.get('subscription-state'), 'active;expires=1800');
    assert.equal(notify.get('content-type'), MESSAGE_SUMMARY_TYPE);
    assert.equal(notify.get('contact'), `<${OUR_CONTACT}>`);
    const summary = summaryOf(notify);
    assert.equal(summary.messagesWaiting, false);
    assert.equal(summary.account, `sip:1001@${DOMAIN}`);
    assert.equal(voiceCounts(notify), '0/0 (0/0)');
  });

  it('reports the counts of the mailbox in the first NOTIFY', () => {
    const h = setup();
    h.counts.set(`1001@${DOMAIN}`, { newCount: 4, savedCount: 7 });
    send(h, subscribe());
    const { req } = h.stack.takeOne();
    assert.equal(summaryOf(req).messagesWaiting, true);
    assert.equal(voiceCounts(req), '4/7 (0/0)');
  });

  it('echoes the Event value with its id parameter in every NOTIFY', () => {
    const h = setup();
    send(h, subscribe({ event: 'message-summary;id=7' }));
    assert.equal(h.stack.takeOne().req.get('event'), 'message-summary;id=7');
  });

  it('grants the default lifetime without Expires and cuts long ones to the maximum', () => {
    const h = setup({ defaultExpires: 1200, maxExpires: 2400 });
    assert.equal(send(h, subscribe({ callId: 'a' })).get('expires'), '1200');
    assert.equal(h.stack.takeOne().req.get('subscription-state'), 'active;expires=1200');
    assert.equal(send(h, subscribe({ callId: 'b', expires: '86400' })).get('expires'), '2400');
    assert.equal(h.stack.takeOne().req.get('subscription-state'), 'active;expires=2400');
  });

  it('answers 423 with Min-Expires to a lifetime below the minimum, and keeps nothing', () => {
    const h = setup({ minExpires: 120 });
    const res = send(h, subscribe({ expires: '30' }));
    assert.equal(res.status, 423);
    assert.equal(res.get('min-expires'), '120');
    assert.ok(res.toTag(), 'a final response to an out-of-dialog request carries a To tag');
    assert.equal(h.stack.sent.length, 0);
  });

  it('answers 400 to an Expires that is not a number', () => {
    const h = setup();
    assert.equal(send(h, subscribe({ expires: 'soon' })).status, 400);
  });

  it('answers 489 with Allow-Events to another event package or none', () => {
    const h = setup();
    for (const event of ['presence', 'dialog', null]) {
      const res = send(h, subscribe({ event }));
      assert.equal(res.status, 489, String(event));
      assert.equal(res.get('allow-events'), 'message-summary');
    }
    assert.equal(h.stack.sent.length, 0);
  });

  it('answers 406 when the phone does not accept message summaries, and takes wildcards', () => {
    const h = setup();
    const res = send(h, subscribe({ accept: 'application/pidf+xml' }));
    assert.equal(res.status, 406);
    assert.equal(res.get('accept'), MESSAGE_SUMMARY_TYPE);
    assert.equal(send(h, subscribe({ callId: 'w', accept: 'application/*' })).status, 200);
  });

  it('challenges a SUBSCRIBE without credentials with the authenticator\'s 407 and sends nothing', () => {
    const h = setup();
    const res = send(h, subscribe({ authenticatedAs: null }));
    assert.equal(res.status, 407);
    assert.match(res.get('proxy-authenticate') ?? '', /^Digest /);
    assert.equal(h.stack.sent.length, 0);
  });

  it('forbids subscribing to another extension\'s mailbox (403)', () => {
    const h = setup();
    const res = send(h, subscribe({ user: '1001', mailbox: '1002' }));
    assert.equal(res.status, 403);
    assert.match(res.reason, /not your mailbox/);
    assert.equal(h.stack.sent.length, 0);
  });

  it('forbids a mailbox in another domain (403) and answers 404 to a Request-URI without one', () => {
    const h = setup();
    const other = subscribe();
    other.setUri('sip:1001@other.com');
    assert.equal(send(h, other).status, 403);
    const noUser = subscribe({ callId: 'n' });
    noUser.setUri(`sip:${DOMAIN}`);
    assert.equal(send(h, noUser).status, 404);
  });

  it('refreshes with a re-SUBSCRIBE in the dialog: 200, a NOTIFY with the new lifetime, and no expiry at the old time', () => {
    const h = setup();
    const ok = subscribed(h, '600');
    h.clock.advance(500_000);
    const res = refresh(h, ok, 2, '600');
    assert.equal(res?.status, 200);
    assert.equal(res?.get('expires'), '600');
    assert.equal(res?.toTag(), ok.toTag(), 'the same dialog');
    const { req } = h.stack.takeOne();
    assert.equal(req.get('subscription-state'), 'active;expires=600');
    h.clock.advance(200_000);
    assert.equal(h.stack.sent.length, 0, 'still active past the first lifetime');
    h.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(h.stack.takeOne().req.get('subscription-state'), 'active;expires=400');
  });

  it('numbers the NOTIFYs of one dialog with rising CSeqs', () => {
    const h = setup();
    send(h, subscribe());
    h.mwi.mailboxChanged(DOMAIN, '1001');
    h.mwi.mailboxChanged(DOMAIN, '1001');
    const seqs = h.stack.take().map((s) => s.req.cseq()?.seq ?? 0);
    assert.equal(seqs.length, 3);
    assert.ok(seqs[0] < seqs[1] && seqs[1] < seqs[2], seqs.join(','));
  });

  it('ends the subscription on Expires: 0 with a terminated NOTIFY carrying the state, and forgets the dialog', () => {
    const h = setup();
    h.counts.set(`1001@${DOMAIN}`, { newCount: 1, savedCount: 0 });
    const ok = subscribed(h);
    const res = refresh(h, ok, 2, '0');
    assert.equal(res?.status, 200);
    assert.equal(res?.get('expires'), '0');
    const { req } = h.stack.takeOne();
    assert.equal(req.get('subscription-state'), 'terminated;reason=timeout');
    assert.equal(voiceCounts(req), '1/0 (0/0)');
    assert.equal(refresh(h, ok, 3, '600'), undefined, 'the dialog is gone: the router answers 481');
    assert.equal(h.clock.pending(), 0, 'no expiry timer left');
  });

  it('answers an out-of-dialog SUBSCRIBE with Expires: 0 once (a fetch) and keeps nothing', () => {
    const h = setup();
    h.location.update([], [binding('1001', PHONE_CONTACT, PHONE)]);
    const res = send(h, subscribe({ expires: '0' }));
    assert.equal(res.status, 200);
    assert.equal(res.get('expires'), '0');
    assert.equal(h.stack.takeOne().req.get('subscription-state'), 'terminated;reason=timeout');
    h.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(h.stack.takeOne().req.get('to'), `<sip:1001@${DOMAIN}>`, 'no subscription: the change goes out unsolicited');
  });

  it('sends a terminated NOTIFY when the subscription expires unrefreshed', () => {
    const h = setup();
    const ok = subscribed(h, '120');
    h.clock.advance(119_999);
    assert.equal(h.stack.sent.length, 0);
    h.clock.advance(1);
    assert.equal(h.stack.takeOne().req.get('subscription-state'), 'terminated;reason=timeout');
    assert.equal(refresh(h, ok, 2, '120'), undefined);
  });

  it('answers 423 to a too brief refresh and keeps the subscription as it was', () => {
    const h = setup();
    const ok = subscribed(h, '600');
    const res = refresh(h, ok, 2, '5');
    assert.equal(res?.status, 423);
    assert.equal(res?.get('min-expires'), '60');
    h.clock.advance(599_000);
    assert.equal(h.stack.sent.length, 0);
    h.clock.advance(1_000);
    assert.equal(h.stack.takeOne().req.get('subscription-state'), 'terminated;reason=timeout');
  });

  it('answers 500 to a re-SUBSCRIBE with an old CSeq, 489 to another event, 405 to other methods', () => {
    const h = setup();
    const ok = subscribed(h);
    assert.equal(refresh(h, ok, 5)?.status, 200);
    h.stack.take();
    assert.equal(refresh(h, ok, 5)?.status, 500);
    assert.equal(sendInDialog(h, subscribe({ toTag: ok.toTag(), cseq: 6, event: 'presence' }))?.status, 489);
    const bye = sendInDialog(h, subscribe({ toTag: ok.toTag(), cseq: 7, method: 'BYE' }));
    assert.equal(bye?.status, 405);
    assert.equal(bye?.get('allow'), 'SUBSCRIBE');
    assert.equal(h.stack.sent.length, 0);
  });

  it('does not claim in-dialog requests of other dialogs', () => {
    const h = setup();
    subscribed(h);
    assert.equal(sendInDialog(h, subscribe({ toTag: 'someone-elses', cseq: 2 })), undefined);
  });

  it('follows a refreshed Contact', () => {
    const h = setup();
    const ok = subscribed(h);
    const moved = 'sip:1001@198.51.100.7:6000';
    sendInDialog(h, subscribe({ toTag: ok.toTag(), cseq: 2, contact: moved }));
    assert.equal(h.stack.takeOne().req.uri, moved);
  });

  for (const status of [481, 408]) {
    it(`drops the subscription when a NOTIFY is answered ${status}`, () => {
      const h = setup({ unsolicited: false });
      send(h, subscribe());
      answer(h.stack.takeOne(), status);
      h.mwi.mailboxChanged(DOMAIN, '1001');
      assert.equal(h.stack.sent.length, 0);
      assert.equal(h.clock.pending(), 0, 'its expiry timer is cleared');
    });
  }

  it('drops the subscription when a NOTIFY times out or cannot be sent', () => {
    const h = setup({ unsolicited: false });
    send(h, subscribe({ callId: 'timeout' }));
    h.stack.takeOne().user.onTimeout();
    send(h, subscribe({ callId: 'transport' }));
    h.stack.takeOne().user.onTransportError(new Error('ECONNREFUSED'));
    h.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(h.stack.sent.length, 0);
  });

  it('keeps the subscription when a NOTIFY is answered 200', () => {
    const h = setup();
    send(h, subscribe());
    answer(h.stack.takeOne(), 200);
    h.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(h.stack.takeOne().req.get('subscription-state'), 'active;expires=3600');
  });
});

describe('MWI notifications on mailbox changes', () => {
  it('notifies every subscription of the mailbox with the new counts and the lifetime left', () => {
    const h = setup();
    send(h, subscribe({ callId: 'desk' }));
    send(h, subscribe({ callId: 'softphone' }));
    send(h, subscribe({ user: '1002', callId: 'other' }));
    h.stack.take();
    h.clock.advance(600_000);
    h.counts.set(`1001@${DOMAIN}`, { newCount: 2, savedCount: 1 });
    h.mwi.mailboxChanged(DOMAIN, '1001');
    const sent = h.stack.take();
    assert.deepEqual(sent.map((s) => s.req.callId).sort(), ['desk', 'softphone']);
    for (const { req } of sent) {
      assert.equal(req.get('subscription-state'), 'active;expires=3000');
      assert.equal(summaryOf(req).messagesWaiting, true);
      assert.equal(voiceCounts(req), '2/1 (0/0)');
    }
  });

  it('sends unsolicited NOTIFYs to each registered contact when nobody subscribed', () => {
    const h = setup();
    const desk = { transport: 'UDP' as const, address: '192.0.2.10', port: 5060 };
    const mobile = { transport: 'TCP' as const, address: '192.0.2.11', port: 40000 };
    h.location.update([], [binding('1001', 'sip:1001@192.0.2.10', desk), binding('1001', 'sip:1001@10.0.0.5:5070;transport=tcp', mobile)]);
    h.counts.set(`1001@${DOMAIN}`, { newCount: 3, savedCount: 0 });
    h.mwi.mailboxChanged(DOMAIN, '1001');
    const sent = h.stack.take();
    assert.deepEqual(sent.map((s) => s.req.uri).sort(), ['sip:1001@10.0.0.5:5070;transport=tcp', 'sip:1001@192.0.2.10']);
    assert.deepEqual(sent.map((s) => s.dest).sort((a, b) => a.port - b.port), [desk, mobile], 'to where each REGISTER came from');
    for (const { req } of sent) {
      assert.equal(req.method, 'NOTIFY');
      assert.equal(req.get('event'), 'message-summary');
      assert.equal(req.get('subscription-state'), 'active');
      assert.equal(req.get('content-type'), MESSAGE_SUMMARY_TYPE);
      assert.equal(req.get('to'), `<sip:1001@${DOMAIN}>`);
      assert.ok(req.fromTag(), 'a From tag');
      assert.equal(req.get('cseq'), '1 NOTIFY');
      assert.equal(voiceCounts(req), '3/0 (0/0)');
    }
    assert.notEqual(sent[0].req.callId, sent[1].req.callId, 'a request of its own for each contact');
  });

  it('sends nothing unsolicited when that is turned off, or when the extension is not registered', () => {
    const off = setup({ unsolicited: false });
    off.location.update([], [binding('1001', PHONE_CONTACT, PHONE)]);
    off.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(off.stack.sent.length, 0);
    const on = setup();
    on.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(on.stack.sent.length, 0);
  });

  it('tells a newly registered phone of new messages at once, unsolicited, and nothing when none are new', () => {
    const h = setup();
    const desk = binding('1001', 'sip:1001@192.0.2.10', { transport: 'UDP', address: '192.0.2.10', port: 5060 });
    h.counts.set(`1001@${DOMAIN}`, { newCount: 2, savedCount: 1 });
    h.mwi.phoneRegistered(DOMAIN, '1001', [desk]);
    const { req, dest } = h.stack.takeOne();
    assert.equal(req.uri, 'sip:1001@192.0.2.10');
    assert.deepEqual(dest, { transport: 'UDP', address: '192.0.2.10', port: 5060 });
    assert.equal(voiceCounts(req), '2/1 (0/0)');
    h.counts.set(`1001@${DOMAIN}`, { newCount: 0, savedCount: 4 });
    h.mwi.phoneRegistered(DOMAIN, '1001', [desk]);
    assert.equal(h.stack.sent.length, 0, 'a phone that just started shows no waiting messages anyway');
  });

  it('leaves a newly registered phone to subscribe when the mailbox has subscribers, or unsolicited MWI is off', () => {
    const h = setup();
    h.counts.set(`1001@${DOMAIN}`, { newCount: 2, savedCount: 0 });
    send(h, subscribe());
    h.stack.take();
    h.mwi.phoneRegistered(DOMAIN, '1001', [binding('1001', 'sip:1001@192.0.2.10', { transport: 'UDP', address: '192.0.2.10', port: 5060 })]);
    assert.equal(h.stack.sent.length, 0);
    const off = setup({ unsolicited: false });
    off.counts.set(`1001@${DOMAIN}`, { newCount: 2, savedCount: 0 });
    off.mwi.phoneRegistered(DOMAIN, '1001', [binding('1001', PHONE_CONTACT, PHONE)]);
    assert.equal(off.stack.sent.length, 0);
  });

  it('notifies only the subscription when the mailbox has one, not the registered contacts too', () => {
    const h = setup();
    h.location.update([], [binding('1001', 'sip:1001@192.0.2.10', { transport: 'UDP', address: '192.0.2.10', port: 5060 })]);
    send(h, subscribe());
    h.stack.take();
    h.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(h.stack.takeOne().req.uri, PHONE_CONTACT);
  });

  it('survives a voicemail store that cannot count and a transport that cannot send', () => {
    const h = setup();
    send(h, subscribe());
    h.stack.take();
    h.failCounts(new Error('database is locked'));
    assert.doesNotThrow(() => h.mwi.mailboxChanged(DOMAIN, '1001'));
    assert.equal(h.stack.sent.length, 0, 'no NOTIFY without counts');
    h.failCounts(undefined);
    h.stack.failWith = new Error('no route');
    assert.doesNotThrow(() => h.mwi.mailboxChanged(DOMAIN, '1001'));
    h.stack.failWith = undefined;
    h.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(h.stack.sent.length, 0, 'a NOTIFY that could not be sent ends the subscription');
  });
});

describe('MWI when the voicemail store fails', () => {
  it('answers a SUBSCRIBE with an error and keeps nothing, rather than a subscription without its first NOTIFY', () => {
    const h = setup();
    h.failCounts(new Error('database is locked'));
    assert.throws(() => send(h, subscribe()), /database is locked/, 'the stack turns the exception into a 500');
    h.failCounts(undefined);
    h.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(h.stack.sent.length, 0, 'no subscription was kept');
  });

  it('still ends an expired subscription, with a NOTIFY without body', () => {
    const h = setup();
    subscribed(h, '60');
    h.failCounts(new Error('database is locked'));
    h.clock.advance(60_000);
    const { req } = h.stack.takeOne();
    assert.equal(req.get('subscription-state'), 'terminated;reason=timeout');
    assert.equal(req.body.length, 0);
    assert.equal(req.get('content-type'), undefined);
  });
});

describe('MWI shutdown', () => {
  it('ends every subscription with a terminated NOTIFY telling phones to come back later, clears its timers and refuses new ones', () => {
    const h = setup();
    send(h, subscribe({ callId: 'one' }));
    send(h, subscribe({ user: '1002', callId: 'two' }));
    h.stack.take();
    h.mwi.close();
    const sent = h.stack.take();
    assert.deepEqual(sent.map((s) => s.req.callId).sort(), ['one', 'two']);
    for (const { req } of sent) assert.equal(req.get('subscription-state'), 'terminated;reason=probation;retry-after=30');
    assert.equal(h.clock.pending(), 0);
    assert.equal(send(h, subscribe({ callId: 'late' })).status, 503);
    h.mwi.mailboxChanged(DOMAIN, '1001');
    assert.equal(h.stack.sent.length, 0);
  });
});
