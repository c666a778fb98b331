import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/sip/parser.js';
import { serialize } from '../../src/sip/serializer.js';
import { SipRequest, SipResponse } from '../../src/sip/message.js';

const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds, SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp1',
  'v: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKlast;rport=5062',
  'Max-Forwards: 70',
  't: Bob <sip:bob@biloxi.example.com>',
  'f: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774',
  'i: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'm: <sip:alice@pc33.atlanta.example.com>',
  'X-Weird-Header:   keeps  inner   spacing ;;,, "odd" <x>',
  'c: application/sdp',
  'l: 4',
  '',
  'v=0\r\nEXTRA',
].join('\r\n');

function parseRequest(text: string | Buffer): SipRequest {
  const r = parseMessage(typeof text === 'string' ? Buffer.from(text) : text);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.ok(r.message instanceof SipRequest);
  return r.message;
}

function parseResponse(text: string): SipResponse {
  const r = parseMessage(Buffer.from(text));
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.ok(r.message instanceof SipResponse);
  return r.message;
}

test('request line, compact headers and typed accessors', () => {
  const req = parseRequest(INVITE);
  assert.equal(req.method, 'INVITE');
  assert.equal(req.uri, 'sip:bob@biloxi.example.com');
  assert.equal(req.version, 'SIP/2.0');
  assert.equal(req.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
  assert.deepEqual(req.cseq(), { seq: 314159, method: 'INVITE' });
  assert.equal(req.fromTag(), '1928301774');
  assert.equal(req.from()?.display, 'Alice Liddell');
  assert.equal(req.to()?.display, 'Bob');
  assert.equal(req.toTag(), undefined);
  assert.equal(req.maxForwards(), 70);
  assert.equal(req.get('Content-Type'), 'application/sdp');
  assert.equal(req.requestUri()?.host, 'biloxi.example.com');
  const contacts = req.contacts();
  assert.ok(Array.isArray(contacts));
  assert.equal(contacts[0].uri.user, 'alice');
});

test('multi-value lines and repeated lines give every Via in order', () => {
  const req = parseRequest(INVITE);
  const vias = req.vias();
  assert.ok(vias);
  assert.deepEqual(vias.map((v) => v.params.branch), ['z9hG4bK776asdhds', 'z9hG4bKp1', 'z9hG4bKlast']);
  assert.equal(vias[2].port, 5062);
  assert.equal(req.topVia()?.host, 'pc33.atlanta.example.com');
  assert.equal(req.headers.filter((h) => h.key === 'via').length, 2);
});

test('body is cut to Content-Length, extra octets ignored', () => {
  const req = parseRequest(INVITE);
  assert.equal(req.body.toString(), 'v=0\r');
});

test('header names are kept as written, values trimmed but otherwise untouched', () => {
  const req = parseRequest(INVITE);
  const weird = req.headers.find((h) => h.key === 'x-weird-header');
  assert.deepEqual(weird, { key: 'x-weird-header', name: 'X-Weird-Header', value: 'keeps  inner   spacing ;;,, "odd" <x>' });
  assert.equal(req.headers[3].name, 't');
  assert.equal(req.headers[3].key, 'to');
});

test('folded lines are unfolded to one space', () => {
  const req = parseRequest(
    'OPTIONS sip:a@b SIP/2.0\r\nSubject: first\r\n   second \r\n\tthird\r\nContact:\r\n  <sip:c@d>\r\nEmpty:\r\nl: 0\r\n\r\n',
  );
  assert.equal(req.get('subject'), 'first second third');
  assert.equal(req.get('contact'), '<sip:c@d>');
  assert.equal(req.get('empty'), '');
});

test('bare LF line endings and leading CRLFs are accepted', () => {
  const req = parseRequest('\r\n\r\nOPTIONS sip:a@b SIP/2.0\nCall-ID: x\nContent-Length: 2\n\nhi');
  assert.equal(req.callId, 'x');
  assert.equal(req.body.toString(), 'hi');
});

test('no Content-Length: the body is the rest of the datagram', () => {
  const req = parseRequest('MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nhello\r\nworld');
  assert.equal(req.body.toString(), 'hello\r\nworld');
});

test('a message without the blank line has an empty body', () => {
  const req = parseRequest('OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nl: 0\r\n');
  assert.equal(req.body.length, 0);
  assert.equal(req.get('content-length'), '0');
});

test('the body is a copy, independent of the input buffer', () => {
  const data = Buffer.from('MESSAGE sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc');
  const req = parseRequest(data);
  data.fill(0);
  assert.equal(req.body.toString(), 'abc');
});

test('responses: status, reason, empty reason, unusual version', () => {
  const ok = parseResponse('SIP/2.0 180 Ringing Now\r\nCall-ID: x\r\n\r\n');
  assert.equal(ok.status, 180);
  assert.equal(ok.reason, 'Ringing Now');
  assert.equal(parseResponse('SIP/2.0 100 \r\n\r\n').reason, '');
  assert.equal(parseResponse('SIP/2.0 100\r\n\r\n').reason, '');
  assert.equal(parseResponse('SIP/3.0 200 OK\r\n\r\n').version, 'SIP/3.0');
});

test('a version other than SIP/2.0 is not a parse failure', () => {
  assert.equal(parseRequest('OPTIONS sip:a@b SIP/7.0\r\n\r\n').version, 'SIP/7.0');
});

test('UTF-8 header values survive', () => {
  const req = parseRequest('MESSAGE sip:a@b SIP/2.0\r\nFrom: "Zoë Ünal" <sip:z@b>;tag=1\r\n\r\n');
  assert.equal(req.from()?.display, 'Zoë Ünal');
});

function expectFailure(text: string, error: string, hasRequest: boolean): void {
  const r = parseMessage(Buffer.from(text));
  assert.equal(r.ok, false, text);
  if (r.ok) return;
  assert.equal(r.error, error);
  assert.equal(r.request !== undefined, hasRequest);
}

test('failures name the fault and keep a best-effort request for the 400', () => {
  expectFailure('', 'Bad Request - Empty message', false);
  expectFailure('\r\n\r\n', 'Bad Request - Empty message', false);
  expectFailure('\x00\x01\x02 garbage', 'Bad Request - Malformed start line', false);
  expectFailure('SIP/2.0 OK\r\n\r\n', 'Bad Request - Malformed Status-Line', false);
  expectFailure('SIP/2.0 12345678901 Big\r\n\r\n', 'Bad Request - Malformed Status-Line', false);
  expectFailure('INVITE  sip:a@b  SIP/2.0\r\nCall-ID: x\r\n\r\n', 'Bad Request - Malformed Request-Line', true);
  expectFailure('INVITE sip:a@b; lr SIP/2.0\r\n\r\n', 'Bad Request - Malformed Request-Line', true);
  expectFailure('INVITE sip:a@b\r\n\r\n', 'Bad Request - Malformed Request-Line', true);
  expectFailure('INVITE sip:a@b HTTP/1.1\r\n\r\n', 'Bad Request - Malformed Request-Line', true);
  expectFailure('INVITE sip:a@b SIP/2.0\r\nNoColonHere\r\n\r\n', 'Bad Request - Malformed header line', true);
  expectFailure('INVITE sip:a@b SIP/2.0\r\n continuation first\r\n\r\n', 'Bad Request - Malformed header line', true);
  expectFailure('INVITE sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n', 'Bad Request - Malformed header name', true);
  expectFailure('INVITE sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n', 'Bad Request - Malformed Content-Length', true);
  expectFailure('INVITE sip:a@b SIP/2.0\r\nl: 5\r\nContent-Length: 13\r\n\r\nabcdefghijklmnop', 'Bad Request - Conflicting Content-Length values', true);
  expectFailure('INVITE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc', 'Bad Request - Content-Length exceeds message', true);
});

test('the best-effort request carries the headers a 400 needs', () => {
  const r = parseMessage(Buffer.from('INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c1\r\nl: 99\r\n\r\n'));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.request?.method, 'INVITE');
  assert.equal(r.request?.callId, 'c1');
  assert.equal(r.request?.topVia()?.params.branch, 'z9hG4bK1');
});

test('serialize writes headers in order with Content-Length from the body, in place', () => {
  const req = parseRequest(INVITE);
  req.body = Buffer.from('v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n');
  const text = serialize(req).toString();
  const lines = text.split('\r\n');
  assert.equal(lines[0], 'INVITE sip:bob@biloxi.example.com SIP/2.0');
  assert.equal(lines[10], 'c: application/sdp');
  assert.equal(lines[11], `l: ${req.body.length}`);
  assert.equal(lines[12], '');
  assert.ok(text.endsWith('\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n'));
});

test('serialize adds Content-Length when missing and writes only one', () => {
  const res = new SipResponse(200, 'OK', [
    { key: 'call-id', name: 'Call-ID', value: 'x' },
    { key: 'content-length', name: 'Content-Length', value: '5' },
    { key: 'content-length', name: 'Content-Length', value: '7' },
  ]);
  assert.equal(serialize(res).toString(), 'SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n');
  const bare = new SipRequest('OPTIONS', 'sip:a@b', [{ key: 'call-id', name: 'Call-ID', value: 'y' }]);
  assert.equal(serialize(bare).toString(), 'OPTIONS sip:a@b SIP/2.0\r\nCall-ID: y\r\nContent-Length: 0\r\n\r\n');
});

test('unknown headers, odd spacing and binary bodies survive parse + serialize byte-exact', () => {
  const body = Buffer.from([0, 1, 2, 13, 10, 13, 10, 255, 254, 128]);
  const head =
    'MESSAGE sip:kumiko@example.org SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543;rport\r\n' +
    'extensionHeader-!.%*+_`\'~: 大きな値 ;;,, "quoted \\" value" <x>\r\n' +
    'UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n' +
    'Content-Length: 10\r\n\r\n';
  const data = Buffer.concat([Buffer.from(head), body]);
  assert.deepEqual(serialize(parseRequest(data)), data);
});
