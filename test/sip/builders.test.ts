import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createResponse, newBranch, newCallId, newTag, reasonPhrase } from '../../src/sip/builders.js';
import { parseMessage } from '../../src/sip/parser.js';
import { serialize } from '../../src/sip/serializer.js';
import { validateResponse } from '../../src/sip/validate.js';
import { SipRequest } from '../../src/sip/message.js';

function invite(to: string): SipRequest {
  const r = parseMessage(
    Buffer.from(
      'INVITE sip:bob@example.com SIP/2.0\r\n' +
        'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n' +
        'v: SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKz\r\n' +
        'Max-Forwards: 70\r\n' +
        'f: <sip:alice@example.com>;tag=a1\r\n' +
        `To: ${to}\r\n` +
        'Call-ID: c1@192.0.2.1\r\n' +
        'CSeq: 7 INVITE\r\n' +
        'Subject: not copied\r\n' +
        'l: 0\r\n\r\n',
    ),
  );
  assert.ok(r.ok && r.message instanceof SipRequest);
  return r.message;
}

test('createResponse copies Via lines, From, To, Call-ID and CSeq in order', () => {
  const res = createResponse(invite('<sip:bob@example.com>'), 180, undefined, 'b2');
  assert.equal(res.status, 180);
  assert.equal(res.reason, 'Ringing');
  assert.deepEqual(res.headers.map((h) => h.key), ['via', 'via', 'from', 'to', 'call-id', 'cseq']);
  assert.equal(res.headers[1].value, 'SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKz');
  assert.equal(res.toTag(), 'b2');
  assert.equal(res.fromTag(), 'a1');
  assert.equal(res.get('subject'), undefined);
  assert.equal(res.vias()?.length, 3);
  const reparsed = parseMessage(serialize(res));
  assert.ok(reparsed.ok && !reparsed.message.isRequest);
  assert.ok(validateResponse(res));
});

test('createResponse keeps an existing To tag and an unparseable To', () => {
  assert.equal(createResponse(invite('<sip:bob@example.com>;tag=x9'), 200, 'OK', 'new').toTag(), 'x9');
  assert.equal(createResponse(invite('sip:bob@example.com'), 200, 'OK', 'n1').get('to'), 'sip:bob@example.com;tag=n1');
  assert.equal(createResponse(invite('"broken <sip:bob@example.com>'), 400, 'Bad Request', 'n1').get('to'), '"broken <sip:bob@example.com>');
  assert.equal(createResponse(invite('<sip:bob@example.com>'), 100).toTag(), undefined);
});

test('an explicit reason wins over the table', () => {
  assert.equal(createResponse(invite('<sip:b@c>'), 400, 'Bad Request - Malformed CSeq').reason, 'Bad Request - Malformed CSeq');
});

test('reasonPhrase has the common codes and a class default', () => {
  assert.equal(reasonPhrase(200), 'OK');
  assert.equal(reasonPhrase(407), 'Proxy Authentication Required');
  assert.equal(reasonPhrase(416), 'Unsupported URI Scheme');
  assert.equal(reasonPhrase(505), 'Version Not Supported');
  assert.equal(reasonPhrase(499), 'Client Error');
  assert.equal(reasonPhrase(299), 'Success');
});

test('identifiers are random and well-formed', () => {
  const tags = new Set(Array.from({ length: 100 }, newTag));
  assert.equal(tags.size, 100);
  const branch = newBranch();
  assert.match(branch, /^z9hG4bK[A-Za-z0-9_-]{16}$/);
  assert.notEqual(branch, newBranch());
  assert.match(newCallId('192.0.2.1'), /^[0-9a-f-]{36}@192\.0\.2\.1$/);
  assert.match(newCallId(''), /^[0-9a-f-]{36}$/);
});
