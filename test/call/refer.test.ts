import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Dialog } from '../../src/dialog/dialog.js';
import { parseReferTo, ReferProgress } from '../../src/call/refer.js';
import type { Endpoint, SipRequest } from '../../src/sip/message.js';
import type { ClientTransactionUser } from '../../src/transaction/layer.js';
import { parse } from './harness.js';

describe('parseReferTo', () => {
  it('reads the number of a blind transfer, unescaping it', () => {
    assert.deepEqual(parseReferTo('<sip:203@pbx.example.com>'), { number: '203', replaces: undefined });
    assert.deepEqual(parseReferTo('"Park" <sip:%2A70%2A5@pbx.example.com;transport=udp>'), { number: '*70*5', replaces: undefined });
    assert.deepEqual(parseReferTo('sip:204@pbx.example.com'), { number: '204', replaces: undefined });
  });

  it('reads the dialog an attended transfer replaces, tags in either order', () => {
    assert.deepEqual(parseReferTo('<sip:203@pbx.example.com?Replaces=abc%40192.0.2.1%3Bto-tag%3Dours%3Bfrom-tag%3Dtheirs>'), {
      number: '203',
      replaces: { callId: 'abc@192.0.2.1', toTag: 'ours', fromTag: 'theirs' },
    });
    assert.deepEqual(parseReferTo('<sip:203@pbx.example.com?Require=replaces&replaces=x%3Bfrom-tag%3Df%3Bto-tag%3Dt>'), {
      number: '203',
      replaces: { callId: 'x', toTag: 't', fromTag: 'f' },
    });
  });

  it('says what is wrong with a Refer-To it cannot use', () => {
    assert.equal(parseReferTo(undefined), 'the REFER has no Refer-To');
    assert.equal(parseReferTo('<not a uri'), 'the Refer-To header cannot be read');
    assert.equal(parseReferTo('<tel:+15551234>'), 'the Refer-To is not a sip: URI with a number');
    assert.equal(parseReferTo('<sip:pbx.example.com>'), 'the Refer-To is not a sip: URI with a number');
    assert.equal(parseReferTo('<sip:203@pbx.example.com?Replaces=abc%3Bto-tag%3Dx>'), 'the Replaces in the Refer-To cannot be read');
  });
});

describe('ReferProgress', () => {
  const refer = parse<SipRequest>([
    'REFER sip:100@192.0.2.10:5060 SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKrefer1',
    'From: <sip:200@pbx.example.com>;tag=phone',
    'To: <sip:100@pbx.example.com>;tag=server',
    'Call-ID: refer-test@192.0.2.21',
    'CSeq: 5 REFER',
    'Contact: <sip:200@192.0.2.21:5060>',
    'Refer-To: <sip:203@pbx.example.com>',
    'Max-Forwards: 70',
  ]);

  function progressWithLog(): { progress: ReferProgress; sent: SipRequest[]; dialog: Dialog } {
    const sent: SipRequest[] = [];
    const stack = { sendRequest: (req: SipRequest, _dest: Endpoint, _user: ClientTransactionUser) => { sent.push(req); return undefined as never; } };
    const dialog = Dialog.asUas(refer, 'server', 'confirmed');
    return { progress: new ReferProgress({ stack, logger: pino({ level: 'silent' }) }, dialog), sent, dialog };
  }

  it('sends sipfrag NOTIFYs in the dialog, the final one terminating the subscription, and nothing after it', () => {
    const { progress, sent } = progressWithLog();
    progress.progress(100);
    progress.finish(200);
    progress.progress(180);
    progress.finish(503);
    assert.equal(sent.length, 2);
    const [trying, ok] = sent as [SipRequest, SipRequest];
    for (const notify of sent) {
      assert.equal(notify.method, 'NOTIFY');
      assert.equal(notify.get('event'), 'refer');
      assert.equal(notify.get('content-type'), 'message/sipfrag;version=2.0');
      assert.equal(notify.callId, 'refer-test@192.0.2.21');
      assert.equal(notify.fromTag(), 'server');
      assert.equal(notify.toTag(), 'phone');
    }
    assert.equal(trying.body.toString(), 'SIP/2.0 100 Trying\r\n');
    assert.equal(trying.get('subscription-state'), 'active;expires=60');
    assert.equal(ok.body.toString(), 'SIP/2.0 200 OK\r\n');
    assert.equal(ok.get('subscription-state'), 'terminated;reason=noresource');
    assert.ok(ok.cseq()!.seq > trying.cseq()!.seq);
  });

  it('sends nothing once the dialog is over', () => {
    const { progress, sent, dialog } = progressWithLog();
    dialog.state = 'terminated';
    progress.finish(200);
    assert.equal(sent.length, 0);
  });
});
