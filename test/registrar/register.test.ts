import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNameAddr, splitHeaderValues } from '../../src/sip/headers.js';
import type { NameAddr } from '../../src/sip/message.js';
import { LocationService } from '../../src/registrar/location-service.js';
import { processRegister, type RegisterInput, type RegisterPolicy } from '../../src/registrar/register.js';
import { FakeClock } from '../support/fake-clock.js';
import { MemoryBindingRepository } from './memory-bindings.js';

const POLICY: RegisterPolicy = { minExpires: 60, defaultExpires: 3600, maxExpires: 7200 };
const START = 1_700_000_000_000;

interface Fixture {
  clock: FakeClock;
  repo: MemoryBindingRepository;
  location: LocationService;
  register(contact: string | undefined, extra?: Partial<RegisterInput>): ReturnType<typeof processRegister>;
}

/** The pair req.contacts() / req.getAll('contact') would give for one Contact header line. */
function contactsOf(value: string | undefined): { contacts: NameAddr[] | '*' | null; contactTexts: string[] } {
  const contactTexts = value === undefined ? [] : splitHeaderValues(value);
  if (contactTexts.length === 1 && contactTexts[0] === '*') return { contacts: '*', contactTexts };
  const contacts: NameAddr[] = [];
  for (const text of contactTexts) {
    const parsed = parseNameAddr(text);
    if (!parsed) return { contacts: null, contactTexts };
    contacts.push(parsed);
  }
  return { contacts, contactTexts };
}

function fixture(): Fixture {
  const clock = new FakeClock(START);
  const repo = new MemoryBindingRepository();
  const location = new LocationService(repo, clock);
  location.load();
  let cseq = 1;
  return {
    clock, repo, location,
    register(contact, extra = {}) {
      const input: RegisterInput = {
        domain: 'example.com', number: '100', ...contactsOf(contact),
        expiresHeader: undefined, callId: 'call-1@host', cseq: cseq++,
        source: { transport: 'UDP', address: '192.0.2.10', port: 5062 }, userAgent: 'Phone/1.0',
        ...extra,
      };
      return processRegister(input, location, POLICY, clock.now());
    },
  };
}

function uris(f: Fixture): string[] {
  return f.location.lookup('example.com', '100').map((b) => b.contactUri);
}

test('a new contact is bound with the default expiry and its source', () => {
  const f = fixture();
  const out = f.register('<sip:100@192.168.1.5:5062;transport=udp>;+sip.instance="<urn:uuid:1>"');
  assert.deepEqual(out, { status: 200, contacts: ['<sip:100@192.168.1.5:5062;transport=udp>;+sip.instance="<urn:uuid:1>";expires=3600'] });
  const [b] = f.location.lookup('example.com', '100');
  assert.equal(b.contact, '<sip:100@192.168.1.5:5062;transport=udp>;+sip.instance="<urn:uuid:1>"');
  assert.equal(b.contactUri, 'sip:100@192.168.1.5:5062;transport=udp');
  assert.equal(b.expiresAt, START + 3600_000);
  assert.deepEqual([b.transport, b.sourceAddress, b.sourcePort, b.userAgent, b.q], ['UDP', '192.0.2.10', 5062, 'Phone/1.0', 1]);
  assert.equal(f.repo.list().length, 1);
});

test('a refresh replaces the binding, also when the URI is written differently but equivalent', () => {
  const f = fixture();
  f.register('<sip:alice@PC33.example.com>');
  f.clock.advance(10_000);
  const out = f.register('<sip:alice@pc33.example.com>', { expiresHeader: '600' });
  assert.deepEqual(out, { status: 200, contacts: ['<sip:alice@pc33.example.com>;expires=600'] });
  assert.deepEqual(uris(f), ['sip:alice@pc33.example.com']);
  assert.deepEqual(f.repo.list().map((b) => [b.contactUri, b.expiresAt]), [['sip:alice@pc33.example.com', START + 10_000 + 600_000]]);
});

test('several contacts at once, ordered by q then most recent', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>;q=0.5, <sip:b@192.0.2.2>;q=1.0');
  f.clock.advance(1000);
  f.register('<sip:c@192.0.2.3>;q=0.5', { callId: 'other-call' });
  assert.deepEqual(uris(f), ['sip:b@192.0.2.2', 'sip:c@192.0.2.3', 'sip:a@192.0.2.1']);
  assert.deepEqual(f.location.lookup('example.com', '100').map((b) => b.q), [1, 0.5, 0.5]);
  assert.equal(f.location.count(), 3);
  assert.equal(f.location.all().length, 3);
});

test('no Contact returns the current bindings with the time left', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>;expires=120');
  f.clock.advance(20_500);
  assert.deepEqual(f.register(undefined), { status: 200, contacts: ['<sip:a@192.0.2.1>;expires=100'] });
});

test('the wildcard with Expires: 0 removes every binding', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>, <sip:b@192.0.2.2>');
  assert.deepEqual(f.register('*', { expiresHeader: '0' }), { status: 200, contacts: [] });
  assert.deepEqual(uris(f), []);
  assert.equal(f.repo.list().length, 0);
});

test('the wildcard needs Expires: 0', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>');
  assert.equal(f.register('*', { expiresHeader: '3600' }).status, 400);
  assert.equal(f.register('*').status, 400);
  assert.deepEqual(uris(f), ['sip:a@192.0.2.1']);
});

test('a wildcard mixed with other contacts is malformed', () => {
  const f = fixture();
  assert.equal(f.register('*, <sip:a@192.0.2.1>', { expiresHeader: '0' }).status, 400);
});

test('an expiry below the minimum rejects the whole request with 423', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>');
  const writes = f.repo.writes;
  assert.deepEqual(f.register('<sip:b@192.0.2.2>, <sip:a@192.0.2.1>;expires=30'), { status: 423, minExpires: 60 });
  assert.deepEqual(f.register('<sip:b@192.0.2.2>', { expiresHeader: '59' }), { status: 423, minExpires: 60 });
  assert.deepEqual(uris(f), ['sip:a@192.0.2.1']);
  assert.equal(f.repo.writes, writes);
});

test('an expiry above the maximum is shortened to it', () => {
  const f = fixture();
  assert.deepEqual(f.register('<sip:a@192.0.2.1>', { expiresHeader: '100000' }), { status: 200, contacts: ['<sip:a@192.0.2.1>;expires=7200'] });
  assert.equal(f.location.lookup('example.com', '100')[0].expiresAt, START + 7200_000);
});

test('a contact expires parameter overrides the Expires header', () => {
  const f = fixture();
  const out = f.register('<sip:a@192.0.2.1>;expires=120, <sip:b@192.0.2.2>', { expiresHeader: '300' });
  assert.equal(out.status, 200);
  const byUri = new Map(f.location.lookup('example.com', '100').map((b) => [b.contactUri, b.expiresAt - START]));
  assert.deepEqual(byUri, new Map([['sip:a@192.0.2.1', 120_000], ['sip:b@192.0.2.2', 300_000]]));
  if (out.status === 200) assert.ok(out.contacts.includes('<sip:a@192.0.2.1>;expires=120'), out.contacts.join(' | '));
});

test('a malformed expiry falls back to the default', () => {
  const f = fixture();
  assert.deepEqual(f.register('<sip:a@192.0.2.1>;expires=soon', { expiresHeader: 'later' }),
    { status: 200, contacts: ['<sip:a@192.0.2.1>;expires=3600'] });
});

test('expires=0 removes that binding only; Expires: 0 removes every listed one', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>, <sip:b@192.0.2.2>, <sip:c@192.0.2.3>');
  assert.deepEqual(f.register('<sip:a@192.0.2.1>;expires=0'), {
    status: 200, contacts: ['<sip:b@192.0.2.2>;expires=3600', '<sip:c@192.0.2.3>;expires=3600'],
  });
  f.register('<sip:b@192.0.2.2>, <sip:unknown@192.0.2.9>', { expiresHeader: '0' });
  assert.deepEqual(uris(f), ['sip:c@192.0.2.3']);
  assert.deepEqual(f.repo.list().map((b) => b.contactUri), ['sip:c@192.0.2.3']);
});

test('a REGISTER with the same Call-ID and a CSeq not above the stored one changes nothing', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>', { cseq: 10 });
  const oldExpiry = f.location.lookup('example.com', '100')[0].expiresAt;
  f.clock.advance(1000);
  assert.deepEqual(f.register('<sip:a@192.0.2.1>;expires=0, <sip:b@192.0.2.2>', { cseq: 9 }), { status: 500, reason: 'Out of order REGISTER' });
  assert.equal(f.register('<sip:a@192.0.2.1>', { cseq: 10 }).status, 500);
  assert.equal(f.register('*', { cseq: 10, expiresHeader: '0' }).status, 500);
  assert.deepEqual(uris(f), ['sip:a@192.0.2.1']);
  assert.equal(f.location.lookup('example.com', '100')[0].expiresAt, oldExpiry);
  assert.equal(f.register('<sip:a@192.0.2.1>', { cseq: 11 }).status, 200);
  assert.equal(f.register('<sip:a@192.0.2.1>', { cseq: 1, callId: 'rebooted' }).status, 200);
});

test('q must be a qvalue', () => {
  const f = fixture();
  for (const bad of ['1.5', '2', '0.1234', 'high', '']) {
    const contact = bad === '' ? '<sip:a@192.0.2.1>;q' : `<sip:a@192.0.2.1>;q=${bad}`;
    assert.equal(f.register(contact).status, 400, contact);
  }
  assert.equal(f.register('<sip:a@192.0.2.1>;q=0').status, 200);
  assert.equal(f.location.lookup('example.com', '100')[0].q, 0);
  assert.equal(f.register('<sip:a@192.0.2.1>;q=0.125').status, 200);
  assert.equal(f.location.lookup('example.com', '100')[0].q, 0.125);
});

test('a malformed Contact is rejected', () => {
  const f = fixture();
  assert.deepEqual(f.register('<sip:a@192.0.2.1'), { status: 400, reason: 'Malformed Contact header' });
});

test('contacts are stored exactly as received (RFC 4475 cparam01, cparam02, regescrt)', () => {
  const f = fixture();
  const texts = [
    'sip:+19725552222@gw1.example.net;unknownparam',
    '<sip:+19725552223@gw1.example.net;unknownparam>',
    '<sip:user@example.com?Route=%3Csip:sip.example.com%3E>',
  ];
  for (const [i, text] of texts.entries()) f.register(text, { callId: `c${i}` });
  const stored = new Map(f.location.lookup('example.com', '100').map((b) => [b.contactUri, b.contact]));
  assert.deepEqual(stored, new Map([
    ['sip:+19725552222@gw1.example.net', texts[0]],
    ['sip:+19725552223@gw1.example.net;unknownparam', texts[1]],
    ['sip:user@example.com?Route=%3Csip:sip.example.com%3E', texts[2]],
  ]));
  const out = f.register(undefined);
  assert.equal(out.status, 200);
  if (out.status === 200) assert.ok(out.contacts.includes('sip:+19725552222@gw1.example.net;unknownparam;expires=3600'), out.contacts.join(' | '));
});

test('the same URI twice in one REGISTER: the last one wins', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>;q=0.1, <sip:a@192.0.2.1>;q=0.9');
  assert.deepEqual(f.location.lookup('example.com', '100').map((b) => b.q), [0.9]);
});

test('bindings of other addresses of record are untouched', () => {
  const f = fixture();
  f.register('<sip:a@192.0.2.1>');
  f.register('<sip:b@192.0.2.2>', { number: '200' });
  f.register('*', { expiresHeader: '0', number: '200', callId: 'x' });
  assert.deepEqual(uris(f), ['sip:a@192.0.2.1']);
  assert.equal(f.location.lookup('EXAMPLE.com', '100').length, 1);
  assert.deepEqual(f.location.lookup('example.com', '200'), []);
});

test('a binding past its expiry no longer counts, even before the sweep removes it', () => {
  const f = fixture();
  const base = {
    domain: 'example.com', number: '100', contact: '<sip:b@192.0.2.2>', contactUri: 'sip:b@192.0.2.2', q: 1,
    callId: 'call-1@host', cseq: 50, transport: 'UDP', sourceAddress: '192.0.2.2', sourcePort: 5060, userAgent: '', registeredAt: START,
  };
  f.location.update([], [{ ...base, contactUri: 'sip:a@192.0.2.1', contact: '<sip:a@192.0.2.1>', expiresAt: START + 1000 }]);
  f.clock.advance(1000);
  f.location.update([], [{ ...base, expiresAt: START + 1001 }]);
  f.clock.advance(500);
  assert.equal(f.clock.pending(), 1, 'the sweep is still ahead');
  assert.deepEqual(f.register('<sip:b@192.0.2.2>'), { status: 200, contacts: ['<sip:b@192.0.2.2>;expires=3600'] });
});
