import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalHeaderKey,
  formatNameAddr,
  formatVia,
  parseCredentials,
  parseCSeq,
  parseNameAddr,
  parseParams,
  parseVia,
  splitHeaderValues,
} from '../../src/sip/headers.js';
import type { NameAddr, Via } from '../../src/sip/message.js';

function mustNameAddr(text: string): NameAddr {
  const na = parseNameAddr(text);
  assert.ok(na, `expected ${text} to parse`);
  return na;
}

function mustVia(text: string): Via {
  const via = parseVia(text);
  assert.ok(via, `expected ${text} to parse`);
  return via;
}

test('canonicalHeaderKey maps compact forms and any case to the lowercase long name', () => {
  const compact: Record<string, string> = {
    i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type', f: 'from',
    s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', r: 'refer-to', b: 'referred-by',
    u: 'allow-events', x: 'session-expires', a: 'accept-contact', j: 'reject-contact',
    d: 'request-disposition', y: 'identity', n: 'identity-info',
  };
  for (const [short, long] of Object.entries(compact)) {
    assert.equal(canonicalHeaderKey(short), long);
    assert.equal(canonicalHeaderKey(short.toUpperCase()), long);
  }
  assert.equal(canonicalHeaderKey('MaX-fOrWaRdS'), 'max-forwards');
  assert.equal(canonicalHeaderKey('Call-ID'), 'call-id');
  assert.equal(canonicalHeaderKey('X-Custom'), 'x-custom');
  assert.equal(canonicalHeaderKey('q'), 'q');
});

test('splitHeaderValues respects quotes, escapes and angle brackets', () => {
  assert.deepEqual(splitHeaderValues('a, b ,c'), ['a', 'b', 'c']);
  assert.deepEqual(splitHeaderValues('"Doe, John" <sip:j@x>;q=1, <sip:a,b@y>'), ['"Doe, John" <sip:j@x>;q=1', '<sip:a,b@y>']);
  assert.deepEqual(splitHeaderValues('"say \\"hi, there\\"" <sip:a@b>, <sip:c@d>'), ['"say \\"hi, there\\"" <sip:a@b>', '<sip:c@d>']);
  assert.deepEqual(splitHeaderValues('  only  '), ['only']);
  assert.deepEqual(splitHeaderValues('   '), []);
  assert.deepEqual(splitHeaderValues('a,,b'), ['a', '', 'b']);
});

test('parseParams lowercases names, unquotes values, maps flags to null', () => {
  assert.deepEqual({ ...parseParams(';Tag=AbC;lr; q = 0.5 ;x="a \\"b\\" c"') }, { tag: 'AbC', lr: null, q: '0.5', x: 'a "b" c' });
  assert.deepEqual({ ...parseParams('expires=60;reg-id=1') }, { expires: '60', 'reg-id': '1' });
  assert.deepEqual({ ...parseParams(';a=1;;b=2') }, { a: '1' });
});

test('name-addr with quoted display name, escapes and header params', () => {
  const na = mustNameAddr('"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8;q=0.7');
  assert.equal(na.display, 'J Rosenberg \\"');
  assert.equal(na.uriText, 'sip:jdrosen@example.com');
  assert.equal(na.uri.user, 'jdrosen');
  assert.deepEqual({ ...na.params }, { tag: '98asjd8', q: '0.7' });
});

test('name-addr with token display name, with or without space before <', () => {
  assert.equal(mustNameAddr('A. Bell <sip:a.g.bell@example.com>;tag=x').display, 'A. Bell');
  assert.equal(mustNameAddr('caller<sip:caller@example.com>;tag=323').display, 'caller');
  assert.equal(mustNameAddr('<sip:x@y>').display, undefined);
});

test('addr-spec: parameters after the URI are header parameters', () => {
  const na = mustNameAddr('sip:+19725552222@gw1.example.net;unknownparam;tag=abc');
  assert.deepEqual({ ...na.uri.params }, {});
  assert.deepEqual({ ...na.params }, { unknownparam: null, tag: 'abc' });
  const inside = mustNameAddr('<sip:+19725552222@gw1.example.net;unknownparam>');
  assert.deepEqual({ ...inside.uri.params }, { unknownparam: null });
  assert.deepEqual({ ...inside.params }, {});
  const spaced = mustNameAddr('sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n');
  assert.equal(spaced.params.tag, '1918181833n');
});

test('name-addr with unknown URI schemes', () => {
  assert.equal(mustNameAddr('isbn:2983792873').uri.scheme, 'isbn');
  assert.equal(mustNameAddr('<http://www.example.com>;tag=3234233').params.tag, '3234233');
});

test('malformed name-addr is null', () => {
  for (const bad of [
    '"Mr. J. User <sip:j.user@example.com>',
    '"Watson, Thomas" < sip:t.watson@example.org >',
    'Bell, Alexander <sip:a.g.bell@example.com>;tag=43',
    '<sip:joe@example.org',
    '"Joe" <sip:joe@example.org>;;;;',
    '<sip:joe@example.org> trailing',
    'sip:user@example.com?Route=%3Csip:sip.example.com%3E',
    '<sip:a@b>;tag=',
    '"x" sip:a@b',
    '',
  ]) {
    assert.equal(parseNameAddr(bad), null, bad);
  }
});

test('formatNameAddr quotes the display name and param values that need it', () => {
  const na = mustNameAddr('"Say \\"hi\\"" <sip:a@b;lr>;tag=1;x="two words"');
  const text = formatNameAddr(na);
  assert.equal(text, '"Say \\"hi\\"" <sip:a@b;lr>;tag=1;x="two words"');
  assert.deepEqual(parseNameAddr(text), na);
  assert.equal(formatNameAddr(mustNameAddr('sip:a@b;tag=1')), '<sip:a@b>;tag=1');
});

test('Via with port, received and empty rport', () => {
  const via = mustVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=198.51.100.7');
  assert.equal(via.protocol, 'SIP/2.0');
  assert.equal(via.transport, 'UDP');
  assert.equal(via.host, '192.0.2.1');
  assert.equal(via.port, 5060);
  assert.deepEqual({ ...via.params }, { branch: 'z9hG4bK776', rport: null, received: '198.51.100.7' });
  assert.equal(formatVia(via), 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=198.51.100.7');
});

test('Via with IPv6 sent-by and received', () => {
  const via = mustVia('SIP/2.0/tcp [2001:db8::9]:5061;branch=z9hG4bKx;received=2001:db8::1;rport=5062');
  assert.equal(via.transport, 'TCP');
  assert.equal(via.host, '[2001:db8::9]');
  assert.equal(via.port, 5061);
  assert.equal(via.params.received, '2001:db8::1');
  assert.equal(via.params.rport, '5062');
});

test('Via with LWS around separators (RFC 4475 wsinv)', () => {
  const via = mustVia('SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8');
  assert.equal(via.protocol, 'SIP/2.0');
  assert.equal(via.host, 'spindle.example.com');
  assert.equal(via.params.branch, 'z9hG4bK9ikj8');
});

test('malformed Via is null', () => {
  for (const bad of [
    'SIP/2.0/UDP 192.0.2.15;;',
    'SIP/2.0/UDP',
    'SIP/2.0 192.0.2.1',
    'SIP/2.0/UDP 192.0.2.1:99999',
    'SIP/2.0/UDP 192.0.2.1:',
    'SIP/2.0/UDP [::1',
    'SIP/2.0/UDP host;branch=',
    'SIP/2.0/UDP host junk',
    '',
  ]) {
    assert.equal(parseVia(bad), null, bad);
  }
});

test('CSeq: 32-bit unsigned number and method token', () => {
  assert.deepEqual(parseCSeq('0009 INVITE'), { seq: 9, method: 'INVITE' });
  assert.deepEqual(parseCSeq(' 4294967295   REGISTER '), { seq: 4294967295, method: 'REGISTER' });
  for (const bad of ['4294967296 INVITE', '36893488147419103232 REGISTER', 'INVITE', '1', '1 INVITE x', '-1 INVITE', '1INVITE', '']) {
    assert.equal(parseCSeq(bad), null, bad);
  }
});

test('Digest credentials: names lowercased, values unquoted, commas inside quotes kept', () => {
  const c = parseCredentials(
    'Digest username="alice", realm="pbx.example.com", nonce="a,b", uri="sip:pbx.example.com", ' +
      'response="6629fae49393a05397450978507c4ef1", algorithm=SHA-256, cnonce="0a4f113b", qop=auth, NC=00000001',
  );
  assert.ok(c);
  assert.equal(c.scheme, 'Digest');
  assert.deepEqual({ ...c.params }, {
    username: 'alice',
    realm: 'pbx.example.com',
    nonce: 'a,b',
    uri: 'sip:pbx.example.com',
    response: '6629fae49393a05397450978507c4ef1',
    algorithm: 'SHA-256',
    cnonce: '0a4f113b',
    qop: 'auth',
    nc: '00000001',
  });
});

test('credentials with unknown schemes keep the scheme; malformed Digest is null', () => {
  assert.deepEqual(parseCredentials('NoOneKnowsThisScheme opaque-data=here'), {
    scheme: 'NoOneKnowsThisScheme',
    params: { 'opaque-data': 'here' },
  });
  assert.deepEqual(parseCredentials('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ'), { scheme: 'Basic', params: {} });
  assert.equal(parseCredentials('Digest username="alice'), null);
  assert.equal(parseCredentials('Digest username="alice",'), null);
  assert.equal(parseCredentials(''), null);
});
