// SDP for calls the server answers itself (docs/media.md, "The server as one end of the call"):
// the caller's codec preference, telephone-event, declined streams and RFC 3264 directions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { G722 } from '../../src/media/codecs/g722.js';
import { PCMA, PCMU } from '../../src/media/codecs/g711.js';
import { answerOffer, formatFromAnswer, makeOffer, SdpNegotiationError } from '../../src/media/sdp/endpoint-sdp.js';
import { parseSdp, type ParsedSdp } from '../../src/media/sdp/session-sdp.js';

const US = '203.0.113.1';
const PORT = 30000;
const SESSION_ID = 4242;
const VERSION = 3;

function offer(media: string[], session: string[] = []): ParsedSdp {
  const text = ['v=0', 'o=alice 1 1 IN IP4 198.51.100.10', 's=-', 'c=IN IP4 198.51.100.10', 't=0 0', ...session, ...media].join('\r\n') + '\r\n';
  const p = parseSdp(text);
  assert.ok(p, 'the offer parses');
  return p;
}

function parsed(text: string): ParsedSdp {
  const p = parseSdp(text);
  assert.ok(p, `our SDP parses:\n${text}`);
  return p;
}

describe('answerOffer', () => {
  it('refuses an offer whose only audio is SRTP (RTP/SAVP): the server would answer in clear without keys', () => {
    const srtp = offer(['m=audio 4000 RTP/SAVP 0', 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz']);
    assert.throws(() => answerOffer(srtp, US, PORT, SESSION_ID, VERSION), SdpNegotiationError);
    const both = offer(['m=audio 4000 RTP/SAVP 0', 'm=audio 4002 RTP/AVP 0']);
    assert.equal(answerOffer(both, US, PORT, SESSION_ID, VERSION).audioIndex, 1, 'a plain stream beside it is taken');
  });

  it('takes the first codec of the caller\'s list that we support, with its payload type', () => {
    const sdp = answerOffer(offer(['m=audio 4000 RTP/AVP 18 8 0', 'a=rtpmap:18 G729/8000']), US, PORT, SESSION_ID, VERSION);
    assert.equal(sdp.format?.payloadType, 8);
    assert.equal(sdp.format?.codec, PCMA);
    assert.equal(sdp.format?.telephoneEventPayloadType, undefined);
    assert.equal(sdp.format?.ptimeMs, 20);
    const answer = parsed(sdp.body);
    assert.deepEqual(answer.streams[0]?.formats, [{ payloadType: 8, encoding: 'PCMA', clockRate: 8000 }]);
    assert.equal(String(answer.description.media[0]?.payloads), '8', 'no format but the chosen one');

    const pcmuFirst = answerOffer(offer(['m=audio 4000 RTP/AVP 0 8']), US, PORT, SESSION_ID, VERSION);
    assert.equal(pcmuFirst.format?.codec, PCMU);
  });

  it('honours a dynamic payload type the caller gave a supported codec', () => {
    const sdp = answerOffer(offer(['m=audio 4000 RTP/AVP 112 0', 'a=rtpmap:112 pcma/8000']), US, PORT, SESSION_ID, VERSION);
    assert.equal(sdp.format?.payloadType, 112);
    assert.equal(sdp.format?.codec, PCMA);
    assert.deepEqual(parsed(sdp.body).streams[0]?.formats, [{ payloadType: 112, encoding: 'PCMA', clockRate: 8000 }]);
  });

  it('chooses G.722 (payload type 9, RTP clock 8000) when the caller lists it first', () => {
    const sdp = answerOffer(offer(['m=audio 4000 RTP/AVP 9 0 8']), US, PORT, SESSION_ID, VERSION);
    assert.equal(sdp.format?.payloadType, 9);
    assert.equal(sdp.format?.codec, G722);
    assert.ok(sdp.body.includes('a=rtpmap:9 G722/8000'), sdp.body);
    assert.deepEqual(parsed(sdp.body).streams[0]?.formats, [{ payloadType: 9, encoding: 'G722', clockRate: 8000 }]);
  });

  it('does not take G.722 announced at 16000 Hz, which is not the RFC 3551 clock', () => {
    const sdp = answerOffer(offer(['m=audio 4000 RTP/AVP 96 0', 'a=rtpmap:96 G722/16000']), US, PORT, SESSION_ID, VERSION);
    assert.equal(sdp.format?.codec, PCMU);
  });

  it('keeps telephone-event with the caller\'s payload type, 8 kHz only', () => {
    const sdp = answerOffer(offer([
      'm=audio 4000 RTP/AVP 0 97 96',
      'a=rtpmap:97 telephone-event/16000',
      'a=rtpmap:96 telephone-event/8000',
      'a=fmtp:96 0-15',
    ]), US, PORT, SESSION_ID, VERSION);
    assert.equal(sdp.format?.telephoneEventPayloadType, 96);
    const answer = parsed(sdp.body);
    assert.deepEqual(answer.streams[0]?.formats, [
      { payloadType: 0, encoding: 'PCMU', clockRate: 8000 },
      { payloadType: 96, encoding: 'TELEPHONE-EVENT', clockRate: 8000 },
    ]);
    assert.deepEqual(answer.description.media[0]?.fmtp, [{ payload: 96, config: '0-16' }]);
  });

  it('answers at our address and port with a=ptime:20, our session id and version', () => {
    const sdp = answerOffer(offer(['m=audio 4000 RTP/AVP 0', 'a=ptime:30']), US, PORT, SESSION_ID, VERSION);
    const answer = parsed(sdp.body);
    assert.deepEqual([answer.streams[0]?.port, answer.streams[0]?.address, answer.streams[0]?.ptimeMs], [PORT, US, 20]);
    assert.equal(answer.description.origin?.sessionId, SESSION_ID);
    assert.equal(answer.description.origin?.sessionVersion, VERSION);
    assert.equal(answer.description.origin?.address, US);
    const v6 = parsed(answerOffer(offer(['m=audio 4000 RTP/AVP 0']), '2001:db8::1', PORT, SESSION_ID, VERSION).body);
    assert.equal(v6.streams[0]?.address, '2001:db8::1');
    assert.equal(v6.description.origin?.ipVer, 6);
  });

  it('declines every other stream with port 0, in the offer\'s order', () => {
    const sdp = answerOffer(offer([
      'm=video 5000 RTP/AVP 96',
      'a=rtpmap:96 H264/90000',
      'm=audio 4000 RTP/AVP 18',
      'm=audio 4002 RTP/AVP 8',
      'm=audio 4004 RTP/AVP 0',
    ]), US, PORT, SESSION_ID, VERSION);
    assert.equal(sdp.audioIndex, 2, 'the first audio stream with a codec we have');
    assert.equal(sdp.format?.codec, PCMA);
    const answer = parsed(sdp.body);
    assert.deepEqual(answer.streams.map((s) => [s.type, s.port]), [['video', 0], ['audio', 0], ['audio', PORT], ['audio', 0]]);
  });

  it('skips an audio stream the caller disabled with port 0', () => {
    const sdp = answerOffer(offer(['m=audio 0 RTP/AVP 0', 'm=audio 4002 RTP/AVP 8']), US, PORT, SESSION_ID, VERSION);
    assert.equal(sdp.audioIndex, 1);
    assert.deepEqual(parsed(sdp.body).streams.map((s) => s.port), [0, PORT]);
  });

  it('answers directions as RFC 3264 §6.1 says', () => {
    const cases: Array<[string[], string[], string]> = [
      [['m=audio 4000 RTP/AVP 0'], [], 'sendrecv'],
      [['m=audio 4000 RTP/AVP 0', 'a=sendrecv'], [], 'sendrecv'],
      [['m=audio 4000 RTP/AVP 0', 'a=sendonly'], [], 'recvonly'],
      [['m=audio 4000 RTP/AVP 0', 'a=recvonly'], [], 'sendonly'],
      [['m=audio 4000 RTP/AVP 0', 'a=inactive'], [], 'inactive'],
      [['m=audio 4000 RTP/AVP 0', 'c=IN IP4 0.0.0.0'], [], 'inactive'],
      [['m=audio 4000 RTP/AVP 0'], ['a=sendonly'], 'recvonly'],
    ];
    for (const [media, session, expected] of cases) {
      const answer = parsed(answerOffer(offer(media, session), US, PORT, SESSION_ID, VERSION).body);
      assert.equal(answer.streams[0]?.direction, expected, `${[...session, ...media].join(' ')}`);
    }
  });

  it('throws SdpNegotiationError when no audio stream has a codec we support', () => {
    for (const media of [
      ['m=audio 4000 RTP/AVP 18 3'],
      ['m=audio 4000 RTP/AVP 101', 'a=rtpmap:101 telephone-event/8000'],
      ['m=audio 0 RTP/AVP 0'],
      ['m=video 5000 RTP/AVP 0'],
    ]) {
      assert.throws(() => answerOffer(offer(media), US, PORT, SESSION_ID, VERSION), SdpNegotiationError, media.join(' '));
    }
  });

  it('gives an answer that formatFromAnswer reads back to the same format', () => {
    const sdp = answerOffer(offer(['m=audio 4000 RTP/AVP 8 101', 'a=rtpmap:101 telephone-event/8000']), US, PORT, SESSION_ID, VERSION);
    const back = formatFromAnswer(parsed(sdp.body));
    assert.deepEqual(back.format, sdp.format);
    assert.equal(back.stream.port, PORT);
  });
});

describe('makeOffer and formatFromAnswer', () => {
  it('offers PCMU, PCMA, G.722 and telephone-event 101 at 20 ms, sendrecv', () => {
    const sdp = makeOffer(US, PORT, SESSION_ID, VERSION);
    assert.equal(sdp.format, undefined, 'the answer decides the format');
    assert.equal(sdp.audioIndex, 0);
    const ours = parsed(sdp.body);
    assert.equal(ours.streams.length, 1);
    const stream = ours.streams[0]!;
    assert.deepEqual([stream.type, stream.port, stream.address, stream.direction, stream.ptimeMs], ['audio', PORT, US, 'sendrecv', 20]);
    assert.deepEqual(stream.formats, [
      { payloadType: 0, encoding: 'PCMU', clockRate: 8000 },
      { payloadType: 8, encoding: 'PCMA', clockRate: 8000 },
      { payloadType: 9, encoding: 'G722', clockRate: 8000 },
      { payloadType: 101, encoding: 'TELEPHONE-EVENT', clockRate: 8000 },
    ]);
    assert.deepEqual(ours.description.media[0]?.fmtp, [{ payload: 101, config: '0-16' }]);
    assert.deepEqual([ours.description.origin?.sessionId, ours.description.origin?.sessionVersion], [SESSION_ID, VERSION]);
  });

  it('round trip: the phone\'s answer to our offer gives its codec, events and address', () => {
    const ours = parsed(makeOffer(US, PORT, SESSION_ID, VERSION).body);
    // a phone answering our offer as it would: one codec of ours, events, its own address
    const theirs = answerOffer(ours, '198.51.100.10', 4000, 77, 1);
    assert.equal(theirs.format?.codec, PCMU, 'PCMU is first in our offer');
    const { format, stream } = formatFromAnswer(parsed(theirs.body));
    assert.deepEqual([format.payloadType, format.codec, format.telephoneEventPayloadType, format.ptimeMs], [0, PCMU, 101, 20]);
    assert.deepEqual([stream.address, stream.port], ['198.51.100.10', 4000]);
  });

  it('formatFromAnswer takes the first audio format we can use from an answer listing several', () => {
    const answer = offer(['m=audio 0 RTP/AVP 0', 'm=audio 4002 RTP/AVP 18 9 101', 'a=rtpmap:101 telephone-event/8000']);
    const { format, stream } = formatFromAnswer(answer);
    assert.equal(format.codec, G722);
    assert.equal(format.payloadType, 9);
    assert.equal(format.telephoneEventPayloadType, 101);
    assert.equal(stream.port, 4002);
  });

  it('formatFromAnswer throws SdpNegotiationError for a rejected stream or a codec we do not have', () => {
    assert.throws(() => formatFromAnswer(offer(['m=audio 0 RTP/AVP 0'])), SdpNegotiationError);
    assert.throws(() => formatFromAnswer(offer(['m=audio 4000 RTP/AVP 18'])), SdpNegotiationError);
  });
});
