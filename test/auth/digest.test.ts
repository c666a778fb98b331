import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Credentials } from '../../src/sip/message.js';
import { computeHa1, type DigestAlgorithm } from '../../src/auth/ha1.js';
import { computeDigestResponse, DigestAuthenticator, type DigestOptions } from '../../src/auth/digest.js';

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');
const REALM = 'example.com';
const USER = 'Mufasa';
const PASSWORD = 'Circle of Life';
const METHOD = 'REGISTER';
const URI = 'sip:example.com';

function makeAuth(overrides: Partial<DigestOptions> = {}): { auth: DigestAuthenticator; clock: { t: number } } {
  const clock = { t: 1_700_000_000_000 };
  const auth = new DigestAuthenticator({
    algorithms: ['MD5', 'SHA-256'], nonceLifetimeSeconds: 300, now: () => clock.t, secret: SECRET, ...overrides,
  });
  return { auth, clock };
}

function lookup(username: string, algorithm: DigestAlgorithm): string | undefined {
  return username === USER ? computeHa1(algorithm, USER, REALM, PASSWORD) : undefined;
}

function nonceOf(challenge: string): string {
  const m = /nonce="([^"]+)"/.exec(challenge);
  assert.ok(m, `no nonce in ${challenge}`);
  return m[1];
}

// Written out from RFC 7616 §3.4.1 without the module under test, so the two can disagree.
function h(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(text).digest('hex');
}

interface Answer {
  algorithm?: DigestAlgorithm;
  omitAlgorithm?: boolean;
  nonce: string;
  username?: string;
  password?: string;
  realm?: string;
  nc?: string;
  cnonce?: string;
  noQop?: boolean;
  uri?: string;
}

function answer(a: Answer): Credentials {
  const algorithm = a.algorithm ?? 'MD5';
  const username = a.username ?? USER;
  const realm = a.realm ?? REALM;
  const uri = a.uri ?? URI;
  const nc = a.nc ?? '00000001';
  const cnonce = a.cnonce ?? 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
  const ha1 = h(algorithm, `${username}:${realm}:${a.password ?? PASSWORD}`);
  const ha2 = h(algorithm, `${METHOD}:${uri}`);
  const params: Record<string, string> = { username, realm, nonce: a.nonce, uri };
  if (!a.omitAlgorithm) params.algorithm = algorithm;
  if (a.noQop) {
    params.response = h(algorithm, `${ha1}:${a.nonce}:${ha2}`);
  } else {
    Object.assign(params, { qop: 'auth', nc, cnonce, response: h(algorithm, `${ha1}:${a.nonce}:${nc}:${cnonce}:auth:${ha2}`) });
  }
  return { scheme: 'Digest', params };
}

test('response matches RFC 2617 §3.5 (MD5, qop=auth)', () => {
  const ha1 = computeHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
  assert.equal(ha1, '939e7578ed9e3c518a452acee763bce9');
  assert.equal(computeDigestResponse({
    algorithm: 'MD5', ha1, nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', method: 'GET', uri: '/dir/index.html',
    qop: 'auth', nc: '00000001', cnonce: '0a4f113b',
  }), '6629fae49393a05397450978507c4ef1');
});

test('response matches RFC 7616 §3.9.1 for MD5 and SHA-256', () => {
  const common = {
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', method: 'GET', uri: '/dir/index.html',
    qop: 'auth', nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };
  const realm = 'http-auth@example.org';
  assert.equal(computeDigestResponse({ ...common, algorithm: 'MD5', ha1: computeHa1('MD5', 'Mufasa', realm, 'Circle of Life') }),
    '8ca523f5e9506fed4657c9700eebdbec');
  assert.equal(computeDigestResponse({ ...common, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', 'Mufasa', realm, 'Circle of Life') }),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
});

test('response without qop matches RFC 2069 §2.4 (value as corrected by its erratum)', () => {
  const ha1 = computeHa1('MD5', 'Mufasa', 'testrealm@host.com', 'CircleOfLife');
  assert.equal(computeDigestResponse({
    algorithm: 'MD5', ha1, nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', method: 'GET', uri: '/dir/index.html',
  }), '1949323746fe6a43ef61f9606e7febea');
});

test('challenges: one per algorithm, MD5 first by default, same nonce', () => {
  const { auth } = makeAuth();
  const [md5, sha] = auth.challenges(REALM);
  assert.match(md5, /^Digest realm="example\.com", nonce="[A-Za-z0-9_-]{40}", algorithm=MD5, qop="auth"$/);
  assert.match(sha, /^Digest realm="example\.com", nonce="[A-Za-z0-9_-]{40}", algorithm=SHA-256, qop="auth"$/);
  assert.equal(nonceOf(md5), nonceOf(sha));
  assert.equal(auth.challenges(REALM).length, 2);
});

test('challenges follow the configured order, and SHA-256 alone offers one', () => {
  const shaFirst = makeAuth({ algorithms: ['SHA-256', 'MD5'] }).auth.challenges(REALM);
  assert.deepEqual(shaFirst.map((c) => /algorithm=([^,]+)/.exec(c)?.[1]), ['SHA-256', 'MD5']);
  const shaOnly = makeAuth({ algorithms: ['SHA-256'] }).auth.challenges(REALM);
  assert.equal(shaOnly.length, 1);
  assert.match(shaOnly[0], /algorithm=SHA-256/);
});

test('stale challenges carry stale=true and fresh nonces differ', () => {
  const { auth } = makeAuth();
  const stale = auth.challenges(REALM, true);
  for (const c of stale) assert.match(c, /, stale=true$/);
  assert.notEqual(nonceOf(stale[0]), nonceOf(auth.challenges(REALM)[0]));
});

test('correct MD5 and SHA-256 answers are accepted', () => {
  const { auth } = makeAuth();
  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    const nonce = nonceOf(auth.challenges(REALM)[0]);
    assert.deepEqual(auth.verify([answer({ nonce, algorithm })], METHOD, REALM, lookup), { outcome: 'ok', username: USER, algorithm });
  }
});

test('missing algorithm parameter means MD5', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  assert.deepEqual(auth.verify([answer({ nonce, omitAlgorithm: true })], METHOD, REALM, lookup), { outcome: 'ok', username: USER, algorithm: 'MD5' });
});

test('RFC 2069-style credentials without qop are accepted when correct', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  assert.equal(auth.verify([answer({ nonce, noQop: true })], METHOD, REALM, lookup).outcome, 'ok');
  assert.equal(auth.verify([answer({ nonce, noQop: true, password: 'x' })], METHOD, REALM, lookup).outcome, 'invalid');
});

test('credentials without qop serve once: a replay of the same answer gets a fresh nonce (stale)', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  const credentials = [answer({ nonce, noQop: true })];
  assert.equal(auth.verify(credentials, METHOD, REALM, lookup).outcome, 'ok');
  assert.equal(auth.verify(credentials, METHOD, REALM, lookup).outcome, 'stale');
});

test('an uppercase hex response is accepted', () => {
  const { auth } = makeAuth();
  const c = answer({ nonce: nonceOf(auth.challenges(REALM)[0]) });
  c.params.response = c.params.response.toUpperCase();
  assert.equal(auth.verify([c], METHOD, REALM, lookup).outcome, 'ok');
});

test('no credentials, or credentials for another realm, are missing', () => {
  const { auth } = makeAuth();
  assert.deepEqual(auth.verify([], METHOD, REALM, lookup), { outcome: 'missing' });
  const nonce = nonceOf(auth.challenges('other.org')[0]);
  assert.deepEqual(auth.verify([answer({ nonce, realm: 'other.org' })], METHOD, REALM, lookup), { outcome: 'missing' });
});

test('picks the credentials for our realm among several', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  const other = answer({ nonce: 'x', realm: 'proxy.example.net' });
  assert.equal(auth.verify([other, answer({ nonce })], METHOD, REALM, lookup).outcome, 'ok');
});

test('prefers the first offered algorithm when the client answers several', () => {
  const { auth } = makeAuth({ algorithms: ['SHA-256', 'MD5'] });
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  const result = auth.verify([answer({ nonce, algorithm: 'MD5' }), answer({ nonce, algorithm: 'SHA-256', nc: '00000002' })], METHOD, REALM, lookup);
  assert.deepEqual(result, { outcome: 'ok', username: USER, algorithm: 'SHA-256' });
});

test('unknown user and wrong password look the same to the client', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  const asked: string[] = [];
  const spy = (u: string, a: DigestAlgorithm): string | undefined => { asked.push(u); return lookup(u, a); };
  const unknown = auth.verify([answer({ nonce, username: 'Scar' })], METHOD, REALM, spy);
  const wrong = auth.verify([answer({ nonce, password: 'Hakuna Matata' })], METHOD, REALM, spy);
  assert.equal(unknown.outcome, 'invalid');
  assert.equal(wrong.outcome, 'invalid');
  assert.deepEqual(Object.keys(unknown), Object.keys(wrong));
  assert.deepEqual(asked, ['Scar', USER]);
});

test('an expired nonce with the right password is stale; with a wrong one invalid', () => {
  const { auth, clock } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  clock.t += 300_000;
  assert.equal(auth.verify([answer({ nonce })], METHOD, REALM, lookup).outcome, 'ok');
  clock.t += 1;
  assert.deepEqual(auth.verify([answer({ nonce, nc: '00000002' })], METHOD, REALM, lookup), { outcome: 'stale' });
  assert.equal(auth.verify([answer({ nonce, nc: '00000003', password: 'x' })], METHOD, REALM, lookup).outcome, 'invalid');
});

test('a nonce we did not issue, or issued for another realm, is stale even with the right password', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  const tampered = (nonce[0] === 'A' ? 'B' : 'A') + nonce.slice(1);
  assert.equal(auth.verify([answer({ nonce: tampered })], METHOD, REALM, lookup).outcome, 'stale');
  assert.equal(auth.verify([answer({ nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093' })], METHOD, REALM, lookup).outcome, 'stale');
  const otherRealmNonce = nonceOf(auth.challenges('other.org')[0]);
  assert.equal(auth.verify([answer({ nonce: otherRealmNonce })], METHOD, REALM, lookup).outcome, 'stale');
  const otherSecret = makeAuth({ secret: Buffer.alloc(32, 7) }).auth;
  assert.equal(otherSecret.verify([answer({ nonce })], METHOD, REALM, lookup).outcome, 'stale');
});

test('a repeated or lower nonce count is a replay; a higher one is accepted', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  assert.equal(auth.verify([answer({ nonce, nc: '00000002' })], METHOD, REALM, lookup).outcome, 'ok');
  assert.deepEqual(auth.verify([answer({ nonce, nc: '00000002' })], METHOD, REALM, lookup), { outcome: 'invalid', why: 'nonce count replayed' });
  assert.equal(auth.verify([answer({ nonce, nc: '00000001' })], METHOD, REALM, lookup).outcome, 'invalid');
  assert.equal(auth.verify([answer({ nonce, nc: '0000000a' })], METHOD, REALM, lookup).outcome, 'ok');
});

test('after a restart with the same secret, an old nonce is stale, not replayable', () => {
  const first = makeAuth();
  const nonce = nonceOf(first.auth.challenges(REALM)[0]);
  assert.equal(first.auth.verify([answer({ nonce })], METHOD, REALM, lookup).outcome, 'ok');
  first.clock.t += 1000;
  const restarted = new DigestAuthenticator({ algorithms: ['MD5'], nonceLifetimeSeconds: 300, now: () => first.clock.t, secret: SECRET });
  assert.equal(restarted.verify([answer({ nonce })], METHOD, REALM, lookup).outcome, 'stale');
  assert.equal(restarted.verify([answer({ nonce: nonceOf(restarted.challenges(REALM)[0]) })], METHOD, REALM, lookup).outcome, 'ok');
});

test('when the nonce-count memory is full, evicted nonces become stale instead of replayable', () => {
  const { auth, clock } = makeAuth({ maxTrackedNonces: 1 });
  const a = nonceOf(auth.challenges(REALM)[0]);
  clock.t += 1;
  const b = nonceOf(auth.challenges(REALM)[0]);
  assert.equal(auth.verify([answer({ nonce: a })], METHOD, REALM, lookup).outcome, 'ok');
  assert.equal(auth.verify([answer({ nonce: b })], METHOD, REALM, lookup).outcome, 'ok');
  assert.equal(auth.verify([answer({ nonce: a })], METHOD, REALM, lookup).outcome, 'stale');
  assert.equal(auth.verify([answer({ nonce: b, nc: '00000002' })], METHOD, REALM, lookup).outcome, 'ok');
});

test('an algorithm that was not offered is invalid', () => {
  const { auth } = makeAuth({ algorithms: ['SHA-256'] });
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  assert.equal(auth.verify([answer({ nonce, algorithm: 'MD5' })], METHOD, REALM, lookup).outcome, 'invalid');
  assert.equal(auth.verify([answer({ nonce, omitAlgorithm: true })], METHOD, REALM, lookup).outcome, 'invalid');
  const sess = answer({ nonce, algorithm: 'SHA-256' });
  sess.params.algorithm = 'SHA-256-sess';
  assert.equal(auth.verify([sess], METHOD, REALM, lookup).outcome, 'invalid');
  assert.equal(auth.verify([answer({ nonce, algorithm: 'SHA-256' })], METHOD, REALM, lookup).outcome, 'ok');
});

test('malformed credentials are invalid', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  const cases: Array<(p: Record<string, string>) => void> = [
    (p) => { delete p.uri; },
    (p) => { delete p.response; },
    (p) => { delete p.username; },
    (p) => { delete p.cnonce; },
    (p) => { p.nc = '1'; },
    (p) => { p.qop = 'auth-int'; },
    (p) => { p.response = p.response.slice(2); },
    (p) => { p.response = 'zz' + p.response.slice(2); },
  ];
  for (const spoil of cases) {
    const c = answer({ nonce });
    spoil(c.params);
    assert.equal(auth.verify([c], METHOD, REALM, lookup).outcome, 'invalid', spoil.toString());
  }
  const basic: Credentials = { scheme: 'Basic', params: { realm: REALM } };
  assert.equal(auth.verify([basic], METHOD, REALM, lookup).outcome, 'missing');
});

test('the method is part of the digest', () => {
  const { auth } = makeAuth();
  const nonce = nonceOf(auth.challenges(REALM)[0]);
  assert.equal(auth.verify([answer({ nonce })], 'INVITE', REALM, lookup).outcome, 'invalid');
});

test('options are checked', () => {
  assert.throws(() => makeAuth({ algorithms: [] }), RangeError);
  assert.throws(() => makeAuth({ algorithms: ['MD5', 'MD5'] }), RangeError);
  assert.throws(() => makeAuth({ nonceLifetimeSeconds: 0 }), RangeError);
  assert.throws(() => makeAuth({ secret: Buffer.alloc(4) }), RangeError);
});
