import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Binding } from '../../src/store/types.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';

let fixture: ApiFixture;
const now = Date.now();

function binding(number: string, host: string, expiresInMs: number, domain = 'example.com'): Binding {
  return {
    domain, number, contact: `"${number}" <sip:${number}@${host}:5062;transport=tcp>;+sip.instance="<urn:uuid:1>"`,
    contactUri: `sip:${number}@${host}:5062;transport=tcp`, q: 1, expiresAt: now + expiresInMs, callId: `call-${number}-${host}`,
    cseq: 7, transport: 'TCP', sourceAddress: host, sourcePort: 40000, userAgent: 'Desk Phone 2.1', registeredAt: now - 1000,
  };
}

before(async () => {
  fixture = await createApiFixture();
  fixture.store.domains.create('other.example');
  fixture.store.bindings.upsert(binding('201', '192.0.2.10', 120_000));
  fixture.store.bindings.upsert(binding('201', '192.0.2.11', 30_000));
  fixture.store.bindings.upsert(binding('202', '192.0.2.12', 60_000));
  fixture.store.bindings.upsert(binding('203', '192.0.2.13', -5_000));
  fixture.store.bindings.upsert(binding('201', '192.0.2.14', 60_000, 'other.example'));
});
after(() => fixture.close());

function get(url: string) {
  return fixture.app.inject({ method: 'GET', url, headers: { authorization: fixture.adminAuth } });
}

test('lists current bindings with contact, expiry, source and user agent; expired ones are left out', async () => {
  const response = await get('/api/v1/registrations');
  assert.equal(response.statusCode, 200);
  const items = response.json();
  assert.equal(items.length, 4);
  assert.ok(!items.some((item: { number: string }) => item.number === '203'));
  const first = items.find((item: { source: { address: string } }) => item.source.address === '192.0.2.10');
  assert.deepEqual(first.source, { transport: 'TCP', address: '192.0.2.10', port: 40000 });
  assert.equal(first.contact, '"201" <sip:201@192.0.2.10:5062;transport=tcp>;+sip.instance="<urn:uuid:1>"');
  assert.equal(first.userAgent, 'Desk Phone 2.1');
  assert.ok(first.expiresInSeconds > 110 && first.expiresInSeconds <= 120);
});

test('filters by domain and number', async () => {
  const byNumber = (await get('/api/v1/registrations?domain=example.com&number=201')).json();
  assert.deepEqual(byNumber.map((item: { source: { address: string } }) => item.source.address).sort(), ['192.0.2.10', '192.0.2.11']);
  const byDomain = (await get('/api/v1/registrations?domain=other.example')).json();
  assert.equal(byDomain.length, 1);
  assert.equal(byDomain[0].domain, 'other.example');
  const numberOnly = (await get('/api/v1/registrations?number=201')).json();
  assert.equal(numberOnly.length, 3);
});
