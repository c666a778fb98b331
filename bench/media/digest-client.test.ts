import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestCredentials, parseChallenge } from './digest-client.js';

describe('bench digest client', () => {
  it('answers the RFC 2617 §3.5 example', () => {
    const challenge = parseChallenge([
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    ])!;
    assert.deepEqual(challenge, {
      realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', algorithm: 'MD5', qop: 'auth', opaque: '5ccc069c403ebaf9f0171e9517f40e41',
    });
    const header = digestCredentials(challenge, { username: 'Mufasa', password: 'Circle Of Life', method: 'GET', uri: '/dir/index.html' }, '0a4f113b');
    assert.match(header, /^Digest username="Mufasa", /);
    assert.match(header, /response="6629fae49393a05397450978507c4ef1"/);
    assert.match(header, /qop=auth, nc=00000001, cnonce="0a4f113b"/);
    assert.match(header, /opaque="5ccc069c403ebaf9f0171e9517f40e41"/);
  });

  it('takes the first challenge with an algorithm it knows', () => {
    const challenge = parseChallenge([
      'Basic realm="x"',
      'Digest realm="pbx", nonce="n1", algorithm=SHA-512-256, qop="auth"',
      'Digest realm="pbx", nonce="n2", algorithm=SHA-256, qop="auth"',
      'Digest realm="pbx", nonce="n3", algorithm=MD5, qop="auth"',
    ]);
    assert.equal(challenge?.nonce, 'n2');
    assert.equal(challenge?.algorithm, 'SHA-256');
  });

  it('answers without qop when none is offered, and finds nothing in a challenge without a nonce', () => {
    const challenge = parseChallenge(['Digest realm="pbx", nonce="abc"'])!;
    assert.equal(challenge.qop, undefined);
    const header = digestCredentials(challenge, { username: '500', password: 'pw', method: 'INVITE', uri: 'sip:600@pbx' });
    assert.doesNotMatch(header, /qop|cnonce|nc=/);
    assert.equal(parseChallenge(['Digest realm="pbx"']), undefined);
  });
});
