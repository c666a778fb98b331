// What the relay reads from a party's SDP and the rewrite that puts the relay in the party's place
// (docs/media.md, "What the server does to a call's SDP").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSdp, rewriteSdp, type ParsedSdp } from '../../src/media/sdp/session-sdp.js';

const RELAY = '203.0.113.1';
const RELAY6 = '2001:db8::1';

function sdp(lines: string[]): string {
  return `${lines.join('\r\n')}\r\n`;
}

function parsed(text: string): ParsedSdp {
  const p = parseSdp(text);
  assert.ok(p, 'the SDP parses');
  return p;
}

function lines(text: string): string[] {
  return text.split('\r\n').filter((l) => l !== '');
}

/** The lines of the m= section `index` (0-based), m= line included; index -1 is the session part. */
function section(text: string, index: number): string[] {
  const all = lines(text);
  const starts = all.flatMap((l, i) => (l.startsWith('m=') ? [i] : []));
  if (index === -1) return all.slice(0, starts[0]);
  return all.slice(starts[index], starts[index + 1]);
}

const PHONE = sdp([
  'v=0',
  'o=alice 2890844526 2890844527 IN IP4 10.0.0.5',
  's=call',
  'c=IN IP4 10.0.0.5',
  't=0 0',
  'a=ice-lite',
  'a=ice-options:trickle',
  'a=ice-ufrag:sessUfrag',
  'a=ice-pwd:sessionPasswordSessionPassword',
  'm=audio 4000 RTP/AVP 9 0 101',
  'c=IN IP4 10.0.0.6',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=ptime:30',
  'a=rtcp:4001 IN IP4 10.0.0.6',
  'a=ice-ufrag:mediaUfrag',
  'a=ice-pwd:mediaPasswordMediaPasswordMedia',
  'a=candidate:1 1 UDP 2130706431 10.0.0.6 4000 typ host',
  'a=candidate:2 1 UDP 1694498815 198.51.100.7 41000 typ srflx raddr 10.0.0.6 rport 4000',
  'a=remote-candidates:1 198.51.100.9 5000',
  'a=end-of-candidates',
  'a=sendrecv',
  'm=video 0 RTP/AVP 96',
  'a=rtpmap:96 H264/90000',
  'm=audio 6000 RTP/AVP 8',
  'a=rtcp-mux',
  'a=rtcp:6000',
  'a=recvonly',
]);

describe('parseSdp', () => {
  it('reads each stream: media-level c= over session-level, direction, formats, ptime, rtcp-mux', () => {
    const p = parsed(PHONE);
    assert.deepEqual(p.streams, [
      {
        type: 'audio', port: 4000, address: '10.0.0.6', nullAddress: false, direction: 'sendrecv',
        formats: [
          { payloadType: 9, encoding: 'G722', clockRate: 8000 },
          { payloadType: 0, encoding: 'PCMU', clockRate: 8000 },
          { payloadType: 101, encoding: 'TELEPHONE-EVENT', clockRate: 8000 },
        ],
        ptimeMs: 30, rtcpMux: false, rtcpPort: 4001, protocol: 'RTP/AVP',
      },
      {
        type: 'video', port: 0, address: '10.0.0.5', nullAddress: false, direction: 'sendrecv',
        formats: [{ payloadType: 96, encoding: 'H264', clockRate: 90000 }], ptimeMs: undefined, rtcpMux: false,
        rtcpPort: 1, protocol: 'RTP/AVP',
      },
      {
        type: 'audio', port: 6000, address: '10.0.0.5', nullAddress: false, direction: 'recvonly',
        formats: [{ payloadType: 8, encoding: 'PCMA', clockRate: 8000 }], ptimeMs: undefined, rtcpMux: true,
        rtcpPort: 6000, protocol: 'RTP/AVP',
      },
    ]);
  });

  it('takes static payload types without a=rtpmap from RFC 3551 and skips unknown dynamic ones', () => {
    const p = parsed(sdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0', 'm=audio 4000 RTP/AVP 0 8 9 18 3 96 13']));
    assert.deepEqual(p.streams[0]?.formats, [
      { payloadType: 0, encoding: 'PCMU', clockRate: 8000 },
      { payloadType: 8, encoding: 'PCMA', clockRate: 8000 },
      { payloadType: 9, encoding: 'G722', clockRate: 8000 },
      { payloadType: 18, encoding: 'G729', clockRate: 8000 },
      { payloadType: 3, encoding: 'GSM', clockRate: 8000 },
      { payloadType: 13, encoding: 'CN', clockRate: 8000 },
    ]);
  });

  it('reads where the party wants RTCP: a=rtcp, the RTP port with rtcp-mux, else the next port; and the transport', () => {
    const base = ['v=0', 'o=- 1 1 IN IP4 198.51.100.7', 's=-', 'c=IN IP4 198.51.100.7', 't=0 0'];
    const streams = parsed(sdp([...base, 'm=audio 4000 RTP/AVP 0', 'a=rtcp:4005', 'm=audio 4010 RTP/SAVP 0', 'a=rtcp-mux', 'm=audio 4020 RTP/AVP 0'])).streams;
    assert.deepEqual(streams.map((s) => s.rtcpPort), [4005, 4010, 4021]);
    assert.deepEqual(streams.map((s) => s.protocol), ['RTP/AVP', 'RTP/SAVP', 'RTP/AVP']);
  });

  it('applies a session-level direction to streams without their own', () => {
    const p = parsed(sdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0', 'a=sendonly', 'm=audio 4000 RTP/AVP 0', 'm=audio 4002 RTP/AVP 0', 'a=inactive']));
    assert.deepEqual(p.streams.map((s) => s.direction), ['sendonly', 'inactive']);
  });

  it('marks the null addresses 0.0.0.0 and :: (RFC 2543 hold)', () => {
    const v4 = parsed(sdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 0.0.0.0', 't=0 0', 'm=audio 4000 RTP/AVP 0']));
    const v6 = parsed(sdp(['v=0', 'o=- 1 1 IN IP6 2001:db8::5', 's=-', 'c=IN IP6 ::', 't=0 0', 'm=audio 4000 RTP/AVP 0']));
    const real = parsed(sdp(['v=0', 'o=- 1 1 IN IP6 2001:db8::5', 's=-', 'c=IN IP6 2001:db8::5', 't=0 0', 'm=audio 4000 RTP/AVP 0']));
    assert.deepEqual([v4.streams[0]?.nullAddress, v6.streams[0]?.nullAddress, real.streams[0]?.nullAddress], [true, true, false]);
    assert.equal(real.streams[0]?.address, '2001:db8::5');
  });

  it('returns undefined for garbage, for SDP without m= lines and for a stream without any c=', () => {
    assert.equal(parseSdp(''), undefined);
    assert.equal(parseSdp('hello, this is not SDP'), undefined);
    assert.equal(parseSdp('\u0000\u0001\u0002 m=audio'), undefined);
    assert.equal(parseSdp(sdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0'])), undefined);
    assert.equal(parseSdp(sdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 't=0 0', 'm=audio 4000 RTP/AVP 0'])), undefined);
  });
});

describe('rewriteSdp', () => {
  const REWRITES = [
    { port: 30000, rtcpPort: 30001 },
    { port: 30002, rtcpPort: 30003 },
    { port: 30004, rtcpPort: undefined },
  ];

  it('puts the relay address in o= and both levels of c=, keeping the sender\'s session id and version', () => {
    const out = rewriteSdp(parsed(PHONE), RELAY, REWRITES);
    const session = section(out, -1);
    assert.ok(session.includes(`o=alice 2890844526 2890844527 IN IP4 ${RELAY}`), session.join('|'));
    assert.ok(session.includes(`c=IN IP4 ${RELAY}`));
    assert.ok(section(out, 0).includes(`c=IN IP4 ${RELAY}`));
    assert.ok(section(out, 2).includes(`c=IN IP4 ${RELAY}`));
    assert.ok(!out.includes('10.0.0.'), `no address of the party is left:\n${out}`);
  });

  it('puts the relay port in m= and replaces a=rtcp with the relay RTCP port', () => {
    const out = rewriteSdp(parsed(PHONE), RELAY, REWRITES);
    const audio = section(out, 0);
    assert.equal(audio[0], 'm=audio 30000 RTP/AVP 9 0 101');
    assert.deepEqual(audio.filter((l) => l.startsWith('a=rtcp')), [`a=rtcp:30001 IN IP4 ${RELAY}`]);
  });

  it('adds a=rtcp for a party that did not send one, so the other side learns the relay RTCP port', () => {
    const text = sdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0', 'm=audio 4000 RTP/AVP 0']);
    const out = rewriteSdp(parsed(text), RELAY, [{ port: 30010, rtcpPort: 30011 }]);
    assert.deepEqual(section(out, 0).filter((l) => l.startsWith('a=rtcp')), [`a=rtcp:30011 IN IP4 ${RELAY}`]);
  });

  it('drops a=rtcp and keeps a=rtcp-mux for a party that multiplexes RTCP', () => {
    const out = rewriteSdp(parsed(PHONE), RELAY, REWRITES);
    const muxed = section(out, 2);
    assert.equal(muxed[0], 'm=audio 30004 RTP/AVP 8');
    assert.ok(muxed.includes('a=rtcp-mux'));
    assert.equal(muxed.filter((l) => l.startsWith('a=rtcp:')).length, 0, muxed.join('|'));
  });

  it('removes every ICE attribute at session and media level', () => {
    const out = rewriteSdp(parsed(PHONE), RELAY, REWRITES);
    for (const attribute of ['a=ice-', 'a=candidate', 'a=end-of-candidates', 'a=remote-candidates']) {
      assert.ok(!out.includes(attribute), `${attribute} left in:\n${out}`);
    }
  });

  it('passes codecs, fmtp, ptime, telephone-event and direction through unchanged', () => {
    const before = parsed(PHONE);
    const after = parsed(rewriteSdp(before, RELAY, REWRITES));
    assert.deepEqual(after.streams.map((s) => [s.formats, s.ptimeMs, s.direction, s.rtcpMux]), before.streams.map((s) => [s.formats, s.ptimeMs, s.direction, s.rtcpMux]));
    assert.deepEqual(after.description.media.map((m) => [m.payloads, m.rtp, m.fmtp, m.protocol]), before.description.media.map((m) => [m.payloads, m.rtp, m.fmtp, m.protocol]));
    assert.ok(section(rewriteSdp(before, RELAY, REWRITES), 0).includes('a=fmtp:101 0-15'));
  });

  it('leaves a port-0 stream disabled whatever port the rewrite offers', () => {
    const out = rewriteSdp(parsed(PHONE), RELAY, REWRITES);
    assert.equal(section(out, 1)[0], 'm=video 0 RTP/AVP 96');
    assert.equal(parsed(out).streams[1]?.port, 0);
  });

  it('declines a stream with port 0 and leaves one without a rewrite as it was', () => {
    const text = sdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0', 'm=audio 4000 RTP/AVP 0', 'm=audio 4002 RTP/AVP 0', 'a=rtcp:4003']);
    const out = rewriteSdp(parsed(text), RELAY, [{ port: undefined, rtcpPort: undefined }, { port: 0, rtcpPort: undefined }]);
    assert.equal(section(out, 0)[0], 'm=audio 4000 RTP/AVP 0');
    assert.equal(section(out, 1)[0], 'm=audio 0 RTP/AVP 0');
    assert.ok(!section(out, 1).some((l) => l.startsWith('a=rtcp')));
  });

  it('replaces the direction when the rewrite says so (hold) and only then', () => {
    const out = rewriteSdp(parsed(PHONE), RELAY, [{ port: 30000, rtcpPort: 30001, direction: 'sendonly' }, REWRITES[1]!, REWRITES[2]!]);
    assert.deepEqual(parsed(out).streams.map((s) => s.direction), ['sendonly', 'sendrecv', 'recvonly']);
  });

  it('writes IPv6 relay addresses as IN IP6, also for a party that spoke IPv4', () => {
    const v6 = sdp(['v=0', 'o=- 7 8 IN IP6 2001:db8::5', 's=-', 'c=IN IP6 2001:db8::5', 't=0 0', 'm=audio 4000 RTP/AVP 0']);
    const out6 = rewriteSdp(parsed(v6), RELAY6, [{ port: 30000, rtcpPort: 30001 }]);
    assert.ok(section(out6, -1).includes(`o=- 7 8 IN IP6 ${RELAY6}`));
    assert.ok(section(out6, -1).includes(`c=IN IP6 ${RELAY6}`));
    assert.ok(section(out6, 0).includes(`c=IN IP6 ${RELAY6}`));
    assert.ok(section(out6, 0).includes(`a=rtcp:30001 IN IP6 ${RELAY6}`));
    assert.ok(!out6.includes('2001:db8::5'));

    const v4 = sdp(['v=0', 'o=- 7 8 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0', 'm=audio 4000 RTP/AVP 0']);
    const crossed = parsed(rewriteSdp(parsed(v4), RELAY6, [{ port: 30000, rtcpPort: 30001 }]));
    assert.equal(crossed.streams[0]?.address, RELAY6);
    assert.equal(crossed.description.origin?.ipVer, 6);
    const back = parsed(rewriteSdp(parsed(v6), RELAY, [{ port: 30000, rtcpPort: 30001 }]));
    assert.equal(back.streams[0]?.address, RELAY);
    assert.equal(back.description.origin?.ipVer, 4);
  });

  it('produces SDP that parses again, with the relay as every stream\'s address', () => {
    const again = parsed(rewriteSdp(parsed(PHONE), RELAY, REWRITES));
    assert.deepEqual(again.streams.map((s) => [s.port, s.address]), [[30000, RELAY], [0, RELAY], [30004, RELAY]]);
  });

  it('does not change the parsed description, so it can be rewritten again', () => {
    const p = parsed(PHONE);
    const copy = structuredClone(p.description);
    const first = rewriteSdp(p, RELAY, REWRITES);
    assert.deepEqual(p.description, copy);
    assert.equal(rewriteSdp(p, RELAY, REWRITES), first);
  });
});
