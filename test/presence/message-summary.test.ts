import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatMessageSummary, parseMessageSummary } from '../../src/presence/message-summary.js';

describe('RFC 3842 message-summary body', () => {
  it('says no messages waiting for an empty mailbox', () => {
    const body = formatMessageSummary('sip:1001@example.com', { newCount: 0, savedCount: 0 });
    assert.equal(body, 'Messages-Waiting: no\r\nMessage-Account: sip:1001@example.com\r\nVoice-Message: 0/0 (0/0)\r\n');
  });

  it('says yes with the new and saved counts when there are new messages', () => {
    const body = formatMessageSummary('sip:1001@example.com', { newCount: 2, savedCount: 1 });
    assert.match(body, /^Messages-Waiting: yes\r\n/);
    assert.match(body, /\r\nVoice-Message: 2\/1 \(0\/0\)\r\n$/);
  });

  it('does not light the lamp for saved messages alone', () => {
    const body = formatMessageSummary('sip:1001@example.com', { newCount: 0, savedCount: 5 });
    assert.equal(parseMessageSummary(body)?.messagesWaiting, false);
    assert.deepEqual(parseMessageSummary(body)?.classes['voice-message'], { newCount: 0, oldCount: 5, urgentNew: 0, urgentOld: 0 });
  });

  it('writes urgent counts in the parentheses', () => {
    const body = formatMessageSummary('sip:7@example.com', { newCount: 3, savedCount: 4, urgentNew: 1, urgentSaved: 2 });
    assert.match(body, /Voice-Message: 3\/4 \(1\/2\)/);
  });

  it('never writes a negative, fractional or non-numeric count', () => {
    const body = formatMessageSummary('sip:7@example.com', { newCount: Number.NaN, savedCount: -3, urgentNew: 1.7 });
    assert.match(body, /^Messages-Waiting: no\r\n/);
    assert.match(body, /Voice-Message: 0\/0 \(1\/0\)/);
  });

  it('reads the example of RFC 3842 §5.1, with several classes and message headers after a blank line', () => {
    const text = [
      'Messages-Waiting: yes',
      'Message-Account: sip:alice@vmail.example.com',
      'Voice-Message: 4/8 (1/2)',
      'Fax-Message: 2/1',
      '',
      'To: <alice@atlanta.example.com>',
      'From: <bob@biloxi.example.com>',
      '',
    ].join('\r\n');
    assert.deepEqual(parseMessageSummary(text), {
      messagesWaiting: true,
      account: 'sip:alice@vmail.example.com',
      classes: {
        'voice-message': { newCount: 4, oldCount: 8, urgentNew: 1, urgentOld: 2 },
        'fax-message': { newCount: 2, oldCount: 1, urgentNew: 0, urgentOld: 0 },
      },
    });
  });

  it('accepts bare LF line ends and any case in names and status', () => {
    const parsed = parseMessageSummary('messages-waiting: NO\nvoice-message: 0/3\n');
    assert.equal(parsed?.messagesWaiting, false);
    assert.equal(parsed?.account, undefined);
    assert.equal(parsed?.classes['voice-message']?.oldCount, 3);
  });

  it('rejects what is not a message summary', () => {
    assert.equal(parseMessageSummary(''), undefined);
    assert.equal(parseMessageSummary('Voice-Message: 1/0\r\n'), undefined, 'status line first');
    assert.equal(parseMessageSummary('Messages-Waiting: maybe\r\n'), undefined);
    assert.equal(parseMessageSummary('Messages-Waiting: yes\r\nVoice-Message: one/two\r\n'), undefined);
    assert.equal(parseMessageSummary('Messages-Waiting: yes\r\ngarbage\r\n'), undefined);
  });

  it('reads back whatever it writes', () => {
    const count = fc.nat({ max: 100_000 });
    fc.assert(
      fc.property(count, count, count, count, fc.constantFrom('1001', '42', 'alice'), (newCount, savedCount, urgentNew, urgentSaved, user) => {
        const account = `sip:${user}@example.com`;
        const parsed = parseMessageSummary(formatMessageSummary(account, { newCount, savedCount, urgentNew, urgentSaved }));
        assert.deepEqual(parsed, {
          messagesWaiting: newCount > 0,
          account,
          classes: { 'voice-message': { newCount, oldCount: savedCount, urgentNew, urgentOld: urgentSaved } },
        });
      }),
    );
  });
});
