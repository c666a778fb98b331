// What the message layer makes of each RFC 4475 torture message. Server-level answers (420, 415,
// 406, 483, ...) are tested against the running server; here we check parse + validation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/sip/parser.js';
import { validateRequest, validateResponse } from '../../src/sip/validate.js';
import { serialize } from '../../src/sip/serializer.js';
import { parseCredentials } from '../../src/sip/headers.js';
import { SipRequest, SipResponse } from '../../src/sip/message.js';
import { readTorture, tortureNames } from './torture-messages.js';

type Outcome = 'valid' | 'reject-400' | 'drop' | 505 | 416;

// Where RFC 4475 allows either 400 or a liberal reading (trws, baddate, regbadct, badaspec, baddn),
// the choice made by this parser is pinned so that a change of behaviour is noticed.
const EXPECTED: Record<string, Outcome> = {
  wsinv: 'valid', intmeth: 'valid', esc01: 'valid', escnull: 'valid', esc02: 'valid', lwsdisp: 'valid',
  longreq: 'valid', dblreq: 'valid', semiuri: 'valid', transports: 'valid', mpart01: 'valid',
  unreason: 'valid', noreason: 'valid',
  badinv01: 'reject-400', clerr: 'reject-400', scalar02: 'reject-400', quotbal: 'reject-400',
  ltgtruri: 'reject-400', lwsruri: 'reject-400', lwsstart: 'reject-400', trws: 'valid', escruri: 'reject-400',
  baddate: 'valid', regbadct: 'reject-400', badaspec: 'reject-400', baddn: 'reject-400', badvers: 505,
  mismatch01: 'reject-400', mismatch02: 'reject-400', multi01: 'reject-400', mcl01: 'reject-400',
  insuf: 'reject-400', ncl: 'reject-400',
  scalarlg: 'drop', bigcode: 'drop',
  badbranch: 'valid', bcast: 'valid',
  unkscm: 416, novelsc: 416, unksm2: 'valid', bext01: 'valid', invut: 'valid', regaut01: 'valid',
  zeromf: 'valid', cparam01: 'valid', cparam02: 'valid', regescrt: 'valid', sdp01: 'valid', inv2543: 'valid',
};

function outcomeOf(data: Buffer): Outcome | string {
  const r = parseMessage(data);
  if (!r.ok) {
    if (!r.request) return 'drop';
    assert.match(r.error, /^Bad Request - /);
    return 'reject-400';
  }
  if (r.message instanceof SipResponse) return validateResponse(r.message) ? 'valid' : 'drop';
  const fault = validateRequest(r.message);
  if (!fault) return 'valid';
  if (fault.status === 400) {
    assert.match(fault.reason, /^Bad Request - /);
    return 'reject-400';
  }
  return fault.status === 505 || fault.status === 416 ? fault.status : `unexpected ${fault.status} ${fault.reason}`;
}

function parsedRequest(name: string): SipRequest {
  const r = parseMessage(readTorture(name));
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.ok(r.message instanceof SipRequest);
  return r.message;
}

function parsedResponse(name: string): SipResponse {
  const r = parseMessage(readTorture(name));
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.ok(r.message instanceof SipResponse);
  return r.message;
}

test('all 49 torture messages are present and covered', () => {
  assert.equal(tortureNames().length, 49);
  assert.deepEqual(tortureNames(), Object.keys(EXPECTED).sort());
});

for (const name of Object.keys(EXPECTED).sort()) {
  test(`rfc4475 ${name}: ${EXPECTED[name]}`, () => {
    assert.equal(outcomeOf(readTorture(name)), EXPECTED[name]);
  });
}

test('wsinv: whitespace everywhere is read correctly', () => {
  const req = parsedRequest('wsinv');
  assert.deepEqual(req.cseq(), { seq: 9, method: 'INVITE' });
  assert.equal(req.maxForwards(), 68);
  assert.equal(req.toTag(), '1918181833n');
  assert.equal(req.fromTag(), '98asjd8');
  assert.equal(req.from()?.display, 'J Rosenberg \\"');
  assert.deepEqual(req.vias()?.map((v) => `${v.transport} ${v.host} ${v.params.branch}`), [
    'UDP 192.0.2.2 390skdjuw',
    'TCP spindle.example.com z9hG4bK9ikj8',
    'UDP 192.168.255.111 z9hG4bK30239',
  ]);
  const contacts = req.contacts();
  assert.ok(Array.isArray(contacts));
  assert.equal(contacts[0].display, 'Quoted string ""');
  assert.deepEqual({ ...contacts[0].params }, { newparam: 'newvalue', secondparam: null, q: '0.33' });
  assert.equal(req.get('NewFangledHeader'), 'newfangled value continued newfangled value');
  assert.equal(req.get('s'), '');
  assert.equal(req.body.length, 150);
});

test('intmeth: unusual method, URI and display names', () => {
  const req = parsedRequest('intmeth');
  assert.equal(req.method, "!interesting-Method0123456789_*+`.%indeed'~");
  assert.equal(req.cseq()?.method, req.method);
  assert.equal(req.requestUri()?.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  assert.equal(req.to()?.display, 'BEL:\x07 NUL:\x00 DEL:\x7f');
  assert.equal(req.from()?.display, "token1~` token2'+_ token3*%!.-");
  assert.equal(req.fromTag(), "_token~1'+`*%!-.");
  assert.equal(req.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
});

test('esc02: the escaped method is not REGISTER and C%6Fntact is another header', () => {
  const req = parsedRequest('esc02');
  assert.equal(req.method, 'RE%47IST%45R');
  assert.notEqual(req.method, 'REGISTER');
  const contacts = req.contacts();
  assert.ok(Array.isArray(contacts));
  assert.deepEqual(contacts.map((c) => c.uri.host), ['host1.example.com', 'host3.example.com']);
  assert.equal(req.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
});

test('dblreq: only the first message, body cut at Content-Length', () => {
  const req = parsedRequest('dblreq');
  assert.equal(req.method, 'REGISTER');
  assert.equal(req.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
  assert.equal(req.body.length, 0);
});

test('esc01 and escnull keep escapes in the user part', () => {
  assert.equal(parsedRequest('esc01').requestUri()?.user, 'sips%3Auser%40example.com');
  const contacts = parsedRequest('escnull').contacts();
  assert.ok(Array.isArray(contacts));
  assert.deepEqual(contacts.map((c) => c.uri.user), ['%00', '%00%00']);
});

test('longreq: 34 Via values in any spelling of Via, long display name', () => {
  const req = parsedRequest('longreq');
  assert.equal(req.vias()?.length, 34);
  assert.equal(req.topVia()?.host, 'sip33.example.com');
  assert.match(req.to()?.display ?? '', /^I have a user name of (extreme){10} proportion$/);
  assert.equal(req.to()?.uri.port, 6000);
  assert.equal(req.body.length, 150);
});

test('lwsdisp, semiuri, transports, mpart01, inv2543, unksm2 details', () => {
  assert.equal(parsedRequest('lwsdisp').from()?.display, 'caller');
  assert.equal(parsedRequest('semiuri').requestUri()?.user, 'user;par=u%40example.net');
  assert.deepEqual(parsedRequest('transports').vias()?.map((v) => v.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
  const mpart = parsedRequest('mpart01');
  assert.equal(mpart.body.length, 553);
  assert.ok(mpart.body.subarray(mpart.body.length - 22).toString().startsWith('--7a9cbec02ceef655--'));
  const old = parsedRequest('inv2543');
  assert.equal(old.maxForwards(), undefined);
  assert.equal(old.topVia()?.params.branch, undefined);
  assert.ok(old.body.toString().startsWith('v=0'));
  const unk = parsedRequest('unksm2');
  assert.equal(unk.to()?.uri.scheme, 'isbn');
  assert.equal(unk.from()?.uri.scheme, 'http');
});

test('regaut01: unknown authorization scheme parses with its scheme', () => {
  const cred = parseCredentials(parsedRequest('regaut01').get('authorization') ?? '');
  assert.equal(cred?.scheme, 'NoOneKnowsThisScheme');
});

test('zeromf and bext01 parse; the server decides what to answer', () => {
  assert.equal(parsedRequest('zeromf').maxForwards(), 0);
  assert.deepEqual(parsedRequest('bext01').optionTags('require'), ['nothingsupportsthis', 'nothingsupportsthiseither']);
});

test('responses: unreason, noreason, bcast', () => {
  assert.equal(parsedResponse('unreason').status, 200);
  assert.ok(parsedResponse('unreason').reason.startsWith('= 2**3 * 5**2 '));
  assert.equal(parsedResponse('noreason').reason, '');
  assert.equal(parsedResponse('bcast').vias()?.[1].host, '255.255.255.255');
});

test('clerr and ncl fail at parse time with a request for the 400', () => {
  for (const [name, error] of [
    ['clerr', 'Bad Request - Content-Length exceeds message'],
    ['ncl', 'Bad Request - Malformed Content-Length'],
    ['mcl01', 'Bad Request - Conflicting Content-Length values'],
  ]) {
    const r = parseMessage(readTorture(name));
    assert.equal(r.ok, false);
    if (r.ok) continue;
    assert.equal(r.error, error);
    assert.ok(r.request?.callId.startsWith(`${name}.`));
  }
});

function contactLine(data: Buffer): string | undefined {
  return data.toString('latin1').split('\r\n').find((line) => /^(Contact|M):/i.test(line));
}

test('regescrt, cparam01, cparam02: Contact values byte-exact after serialize', () => {
  for (const name of ['regescrt', 'cparam01', 'cparam02']) {
    const data = readTorture(name);
    const line = contactLine(data);
    assert.ok(line);
    assert.equal(contactLine(serialize(parsedRequest(name))), line, name);
  }
  const escaped = parsedRequest('regescrt').contacts();
  assert.ok(Array.isArray(escaped));
  assert.equal(escaped[0].uri.headers, 'Route=%3Csip:sip.example.com%3E');
  const headerParam = parsedRequest('cparam01').contacts();
  assert.ok(Array.isArray(headerParam));
  assert.deepEqual({ ...headerParam[0].params }, { unknownparam: null });
  assert.deepEqual({ ...headerParam[0].uri.params }, {});
  const uriParam = parsedRequest('cparam02').contacts();
  assert.ok(Array.isArray(uriParam));
  assert.deepEqual({ ...uriParam[0].params }, {});
  assert.deepEqual({ ...uriParam[0].uri.params }, { unknownparam: null });
});

test('every valid torture request survives serialize + parse with the same headers and body', () => {
  for (const name of Object.keys(EXPECTED).filter((n) => EXPECTED[n] === 'valid')) {
    const first = parseMessage(readTorture(name));
    assert.ok(first.ok);
    const again = parseMessage(serialize(first.message));
    assert.ok(again.ok, name);
    assert.deepEqual(
      again.message.headers.filter((h) => h.key !== 'content-length'),
      first.message.headers.filter((h) => h.key !== 'content-length'),
      name,
    );
    assert.deepEqual(again.message.body, first.message.body, name);
  }
});
