import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseMessage } from '../../src/sip/parser.js';
import { serialize } from '../../src/sip/serializer.js';
import { validateRequest, validateResponse } from '../../src/sip/validate.js';
import {
  formatNameAddr,
  formatVia,
  parseCredentials,
  parseCSeq,
  parseNameAddr,
  parseParams,
  parseVia,
  splitHeaderValues,
} from '../../src/sip/headers.js';
import { parseUri } from '../../src/sip/uri.js';
import { SipRequest, SipResponse, type AnyMessage, type HeaderField } from '../../src/sip/message.js';
import { readTorture, tortureNames } from './torture-messages.js';

const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~".split('');
const VISIBLE_ASCII = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i));

const token = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 16 });
const headerName = token.filter((n) => n.toLowerCase() !== 'l' && n.toLowerCase() !== 'content-length');
const lineText = fc
  .string({ unit: 'grapheme', maxLength: 40 })
  .map((s) => s.replace(/[\r\n]/g, ''));
const headerValue = lineText.map((s) => s.replace(/^[ \t]+|[ \t]+$/g, ''));
const header = fc.tuple(headerName, headerValue);
const body = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
const version = fc.oneof(fc.constant('SIP/2.0'), fc.tuple(fc.nat(99), fc.nat(99)).map(([a, b]) => `SIP/${a}.${b}`));

function fields(pairs: Array<[string, string]>): HeaderField[] {
  return pairs.map(([name, value]) => ({ key: name.toLowerCase(), name, value }));
}

function withoutLength(headers: HeaderField[]): Array<[string, string]> {
  return headers.filter((h) => h.key !== 'content-length').map((h) => [h.name, h.value]);
}

const generatedRequest = fc
  .record({
    method: token,
    uri: fc.string({ unit: fc.constantFrom(...VISIBLE_ASCII), minLength: 1, maxLength: 40 }),
    version,
    headers: fc.array(header, { maxLength: 12 }),
    body,
  })
  .map((r) => new SipRequest(r.method, r.uri, fields(r.headers), r.body, r.version));

const generatedResponse = fc
  .record({
    status: fc.integer({ min: 100, max: 699 }),
    reason: lineText.map((s) => s.replace(/[ \t]+$/, '')),
    version,
    headers: fc.array(header, { maxLength: 12 }),
    body,
  })
  .map((r) => new SipResponse(r.status, r.reason, fields(r.headers), r.body, r.version));

test('parse(serialize(m)) keeps the start line, the headers in order and the body', () => {
  fc.assert(
    fc.property(fc.oneof(generatedRequest, generatedResponse), (original: AnyMessage) => {
      const r = parseMessage(serialize(original));
      assert.ok(r.ok, r.ok ? '' : r.error);
      const copy = r.message;
      if (original.isRequest) {
        assert.ok(copy instanceof SipRequest);
        assert.deepEqual([copy.method, copy.uri, copy.version], [original.method, original.uri, original.version]);
      } else {
        assert.ok(copy instanceof SipResponse);
        assert.deepEqual([copy.status, copy.reason, copy.version], [original.status, original.reason, original.version]);
      }
      assert.deepEqual(withoutLength(copy.headers), withoutLength(original.headers));
      assert.deepEqual(copy.body, original.body);
    }),
    { numRuns: 500 },
  );
});

/** Every accessor and check the upper layers may call on a message that came off the wire. */
function exercise(msg: AnyMessage): void {
  msg.from();
  msg.to();
  msg.fromTag();
  msg.toTag();
  msg.vias();
  msg.topVia();
  msg.contacts();
  msg.cseq();
  msg.routeSet('route');
  msg.routeSet('record-route');
  msg.maxForwards();
  msg.optionTags('supported');
  msg.getAll('accept');
  void msg.callId;
  for (const h of msg.headers) if (h.key === 'authorization') parseCredentials(h.value);
  if (msg instanceof SipRequest) {
    msg.requestUri();
    validateRequest(msg);
  } else {
    validateResponse(msg);
  }
  serialize(msg);
}

function parseAndExercise(data: Buffer): void {
  const r = parseMessage(data);
  if (r.ok) exercise(r.message);
  else if (r.request) exercise(r.request);
}

test('arbitrary bytes never make the parser or the accessors throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1500, size: 'large' }), (bytes) => parseAndExercise(Buffer.from(bytes))),
    { numRuns: 1000 },
  );
});

const SIP_TEXT = fc.string({
  unit: fc.constantFrom('SIP/2.0', 'INVITE ', 'sip:', 'a', '@', ':', ';', ',', '<', '>', '"', '\\', ' ', '\t', '\r\n', '\n', '\r\n ', '=', '%', '%4', '[', ']', '?', 'Via: ', 'l: ', 'Contact: ', 'From: ', 'CSeq: ', '1', '9999999999', 'é', '\0'),
  maxLength: 80,
  size: 'large',
});

test('SIP-shaped noise never makes the parser or the accessors throw', () => {
  fc.assert(
    fc.property(SIP_TEXT, (text) => parseAndExercise(Buffer.from(text))),
    { numRuns: 1000 },
  );
});

const SPECIALS = ['\r\n', '\n', ' ', '\t', ':', ';', ',', '<', '>', '"', '\\', '%', '@', '[', ']', '=', '?', '\r\n ', '\0', 'é', '\xff'];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...SPECIALS) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 20 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(data: Buffer, m: Mutation): Buffer {
  const at = m.at % (data.length + 1);
  switch (m.kind) {
    case 'truncate':
      return data.subarray(0, at);
    case 'replace': {
      const copy = Buffer.from(data);
      if (at < copy.length) copy[at] = m.byte;
      return copy;
    }
    case 'insert':
      return Buffer.concat([data.subarray(0, at), Buffer.from(m.text, 'latin1'), data.subarray(at)]);
    case 'delete':
      return Buffer.concat([data.subarray(0, at), data.subarray(at + m.length)]);
  }
}

test('mutated and truncated torture messages never make anything throw', () => {
  const messages = tortureNames().map(readTorture);
  fc.assert(
    fc.property(fc.nat(messages.length - 1), fc.array(mutation, { minLength: 1, maxLength: 8, size: 'large' }), (index, mutations) => {
      parseAndExercise(mutations.reduce(mutate, messages[index]));
    }),
    { numRuns: 2000 },
  );
});

test('header value parsers never throw on SIP-shaped noise', () => {
  fc.assert(
    fc.property(SIP_TEXT, (text) => {
      parseNameAddr(text);
      parseVia(text);
      parseUri(text);
      parseCSeq(text);
      parseCredentials(text);
      parseParams(text);
      splitHeaderValues(text);
    }),
    { numRuns: 2000 },
  );
});

const NAME_ADDR_TEXT = fc
  .tuple(
    fc.option(fc.oneof(token, lineText.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`)), { nil: undefined }),
    fc.constantFrom('sip:alice@example.com', 'sips:[2001:db8::1]:5061;transport=tls', 'tel:+1555;ext=2', 'sip:a%20b@h;lr'),
    fc.array(fc.tuple(token, fc.option(fc.oneof(token, lineText.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`)))), { maxLength: 4 }),
  )
  .map(([display, uri, params]) => {
    const p = params.map(([n, v]) => (v === null ? `;${n}` : `;${n}=${v}`)).join('');
    return `${display === undefined ? '' : `${display} `}<${uri}>${p}`;
  });

test('formatNameAddr and formatVia give text that parses back to the same value', () => {
  fc.assert(
    fc.property(NAME_ADDR_TEXT, (text) => {
      const na = parseNameAddr(text);
      assert.ok(na, text);
      assert.deepEqual(parseNameAddr(formatNameAddr(na)), na);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.constantFrom('UDP', 'tcp', 'TLS', 'WS'),
      fc.constantFrom('192.0.2.1', '[::1]', 'host.example.com'),
      fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
      fc.array(fc.tuple(token, fc.option(token)), { maxLength: 4 }),
      (transport, host, port, params) => {
        const p = params.map(([n, v]) => (v === null ? `;${n}` : `;${n}=${v}`)).join('');
        const text = `SIP/2.0/${transport} ${host}${port === undefined ? '' : `:${port}`}${p}`;
        const via = parseVia(text);
        assert.ok(via, text);
        assert.deepEqual(parseVia(formatVia(via)), via);
      },
    ),
    { numRuns: 300 },
  );
});

test('pathological inputs of a few hundred KB are handled in bounded time', () => {
  const values = [
    `SIP/2.0/UDP h${';a'.repeat(50000)}`,
    `"${'\\"'.repeat(50000)}`,
    '<'.repeat(100000),
    `${'"a",'.repeat(50000)}`,
    `sip:${'%41'.repeat(50000)}@h`,
    `${' '.repeat(100000)}x`,
  ];
  const started = process.hrtime.bigint();
  for (const v of values) {
    for (const name of ['Via', 'From', 'To', 'Contact', 'CSeq', 'Route', 'Authorization']) {
      parseAndExercise(Buffer.from(`INVITE sip:a@b SIP/2.0\r\n${name}: ${v}\r\nCall-ID: x\r\nl: 0\r\n\r\n`));
    }
    parseAndExercise(Buffer.from(`INVITE ${v} SIP/2.0\r\n\r\n`));
  }
  parseAndExercise(Buffer.from('a: b\n'.repeat(60000)));
  parseAndExercise(Buffer.from(`OPTIONS sip:a@b SIP/2.0\r\n${'X: y\r\n'.repeat(50000)}\r\n`));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(elapsedMs < 5000, `took ${elapsedMs} ms`);
});
