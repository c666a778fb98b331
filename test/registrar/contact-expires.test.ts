import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withExpiresParam } from '../../src/registrar/contact-expires.js';

test('appends expires, keeping the text otherwise', () => {
  assert.equal(withExpiresParam('<sip:a@b;transport=tcp>;+sip.instance="<urn:uuid:1>"', 60),
    '<sip:a@b;transport=tcp>;+sip.instance="<urn:uuid:1>";expires=60');
  assert.equal(withExpiresParam('sip:a@b;unknownparam', 5), 'sip:a@b;unknownparam;expires=5');
  assert.equal(withExpiresParam('sip:a@b', 5), 'sip:a@b;expires=5');
});

test('replaces an existing expires header parameter but not a URI parameter', () => {
  assert.equal(withExpiresParam('<sip:a@b;expires=9>;EXPIRES = 3600;q=0.5', 60), '<sip:a@b;expires=9>;q=0.5;expires=60');
  assert.equal(withExpiresParam('sip:a@b;expires=3600', 60), 'sip:a@b;expires=60');
});

test('quoted strings may hold the delimiters', () => {
  assert.equal(withExpiresParam('"x <y> ;expires=1" <sip:a@b>;p="a;expires=2"', 7), '"x <y> ;expires=1" <sip:a@b>;p="a;expires=2";expires=7');
});
