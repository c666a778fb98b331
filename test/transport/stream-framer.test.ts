import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type FramingLimits, StreamFramer } from '../../src/transport/stream-framer.js';

interface Events {
  frames: string[];
  pings: number;
  violations: string[];
}

function framer(limits: FramingLimits = { maxHeaderBytes: 16384, maxBodyBytes: 65536 }): { f: StreamFramer; e: Events } {
  const e: Events = { frames: [], pings: 0, violations: [] };
  const f = new StreamFramer(limits, {
    onFrame: (m) => e.frames.push(m.toString('latin1')),
    onPing: () => e.pings++,
    onViolation: (r) => e.violations.push(r),
  });
  return { f, e };
}

function pushBytewise(f: StreamFramer, text: string): void {
  const bytes = Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i++) f.push(bytes.subarray(i, i + 1));
}

const OPTIONS = 'OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n';
const WITH_BODY = 'MESSAGE sip:a@b SIP/2.0\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
const COMPACT = 'MESSAGE sip:a@b SIP/2.0\r\nc: text/plain\r\nl:3\r\n\r\nabc';
const NO_LENGTH = 'BYE sip:a@b SIP/2.0\r\nCall-ID: 2\r\n\r\n';

describe('StreamFramer', () => {
  it('frames a message delivered one byte at a time', () => {
    const { f, e } = framer();
    pushBytewise(f, WITH_BODY + OPTIONS);
    assert.deepEqual(e.frames, [WITH_BODY, OPTIONS]);
    assert.deepEqual(e.violations, []);
  });

  it('frames several messages in one chunk', () => {
    const { f, e } = framer();
    f.push(Buffer.from(OPTIONS + WITH_BODY + COMPACT + NO_LENGTH, 'latin1'));
    assert.deepEqual(e.frames, [OPTIONS, WITH_BODY, COMPACT, NO_LENGTH]);
  });

  it('reads Content-Length case-insensitively, with spaces, and compact l', () => {
    const { f, e } = framer();
    const odd = 'INFO sip:a@b SIP/2.0\r\nCONTENT-length :  4 \r\n\r\nabcd';
    const compactUpper = 'INFO sip:a@b SIP/2.0\r\nL: 2\r\n\r\nxy';
    f.push(Buffer.from(odd + compactUpper, 'latin1'));
    assert.deepEqual(e.frames, [odd, compactUpper]);
  });

  it('does not mistake headers that start like Content-Length', () => {
    const { f, e } = framer();
    const msg = 'INFO sip:a@b SIP/2.0\r\nLocation: 99\r\nContent-Lengthy: 7\r\nl: 1\r\n\r\nz';
    f.push(Buffer.from(msg, 'latin1'));
    assert.deepEqual(e.frames, [msg]);
  });

  it('treats a stream message without Content-Length as bodiless', () => {
    const { f, e } = framer();
    f.push(Buffer.from(NO_LENGTH + OPTIONS, 'latin1'));
    assert.deepEqual(e.frames, [NO_LENGTH, OPTIONS]);
  });

  it('reports a CRLFCRLF ping between messages and ignores single CRLFs', () => {
    const { f, e } = framer();
    pushBytewise(f, '\r\n\r\n' + OPTIONS + '\r\n' + OPTIONS + '\r\n\r\n\r\n\r\n');
    assert.equal(e.pings, 3);
    assert.deepEqual(e.frames, [OPTIONS, OPTIONS]);
  });

  it('closes on a header section longer than the limit without a blank line', () => {
    const { f, e } = framer({ maxHeaderBytes: 100, maxBodyBytes: 100 });
    f.push(Buffer.from('INVITE sip:a@b SIP/2.0\r\n' + 'X: y\r\n'.repeat(20), 'latin1'));
    assert.deepEqual(e.violations, ['header section exceeds 100 bytes']);
    f.push(Buffer.from(OPTIONS, 'latin1'));
    assert.deepEqual(e.frames, [], 'nothing is framed after a violation');
  });

  it('closes on a long header section arriving in small pieces', () => {
    const { f, e } = framer({ maxHeaderBytes: 100, maxBodyBytes: 100 });
    pushBytewise(f, 'INVITE sip:a@b SIP/2.0\r\n' + 'X: y\r\n'.repeat(20));
    assert.deepEqual(e.violations, ['header section exceeds 100 bytes']);
  });

  it('accepts a header section exactly at the limit', () => {
    const msg = 'OPTIONS sip:a@b SIP/2.0\r\nX: ' + 'a'.repeat(60) + '\r\n\r\n';
    const { f, e } = framer({ maxHeaderBytes: msg.length, maxBodyBytes: 0 });
    pushBytewise(f, msg);
    f.push(Buffer.from(msg, 'latin1'));
    assert.deepEqual(e.frames, [msg, msg]);
    assert.deepEqual(e.violations, []);
  });

  it('closes on a body larger than the limit', () => {
    const { f, e } = framer({ maxHeaderBytes: 1000, maxBodyBytes: 10 });
    f.push(Buffer.from('MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 11\r\n\r\n', 'latin1'));
    assert.deepEqual(e.violations, ['Content-Length exceeds 10 bytes']);
  });

  it('closes on invalid or conflicting Content-Length', () => {
    for (const [header, reason] of [
      ['Content-Length: abc', 'invalid Content-Length'],
      ['Content-Length: -1', 'invalid Content-Length'],
      ['Content-Length: 1 2', 'invalid Content-Length'],
      ['Content-Length: 1\r\nl: 2', 'conflicting Content-Length headers'],
    ]) {
      const { f, e } = framer();
      f.push(Buffer.from(`MESSAGE sip:a@b SIP/2.0\r\n${header}\r\n\r\nxx`, 'latin1'));
      assert.deepEqual(e.violations, [reason], header);
    }
  });

  it('frames any split of any sequence of messages identically', () => {
    const message = fc
      .record({
        body: fc.string({ maxLength: 40 }),
        compact: fc.boolean(),
        leadingCrlf: fc.constantFrom('', '\r\n', '\r\n\r\n'),
      })
      .map(({ body, compact, leadingCrlf }) => ({
        leadingCrlf,
        text: `MESSAGE sip:x SIP/2.0\r\nCall-ID: ${body.length}\r\n${compact ? 'l' : 'Content-Length'}: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`,
      }));
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (messages, cuts) => {
        const stream = Buffer.from(messages.map((m) => m.leadingCrlf + m.text).join(''), 'latin1');
        const { f, e } = framer({ maxHeaderBytes: 200, maxBodyBytes: 200 });
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const size = cuts[i % cuts.length];
          f.push(stream.subarray(pos, pos + size));
          pos += size;
        }
        assert.deepEqual(e.frames, messages.map((m) => Buffer.from(m.text, 'latin1').toString('latin1')));
        assert.deepEqual(e.violations, []);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const { f } = framer({ maxHeaderBytes: 128, maxBodyBytes: 128 });
        for (const c of chunks) f.push(Buffer.from(c));
      }),
      { numRuns: 300 },
    );
  });
});
