import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grantExpires, type ExpiresPolicy } from '../../src/presence/subscription-expires.js';

const POLICY: ExpiresPolicy = { minSeconds: 60, maxSeconds: 3600, defaultSeconds: 1800 };

describe('subscription lifetime', () => {
  it('grants the default when the SUBSCRIBE has no Expires', () => {
    assert.deepEqual(grantExpires(undefined, POLICY), { ok: true, seconds: 1800 });
  });

  it('grants what is asked between the minimum and the maximum', () => {
    assert.deepEqual(grantExpires('60', POLICY), { ok: true, seconds: 60 });
    assert.deepEqual(grantExpires(' 900 ', POLICY), { ok: true, seconds: 900 });
    assert.deepEqual(grantExpires('3600', POLICY), { ok: true, seconds: 3600 });
  });

  it('cuts a longer request down to the maximum', () => {
    assert.deepEqual(grantExpires('86400', POLICY), { ok: true, seconds: 3600 });
  });

  it('refuses a shorter request with the minimum to ask for (423)', () => {
    assert.deepEqual(grantExpires('59', POLICY), { ok: false, status: 423, minSeconds: 60 });
    assert.deepEqual(grantExpires('1', POLICY), { ok: false, status: 423, minSeconds: 60 });
  });

  it('takes 0 as the end of the subscription, not as too brief', () => {
    assert.deepEqual(grantExpires('0', POLICY), { ok: true, seconds: 0 });
  });

  it('refuses an Expires that is not a number of seconds (400)', () => {
    for (const bad of ['', 'soon', '-5', '1e3', '0x10', '12345678901']) {
      const grant = grantExpires(bad, POLICY);
      assert.equal(grant.ok, false, bad);
      assert.equal(!grant.ok && grant.status, 400, bad);
    }
  });
});
