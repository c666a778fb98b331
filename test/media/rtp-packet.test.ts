// RTP header reading and writing (RFC 3550 §5.1), RTP/RTCP demultiplexing (RFC 5761 §4), and the
// sequence/timestamp/marker bookkeeping of one outgoing stream.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  isRtcp,
  RTP_HEADER_BYTES,
  rtpMarker,
  rtpPayloadLength,
  rtpPayloadOffset,
  rtpPayloadType,
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
  rtpVersion,
  writeRtpHeader,
} from '../../src/media/rtp/rtp-packet.js';
import { RtpSender } from '../../src/media/rtp/rtp-sender.js';

interface HeaderShape {
  csrcs: number;
  extensionWords: number | undefined;
  payload: Uint8Array;
  padding: number;
}

/** Builds a packet the way another implementation might: CSRCs, a header extension, padding. */
function buildPacket(shape: HeaderShape): Uint8Array {
  const extensionBytes = shape.extensionWords === undefined ? 0 : 4 + 4 * shape.extensionWords;
  const headerBytes = RTP_HEADER_BYTES + 4 * shape.csrcs + extensionBytes;
  const packet = new Uint8Array(headerBytes + shape.payload.length + shape.padding).fill(0xa5);
  writeRtpHeader(packet, 96, false, 1, 2, 3);
  packet[0] |= shape.csrcs | (shape.extensionWords === undefined ? 0 : 0x10) | (shape.padding > 0 ? 0x20 : 0);
  if (shape.extensionWords !== undefined) {
    const at = RTP_HEADER_BYTES + 4 * shape.csrcs;
    packet[at + 2] = shape.extensionWords >> 8;
    packet[at + 3] = shape.extensionWords & 0xff;
  }
  packet.set(shape.payload, headerBytes);
  if (shape.padding > 0) packet[packet.length - 1] = shape.padding;
  return packet;
}

const headerShape = fc.record({
  csrcs: fc.integer({ min: 0, max: 15 }),
  extensionWords: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
  payload: fc.uint8Array({ maxLength: 200 }),
  padding: fc.integer({ min: 0, max: 255 }),
});

describe('RTP header', () => {
  it('reads back every field written, for any values', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 127 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ maxLength: 320 }),
        (payloadType, marker, sequence, timestamp, ssrc, payload) => {
          const packet = Buffer.alloc(RTP_HEADER_BYTES + payload.length);
          assert.equal(writeRtpHeader(packet, payloadType, marker, sequence, timestamp, ssrc), RTP_HEADER_BYTES);
          packet.set(payload, RTP_HEADER_BYTES);
          assert.equal(rtpVersion(packet), 2);
          assert.equal(rtpPayloadType(packet), payloadType);
          assert.equal(rtpMarker(packet), marker);
          assert.equal(rtpSequence(packet), sequence);
          assert.equal(rtpTimestamp(packet), timestamp);
          assert.equal(rtpSsrc(packet), ssrc);
          assert.equal(rtpPayloadOffset(packet, packet.length), RTP_HEADER_BYTES);
          assert.equal(rtpPayloadLength(packet, packet.length), payload.length);
          assert.equal(packet.readUInt32BE(4), timestamp, 'network byte order');
        },
      ),
    );
  });

  it('finds the payload after CSRCs and a header extension, and before the padding', () => {
    fc.assert(
      fc.property(headerShape, (shape) => {
        const packet = buildPacket(shape);
        const offset = rtpPayloadOffset(packet, packet.length);
        const extensionBytes = shape.extensionWords === undefined ? 0 : 4 + 4 * shape.extensionWords;
        assert.equal(offset, RTP_HEADER_BYTES + 4 * shape.csrcs + extensionBytes);
        assert.equal(rtpPayloadLength(packet, packet.length), shape.payload.length);
        assert.deepEqual(packet.subarray(offset, offset + shape.payload.length), shape.payload);
      }),
    );
  });

  it('rejects a packet cut anywhere inside its header, CSRC list or extension', () => {
    fc.assert(
      fc.property(headerShape, fc.nat(), (shape, cutSeed) => {
        const packet = buildPacket(shape);
        const offset = rtpPayloadOffset(packet, packet.length);
        const cut = cutSeed % offset;
        assert.equal(rtpPayloadOffset(packet, cut), -1, `length ${cut} of a ${offset}-byte header`);
        assert.equal(rtpPayloadOffset(packet.subarray(0, cut), packet.length), -1, 'buffer shorter than length');
      }),
    );
  });

  it('rejects padding that is zero or longer than what follows the header', () => {
    const packet = buildPacket({ csrcs: 1, extensionWords: undefined, payload: new Uint8Array(4), padding: 4 });
    assert.equal(rtpPayloadLength(packet, packet.length), 4);
    packet[packet.length - 1] = 0;
    assert.equal(rtpPayloadOffset(packet, packet.length), -1, 'padding count 0');
    packet[packet.length - 1] = packet.length - 16 + 1;
    assert.equal(rtpPayloadOffset(packet, packet.length), -1, 'padding reaching into the CSRC list');
    packet[packet.length - 1] = packet.length - 16;
    assert.equal(rtpPayloadLength(packet, packet.length), 0, 'padding filling everything after the header');
  });

  it('rejects versions other than 2', () => {
    const packet = buildPacket({ csrcs: 0, extensionWords: undefined, payload: new Uint8Array(160), padding: 0 });
    for (const version of [0, 1, 3]) {
      packet[0] = (packet[0]! & 0x3f) | (version << 6);
      assert.equal(rtpPayloadOffset(packet, packet.length), -1, `version ${version}`);
    }
  });

  it('never throws on arbitrary bytes and never points outside them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 600 }), (bytes, length) => {
        const offset = rtpPayloadOffset(bytes, length);
        const payloadLength = rtpPayloadLength(bytes, length);
        const end = Math.min(length, bytes.length);
        if (offset < 0) {
          assert.equal(payloadLength, -1);
        } else {
          assert.ok(offset >= RTP_HEADER_BYTES && payloadLength >= 0 && offset + payloadLength <= end);
        }
        for (const read of [rtpVersion, rtpPayloadType, rtpSequence, rtpTimestamp, rtpSsrc]) {
          assert.ok(Number.isInteger(read(bytes)) && read(bytes) >= 0);
        }
        assert.equal(typeof rtpMarker(bytes), 'boolean');
        assert.equal(typeof isRtcp(bytes, length), 'boolean');
      }),
    );
  });
});

describe('RTP/RTCP demultiplexing (RFC 5761)', () => {
  const packetWithType = (secondByte: number, length = 32): Uint8Array => {
    const packet = new Uint8Array(length);
    packet[0] = 0x80;
    packet[1] = secondByte;
    return packet;
  };

  it('sends the RTCP packet types 192–223 (SR, RR, SDES, BYE, APP, feedback) to RTCP', () => {
    for (let packetType = 192; packetType <= 223; packetType++) {
      assert.equal(isRtcp(packetWithType(packetType), 32), true, `packet type ${packetType}`);
    }
  });

  it('keeps every RTP payload type outside 64–95, with or without the marker, as RTP', () => {
    for (let payloadType = 0; payloadType < 128; payloadType++) {
      if (payloadType >= 64 && payloadType <= 95) continue;
      assert.equal(isRtcp(packetWithType(payloadType), 32), false, `payload type ${payloadType}`);
      assert.equal(isRtcp(packetWithType(0x80 | payloadType), 32), false, `payload type ${payloadType} marked`);
    }
  });

  it('does not take a packet of another version for RTCP', () => {
    const receiverReport = packetWithType(201);
    receiverReport[0] = 0x40;
    assert.equal(isRtcp(receiverReport, 32), false);
  });

  it('does not take a packet shorter than an empty receiver report for RTCP', () => {
    assert.equal(isRtcp(packetWithType(201), 7), false);
    assert.equal(isRtcp(packetWithType(201, 7), 8), false);
    assert.equal(isRtcp(packetWithType(201), 8), true);
  });
});

describe('RtpSender', () => {
  const packets = (sender: RtpSender, count: number, clockTicks: number): Uint8Array[] =>
    Array.from({ length: count }, () => {
      const out = new Uint8Array(RTP_HEADER_BYTES + 160);
      assert.equal(sender.packet(out, 0, 160, clockTicks, false), RTP_HEADER_BYTES + 160);
      return out;
    });

  it('advances the sequence by one and the timestamp by the frame duration, marking only the first', () => {
    const sender = new RtpSender();
    const sent = packets(sender, 10, 160);
    const first = sent[0]!;
    sent.forEach((packet, i) => {
      assert.equal(rtpSsrc(packet), sender.ssrc);
      assert.equal(rtpSequence(packet), (rtpSequence(first) + i) & 0xffff);
      assert.equal(rtpTimestamp(packet), (rtpTimestamp(first) + 160 * i) >>> 0);
      assert.equal(rtpMarker(packet), i === 0);
      assert.equal(rtpPayloadType(packet), 0);
    });
  });

  it('starts each stream at a random SSRC, sequence number and timestamp', () => {
    const firsts = Array.from({ length: 4 }, () => packets(new RtpSender(), 1, 160)[0]!);
    for (const read of [rtpSsrc, rtpSequence, rtpTimestamp]) {
      assert.ok(new Set(firsts.map(read)).size > 1, `${read.name} differs between streams`);
    }
  });

  it('wraps the sequence number at 16 bits and the timestamp at 32', () => {
    const sender = new RtpSender({ ssrc: 7, sequence: 0xfffe, timestamp: 0xffffffff - 200 });
    const sent = packets(sender, 3, 160);
    assert.deepEqual(sent.map(rtpSequence), [0xfffe, 0xffff, 0]);
    assert.deepEqual(sent.map(rtpTimestamp), [0xffffffff - 200, 0xffffffff - 40, 119]);
  });

  it('marks the packet after markNextPacket() or after a skipped gap, and a packet asked to be marked', () => {
    const sender = new RtpSender({ ssrc: 1, sequence: 100, timestamp: 1000 });
    packets(sender, 2, 160);
    sender.markNextPacket();
    const [afterMark, plain] = packets(sender, 2, 160);
    assert.equal(rtpMarker(afterMark!), true);
    assert.equal(rtpMarker(plain!), false);

    sender.advance(800);
    const [afterGap, next] = packets(sender, 2, 160);
    assert.equal(rtpTimestamp(afterGap!), 1000 + 4 * 160 + 800, 'the gap moves the timestamp, not the sequence');
    assert.equal(rtpSequence(afterGap!), 104);
    assert.equal(rtpMarker(afterGap!), true);
    assert.equal(rtpMarker(next!), false);

    const out = new Uint8Array(RTP_HEADER_BYTES);
    sender.packet(out, 8, 0, 160, true);
    assert.equal(rtpMarker(out), true);
    assert.equal(rtpPayloadType(out), 8);
  });

  it('counts G.722 frames at the 8000 Hz RTP clock: 20 ms is 160 ticks though it carries 320 samples', () => {
    const sender = new RtpSender({ ssrc: 1, sequence: 0, timestamp: 0 });
    const out = new Uint8Array(RTP_HEADER_BYTES + 160);
    const stamps: number[] = [];
    for (let i = 0; i < 3; i++) {
      sender.packet(out, 9, 160, 160, false);
      stamps.push(rtpTimestamp(out));
    }
    assert.deepEqual(stamps, [0, 160, 320]);
  });
});
