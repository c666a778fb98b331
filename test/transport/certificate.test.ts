import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureCertificate } from '../../src/transport/certificate.js';

describe('ensureCertificate', () => {
  it('generates a 10-year RSA certificate for the hostnames and loopback, then reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-cert-'));
    try {
      const first = await ensureCertificate(dir, ['pbx.example.com', '192.0.2.10']);
      assert.equal(first.created, true);
      const cert = new X509Certificate(first.cert);
      assert.match(cert.subject, /CN=pbx\.example\.com/);
      const san = cert.subjectAltName ?? '';
      for (const name of ['DNS:pbx.example.com', 'IP Address:192.0.2.10', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']) {
        assert.ok(san.includes(name), `${name} missing from ${san}`);
      }
      const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * 24 * 3600 * 1000);
      assert.ok(years > 9.9 && years < 10.1, `valid for ${years} years`);
      const key = createPrivateKey(first.key);
      assert.equal(key.asymmetricKeyType, 'rsa');
      assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
      assert.ok(cert.checkPrivateKey(key));
      assert.equal((await stat(join(dir, 'tls', 'key.pem'))).mode & 0o777, 0o600);

      const second = await ensureCertificate(dir, ['other.example.com']);
      assert.deepEqual(second, { key: first.key, cert: first.cert, created: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
