import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/sip/parser.js';
import { validateRequest, validateResponse } from '../../src/sip/validate.js';
import { SipRequest, SipResponse } from '../../src/sip/message.js';

const GOOD_HEADERS = [
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc',
  'Max-Forwards: 70',
  'From: <sip:alice@example.com>;tag=1',
  'To: <sip:bob@example.com>',
  'Call-ID: call-1@192.0.2.1',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@192.0.2.1>',
];

function request(startLine: string, headers: string[], body = ''): SipRequest {
  const r = parseMessage(Buffer.from(`${startLine}\r\n${headers.join('\r\n')}\r\n\r\n${body}`));
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.ok(r.message instanceof SipRequest);
  return r.message;
}

function response(statusLine: string, headers: string[]): SipResponse {
  const r = parseMessage(Buffer.from(`${statusLine}\r\n${headers.join('\r\n')}\r\n\r\n`));
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.ok(r.message instanceof SipResponse);
  return r.message;
}

function replaced(name: string, line: string | null): string[] {
  const out = GOOD_HEADERS.filter((h) => !h.startsWith(`${name}:`));
  return line === null ? out : [...out, line];
}

test('a well-formed request passes', () => {
  assert.equal(validateRequest(request('INVITE sip:bob@example.com SIP/2.0', GOOD_HEADERS)), null);
});

test('version, Request-URI and scheme faults', () => {
  assert.deepEqual(validateRequest(request('INVITE sip:bob@example.com SIP/3.0', GOOD_HEADERS)), {
    status: 505,
    reason: 'Version Not Supported',
  });
  assert.deepEqual(validateRequest(request('INVITE <sip:bob@example.com> SIP/2.0', GOOD_HEADERS)), {
    status: 400,
    reason: 'Bad Request - Malformed Request-URI',
  });
  assert.deepEqual(validateRequest(request('INVITE http://example.com/ SIP/2.0', GOOD_HEADERS)), {
    status: 416,
    reason: 'Unsupported URI Scheme',
  });
  assert.equal(validateRequest(request('INVITE tel:+15551234 SIP/2.0', GOOD_HEADERS)), null);
  assert.equal(validateRequest(request('INVITE sip:bob@example.com?x=y SIP/2.0', GOOD_HEADERS))?.status, 400);
});

test('missing, duplicated and malformed routing headers name the header', () => {
  const cases: Array<[string[], string]> = [
    [replaced('Via', null), 'Bad Request - Missing Via header'],
    [replaced('From', null), 'Bad Request - Missing From header'],
    [replaced('To', null), 'Bad Request - Missing To header'],
    [replaced('Call-ID', null), 'Bad Request - Missing Call-ID header'],
    [replaced('CSeq', null), 'Bad Request - Missing CSeq header'],
    [[...GOOD_HEADERS, 'CSeq: 2 INVITE'], 'Bad Request - Multiple CSeq headers'],
    [[...GOOD_HEADERS, 'i: other'], 'Bad Request - Multiple Call-ID headers'],
    [[...GOOD_HEADERS, 'Max-Forwards: 5'], 'Bad Request - Multiple Max-Forwards headers'],
    [[...GOOD_HEADERS, 't: <sip:x@y>'], 'Bad Request - Multiple To headers'],
    [replaced('Via', 'Via: SIP/2.0/UDP 192.0.2.15;;,;,,'), 'Bad Request - Malformed Via header'],
    [replaced('Via', 'Via:'), 'Bad Request - Malformed Via header'],
    [replaced('From', 'From: "unbalanced <sip:a@b>;tag=1'), 'Bad Request - Malformed From header'],
    [replaced('To', 'To: Watson, Thomas <sip:t@b>'), 'Bad Request - Malformed To header'],
    [replaced('Call-ID', 'Call-ID: has space'), 'Bad Request - Malformed Call-ID header'],
    [replaced('CSeq', 'CSeq: 99999999999 INVITE'), 'Bad Request - Malformed CSeq header'],
    [replaced('CSeq', 'CSeq: 1 OPTIONS'), 'Bad Request - CSeq method mismatch'],
    [replaced('Max-Forwards', 'Max-Forwards: seventy'), 'Bad Request - Malformed Max-Forwards header'],
    [replaced('Contact', 'Contact: "Joe" <sip:joe@example.org>;;;;'), 'Bad Request - Malformed Contact header'],
    [replaced('Contact', 'Contact: *'), 'Bad Request - Malformed Contact header'],
    [[...GOOD_HEADERS, 'Route: <sip:proxy.example.com;lr'], 'Bad Request - Malformed Route header'],
  ];
  for (const [headers, reason] of cases) {
    assert.deepEqual(validateRequest(request('INVITE sip:bob@example.com SIP/2.0', headers)), { status: 400, reason }, reason);
  }
});

test('Content-Length must match the body of a constructed request', () => {
  const req = request('INVITE sip:bob@example.com SIP/2.0', [...GOOD_HEADERS, 'Content-Length: 3'], 'abc');
  assert.equal(validateRequest(req), null);
  req.body = Buffer.from('abcd');
  assert.deepEqual(validateRequest(req), { status: 400, reason: 'Bad Request - Content-Length mismatch' });
});

test('wildcard Contact is fine for REGISTER', () => {
  const headers = replaced('CSeq', 'CSeq: 1 REGISTER').filter((h) => !h.startsWith('Contact:'));
  assert.equal(validateRequest(request('REGISTER sip:example.com SIP/2.0', [...headers, 'Contact: *', 'Expires: 0'])), null);
});

const RESPONSE_HEADERS = [
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;received=192.0.2.9',
  'From: <sip:alice@example.com>;tag=1',
  'To: <sip:bob@example.com>;tag=2',
  'Call-ID: call-1@192.0.2.1',
  'CSeq: 1 INVITE',
];

test('validateResponse accepts good responses and drops broken ones', () => {
  assert.equal(validateResponse(response('SIP/2.0 200 OK', RESPONSE_HEADERS)), true);
  assert.equal(validateResponse(response('SIP/2.0 099 Low', RESPONSE_HEADERS)), false);
  assert.equal(validateResponse(response('SIP/2.0 700 High', RESPONSE_HEADERS)), false);
  assert.equal(validateResponse(response('SIP/2.0 4294967301 Huge', RESPONSE_HEADERS)), false);
  assert.equal(validateResponse(response('SIP/2.0 200 OK', RESPONSE_HEADERS.slice(1))), false);
  assert.equal(validateResponse(response('SIP/2.0 200 OK', ['Via: SIP/2.0/UDP', ...RESPONSE_HEADERS.slice(1)])), false);
  for (let i = 1; i < RESPONSE_HEADERS.length; i++) {
    const without = RESPONSE_HEADERS.filter((_, j) => j !== i);
    assert.equal(validateResponse(response('SIP/2.0 200 OK', without)), false, RESPONSE_HEADERS[i]);
  }
  assert.equal(validateResponse(response('SIP/2.0 200 OK', [...RESPONSE_HEADERS.slice(0, 4), 'CSeq: 9292394834772304023312 OPTIONS'])), false);
});
