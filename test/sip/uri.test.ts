import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatUri, parseUri, unescapeUserPart, uriEquals } from '../../src/sip/uri.js';
import type { SipUri } from '../../src/sip/message.js';

function mustParse(text: string): SipUri {
  const uri = parseUri(text);
  assert.ok(uri, `expected ${text} to parse`);
  return uri;
}

test('sip URI with user, password, host, port, params and headers', () => {
  const u = mustParse('sip:alice:secret@Example.COM:5070;transport=tcp;lr?subject=hi&priority=urgent');
  assert.equal(u.scheme, 'sip');
  assert.equal(u.user, 'alice');
  assert.equal(u.password, 'secret');
  assert.equal(u.host, 'Example.COM');
  assert.equal(u.port, 5070);
  assert.deepEqual({ ...u.params }, { transport: 'tcp', lr: null });
  assert.equal(u.headers, 'subject=hi&priority=urgent');
});

test('scheme is lowercased and parameter names too, values kept', () => {
  const u = mustParse('SIPS:bob@host;Maddr=Multicast.Example.com');
  assert.equal(u.scheme, 'sips');
  assert.deepEqual({ ...u.params }, { maddr: 'Multicast.Example.com' });
});

test('IPv6 references keep their brackets', () => {
  const u = mustParse('sip:[2001:db8::10]:5062;transport=udp');
  assert.equal(u.host, '[2001:db8::10]');
  assert.equal(u.port, 5062);
  assert.equal(mustParse('sip:alice@[::1]').host, '[::1]');
  assert.equal(parseUri('sip:[2001:db8::zz]'), null);
  assert.equal(parseUri('sip:[::1'), null);
  assert.equal(parseUri('sip:[]'), null);
});

test('user part may contain ; ? / and escapes (RFC 4475 semiuri, esc01)', () => {
  const u = mustParse('sip:user;par=u%40example.net@example.com');
  assert.equal(u.user, 'user;par=u%40example.net');
  assert.equal(u.host, 'example.com');
  assert.equal(unescapeUserPart(u.user ?? ''), 'user;par=u@example.net');
  assert.equal(unescapeUserPart('sips%3Auser%40example.com'), 'sips:user@example.com');
  assert.equal(unescapeUserPart('caf%C3%A9'), 'café');
  assert.equal(unescapeUserPart('100%'), '100%');
});

test('tel URI keeps the number opaque and reads its parameters', () => {
  const u = mustParse('tel:+1-201-555-0123;phone-context=example.com');
  assert.equal(u.scheme, 'tel');
  assert.equal(u.opaque, '+1-201-555-0123');
  assert.equal(u.host, '');
  assert.deepEqual({ ...u.params }, { 'phone-context': 'example.com' });
});

test('unknown schemes parse opaquely', () => {
  const u = mustParse('soap.beep://192.0.2.103:3002');
  assert.equal(u.scheme, 'soap.beep');
  assert.equal(u.opaque, '//192.0.2.103:3002');
  assert.equal(u.host, '');
  assert.equal(mustParse('nobodyKnowsThisScheme:totallyopaquecontent').scheme, 'nobodyknowsthisscheme');
});

test('malformed URIs are null', () => {
  for (const bad of [
    '',
    'sip:',
    'sip',
    '<sip:user@example.com>',
    'sip:user@example.com; lr',
    'sip:user@exa mple.com',
    'sip:@example.com',
    'sip:user@',
    'sip:user@example.com:99999',
    'sip:user@example.com:',
    'sip:user@example.com;',
    'sip:user@example.com;a=',
    'sip:us%zzer@example.com',
    'sip:user@example.com?x=%4',
    '1sip:user@example.com',
    'sip:user@exa"mple.com',
    'tel:',
    'sip:user@example.com/path',
    'sip:user@example.com:50x',
    'sip:[::1]x',
  ]) {
    assert.equal(parseUri(bad), null, bad);
  }
});

test('formatUri writes back what parseUri read', () => {
  for (const text of [
    'sip:alice:secret@example.com:5070;transport=tcp;lr?subject=hi',
    'sips:[::1]:5061',
    'sip:%75se%72@example.com',
    'tel:+442079460000;ext=22',
    'urn:service:sos',
  ]) {
    assert.equal(formatUri(mustParse(text)), text);
  }
});

test('uriEquals follows RFC 3261 §19.1.4', () => {
  const eq = (a: string, b: string) => uriEquals(mustParse(a), mustParse(b));
  assert.ok(eq('sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'));
  assert.ok(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'));
  assert.ok(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;newparam=5'));
  assert.ok(!eq('SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'));
  assert.ok(!eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'));
  assert.ok(!eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'));
  assert.ok(!eq('sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;newparam=6'));
  assert.ok(!eq('sip:bob@biloxi.com', 'sips:bob@biloxi.com'));
  assert.ok(eq('tel:+1-201-555-0123', 'tel:+12015550123'));
  assert.ok(!eq('tel:+12015550123', 'tel:+12015550124'));
});

test('a parameter named __proto__ does not touch the prototype', () => {
  const u = mustParse('sip:host;__proto__=x');
  assert.equal(Object.getPrototypeOf(u.params), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(u.params, '__proto__')?.value, 'x');
});
