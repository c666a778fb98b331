// STUN encoding and decoding against the RFC 5769 sample responses, FINGERPRINT checks, and
// arbitrary input that must be dropped, never thrown on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ATTR_ERROR_CODE,
  ATTR_FINGERPRINT,
  ATTR_MAPPED_ADDRESS,
  ATTR_UNKNOWN_ATTRIBUTES,
  ATTR_SOFTWARE,
  ATTR_XOR_MAPPED_ADDRESS,
  addressBytes,
  bindingSuccess,
  decodeAddress,
  decodeStun,
  encodeAddress,
  encodeStun,
  formatAddress,
  METHOD_BINDING,
  unknownAttributeError,
  unknownRequiredAttributes,
} from '../../src/stun/stun-message.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const TRANSACTION_ID = hex('b7e7a701 bc34d686 fa87dfae');

// RFC 5769 §2.2: IPv4 response with SOFTWARE "test vector", XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT.
const RFC5769_IPV4 = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);

// RFC 5769 §2.3: the same with an IPv6 mapped address.
const RFC5769_IPV6 = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);

function attribute(message: ReturnType<typeof decodeStun>, type: number): Buffer {
  const found = message?.attributes.find((a) => a.type === type);
  assert.ok(found, `attribute 0x${type.toString(16)} present`);
  return found.value;
}

describe('RFC 5769 sample responses', () => {
  for (const [name, bytes, address] of [
    ['IPv4', RFC5769_IPV4, '192.0.2.1'],
    ['IPv6', RFC5769_IPV6, '2001:db8:1234:5678:11:2233:4455:6677'],
  ] as const) {
    it(`decodes the ${name} Binding success response, its FINGERPRINT and XOR-MAPPED-ADDRESS`, () => {
      const message = decodeStun(bytes);
      assert.ok(message, 'a valid message with a correct FINGERPRINT decodes');
      assert.equal(message.cls, 'success');
      assert.equal(message.method, METHOD_BINDING);
      assert.deepEqual(message.transactionId, TRANSACTION_ID);
      assert.equal(attribute(message, ATTR_SOFTWARE).toString('utf8'), 'test vector');
      assert.deepEqual(decodeAddress(attribute(message, ATTR_XOR_MAPPED_ADDRESS), TRANSACTION_ID), { address, port: 32853 });
      assert.equal(message.attributes.at(-1)?.type, ATTR_FINGERPRINT);
    });

    it(`encodes ${name} ${address}:32853 to the sample's XOR-MAPPED-ADDRESS bytes`, () => {
      assert.deepEqual(encodeAddress({ address, port: 32853 }, TRANSACTION_ID), attribute(decodeStun(bytes), ATTR_XOR_MAPPED_ADDRESS));
    });

    it(`drops the ${name} sample when any byte covered by FINGERPRINT changes`, () => {
      // The byte inside MESSAGE-INTEGRITY, which nothing but the FINGERPRINT checks here.
      const tampered = Buffer.from(bytes);
      tampered[bytes.length - 12]! ^= 0x01;
      assert.equal(decodeStun(tampered), undefined);
      const badFingerprint = Buffer.from(bytes);
      badFingerprint[bytes.length - 1]! ^= 0x80;
      assert.equal(decodeStun(badFingerprint), undefined);
    });
  }
});

describe('Binding success response', () => {
  const request = { method: METHOD_BINDING, cls: 'request' as const, transactionId: TRANSACTION_ID, attributes: [] };

  for (const source of [{ address: '198.51.100.7', port: 5060 }, { address: '2001:db8::7', port: 65535 }, { address: '::1', port: 1 }]) {
    it(`carries XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, SOFTWARE and a FINGERPRINT for ${source.address}`, () => {
      const bytes = bindingSuccess(request, source, 'Switchboard test');
      assert.ok(bytes);
      assert.equal(bytes.length % 4, 0);
      const message = decodeStun(bytes);
      assert.ok(message, 'our own FINGERPRINT verifies');
      assert.equal(message.cls, 'success');
      assert.equal(message.method, METHOD_BINDING);
      assert.deepEqual(message.transactionId, TRANSACTION_ID);
      assert.deepEqual(message.attributes.map((a) => a.type), [ATTR_XOR_MAPPED_ADDRESS, ATTR_MAPPED_ADDRESS, ATTR_SOFTWARE, ATTR_FINGERPRINT]);
      assert.deepEqual(decodeAddress(attribute(message, ATTR_XOR_MAPPED_ADDRESS), TRANSACTION_ID), source);
      assert.deepEqual(decodeAddress(attribute(message, ATTR_MAPPED_ADDRESS)), source);
      assert.equal(attribute(message, ATTR_SOFTWARE).toString('utf8'), 'Switchboard test');
    });
  }

  it('leaves SOFTWARE out when none is configured and cuts a long one to 127 characters', () => {
    const none = decodeStun(bindingSuccess(request, { address: '192.0.2.1', port: 1 }, '')!);
    assert.equal(none?.attributes.some((a) => a.type === ATTR_SOFTWARE), false);
    const long = decodeStun(bindingSuccess(request, { address: '192.0.2.1', port: 1 }, 'é'.repeat(300))!);
    assert.equal(attribute(long, ATTR_SOFTWARE).toString('utf8'), 'é'.repeat(127));
  });

  it('encodes the class and method bits of a Binding request and success response (0x0001, 0x0101)', () => {
    assert.equal(encodeStun(request, { fingerprint: false }).readUInt16BE(0), 0x0001);
    assert.equal(bindingSuccess(request, { address: '192.0.2.1', port: 1 }, undefined)!.readUInt16BE(0), 0x0101);
  });
});

describe('unknown comprehension-required attributes (RFC 8489 §6.3.1)', () => {
  const withAttributes = (...types: number[]) => ({
    method: METHOD_BINDING,
    cls: 'request' as const,
    transactionId: TRANSACTION_ID,
    attributes: types.map((type) => ({ type, value: Buffer.alloc(4) })),
  });

  it('lists the required ones it does not know, once each and in order, and ignores optional and known ones', () => {
    // CHANGE-REQUEST (RFC 5780) and ICE PRIORITY are required but not ours; 0x8030 is optional; USERNAME is known
    assert.deepEqual(unknownRequiredAttributes(withAttributes(0x0003, 0x8030, 0x0006, 0x0024, 0x0003)), [0x0003, 0x0024]);
    assert.deepEqual(unknownRequiredAttributes(withAttributes(0x0001, 0x0020, 0x8022)), []);
  });

  it('answers them with a 420 error carrying ERROR-CODE, UNKNOWN-ATTRIBUTES, SOFTWARE and FINGERPRINT', () => {
    const message = decodeStun(unknownAttributeError(withAttributes(0x0003), [0x0003, 0x0024], 'Switchboard test'));
    assert.ok(message, 'our own FINGERPRINT verifies');
    assert.equal(message.cls, 'error');
    assert.equal(message.method, METHOD_BINDING);
    assert.deepEqual(message.transactionId, TRANSACTION_ID);
    const code = attribute(message, ATTR_ERROR_CODE);
    assert.equal(code[2]! * 100 + code[3]!, 420);
    assert.equal(code.subarray(4).toString('utf8'), 'Unknown Attribute');
    assert.deepEqual(attribute(message, ATTR_UNKNOWN_ATTRIBUTES), Buffer.from([0x00, 0x03, 0x00, 0x24]));
    assert.equal(attribute(message, ATTR_SOFTWARE).toString('utf8'), 'Switchboard test');
  });
});

describe('malformed input is dropped', () => {
  const valid = encodeStun({ method: METHOD_BINDING, cls: 'request', transactionId: TRANSACTION_ID, attributes: [] }, { fingerprint: true });

  it('accepts the valid request these cases are made from', () => {
    assert.ok(decodeStun(valid));
  });

  const cases: [string, (b: Buffer) => Buffer][] = [
    ['shorter than the header', (b) => b.subarray(0, 19)],
    ['wrong magic cookie (RFC 3489)', (b) => { b.writeUInt32BE(0x2112a443, 4); return b; }],
    ['top bits of the type set', (b) => { b[0] = 0x40; return b; }],
    ['length not a multiple of 4', (b) => {
      const out = Buffer.concat([b, Buffer.alloc(2)]);
      out.writeUInt16BE(out.length - 20, 2);
      return out;
    }],
    ['length not the datagram size', (b) => Buffer.concat([b, Buffer.alloc(4)])],
    ['attribute overrunning the message', (b) => { b.writeUInt16BE(0x0100, 22); return b; }],
    ['FINGERPRINT not last', (b) => {
      const out = Buffer.concat([b, hex('80220004 61626364')]);
      out.writeUInt16BE(out.length - 20, 2);
      return out;
    }],
  ];
  for (const [name, mangle] of cases) {
    it(name, () => assert.equal(decodeStun(mangle(Buffer.from(valid))), undefined));
  }

  it('never throws on arbitrary bytes, or on a valid header followed by arbitrary attributes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodeStun(Buffer.from(bytes));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x3fff }), fc.uint8Array({ maxLength: 120 }), (type, body) => {
        const header = Buffer.alloc(20);
        header.writeUInt16BE(type, 0);
        header.writeUInt16BE(body.length, 2);
        header.writeUInt32BE(0x2112a442, 4);
        const message = decodeStun(Buffer.concat([header, Buffer.from(body)]));
        for (const a of message?.attributes ?? []) {
          decodeAddress(a.value);
          decodeAddress(a.value, TRANSACTION_ID);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('IP address text and bytes', () => {
  it('round-trips every IPv4 and IPv6 literal to its canonical (RFC 5952) text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (address) => {
        const bytes = addressBytes(address);
        assert.ok(bytes, address);
        // The WHATWG URL parser gives the canonical IPv6 text independently of our code.
        const canonical = address.includes(':') ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
        assert.equal(formatAddress(bytes), canonical);
      }),
      { numRuns: 2000 },
    );
  });

  it('drops an IPv6 zone and refuses a name', () => {
    assert.equal(formatAddress(addressBytes('fe80::1%eth0')!), 'fe80::1');
    assert.equal(addressBytes('example.com'), undefined);
  });
});
