// One call's relayed media: SDP from either side rewritten to the relay legs, declined extra streams,
// hold (music, no bridging, RTCP still through), resume, re-offers and closing (docs/media.md).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaSession, SdpRelayError, type HoldHandler, type RelayedStream, type Side } from '../../src/media/relay/media-session.js';
import type { RelayLeg } from '../../src/media/relay/relay-leg.js';
import { parseSdp, type ParsedSdp } from '../../src/media/sdp/session-sdp.js';
import { FakeRelayLeg } from '../support/fake-relay.js';

class HoldRecorder implements HoldHandler {
  readonly events: string[] = [];
  startHoldMusic(stream: RelayedStream, held: Side): void {
    this.events.push(`start ${stream.index} ${held}`);
  }
  stopHoldMusic(stream: RelayedStream, held: Side): void {
    this.events.push(`stop ${stream.index} ${held}`);
  }
}

/** our address as each side reaches us */
const TO_CALLER = '203.0.113.1';
const TO_CALLEE = '203.0.113.2';
const CALLER_SIP = '198.51.100.10';
const CALLEE_SIP = '192.0.2.21';

interface Fixture {
  session: MediaSession;
  legs: Array<Record<Side, FakeRelayLeg>>;
  hold: HoldRecorder;
  closed: RelayLeg[][];
}

function fixture(streams = 1, withHold = true): Fixture {
  const hold = new HoldRecorder();
  const legs = Array.from({ length: streams }, (_, i) => ({ caller: new FakeRelayLeg(30000 + 4 * i), callee: new FakeRelayLeg(30002 + 4 * i) }));
  const closed: RelayLeg[][] = [];
  const addresses = { sdpAddress: (side: Side) => (side === 'caller' ? TO_CALLER : TO_CALLEE) };
  const session = new MediaSession(legs, addresses, withHold ? hold : undefined, (used) => closed.push(used));
  return { session, legs, hold, closed };
}

function sdp(owner: string, address: string, media: string[]): string {
  return ['v=0', `o=${owner} 1 1 IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0', ...media].join('\r\n') + '\r\n';
}

const callerSdp = (...media: string[]) => sdp('alice', CALLER_SIP, media.length > 0 ? media : ['m=audio 4000 RTP/AVP 0']);
const calleeSdp = (...media: string[]) => sdp('bob', CALLEE_SIP, media.length > 0 ? media : ['m=audio 5000 RTP/AVP 0']);

function parsed(text: string): ParsedSdp {
  const p = parseSdp(text);
  assert.ok(p, `relayed SDP parses:\n${text}`);
  return p;
}

function assertBridged(pair: Record<Side, FakeRelayLeg>): void {
  assert.equal(pair.caller.rtpTo, pair.callee);
  assert.equal(pair.callee.rtpTo, pair.caller);
  assert.equal(pair.caller.rtcpTo, pair.callee);
  assert.equal(pair.callee.rtcpTo, pair.caller);
}

/** Caller offers, callee answers: the call is up. */
function established(f: Fixture): void {
  f.session.relaySdp('caller', callerSdp(), CALLER_SIP, true);
  f.session.relaySdp('callee', calleeSdp(), CALLEE_SIP, false);
}

describe('MediaSession: SDP through the relay', () => {
  it('bridges each stream\'s legs from the start', () => {
    const f = fixture(2);
    for (const pair of f.legs) assertBridged(pair);
  });

  it('an offer from the caller sets the caller leg and goes to the callee with the callee leg\'s port', () => {
    const f = fixture();
    const out = parsed(f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=rtcp:4005'), CALLER_SIP, true));
    assert.deepEqual(f.legs[0]!.caller.signalled, [{ address: CALLER_SIP, port: 4000, rtcpPort: 4005, signallingAddress: CALLER_SIP }], 'RTCP where a=rtcp says');
    assert.deepEqual(f.legs[0]!.callee.signalled, []);
    assert.deepEqual([out.streams[0]?.port, out.streams[0]?.address], [30002, TO_CALLEE]);
    assert.deepEqual(out.description.media[0]?.rtcp, { port: 30003, netType: 'IN', ipVer: 4, address: TO_CALLEE });
    assert.equal(out.description.origin?.address, TO_CALLEE);
  });

  it('the answer from the callee sets the callee leg and goes to the caller with the caller leg\'s port', () => {
    const f = fixture();
    f.session.relaySdp('caller', callerSdp(), CALLER_SIP, true);
    const out = parsed(f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=rtcp-mux'), '192.0.2.99', false));
    assert.deepEqual(f.legs[0]!.callee.signalled, [{ address: CALLEE_SIP, port: 5000, rtcpPort: 5000, signallingAddress: '192.0.2.99' }], 'RTCP on the RTP port with rtcp-mux');
    assert.deepEqual([out.streams[0]?.port, out.streams[0]?.address, out.streams[0]?.rtcpMux], [30000, TO_CALLER, true]);
    assert.equal(out.description.media[0]?.rtcp, undefined, 'no a=rtcp with rtcp-mux');
    assertBridged(f.legs[0]!);
  });

  it('relays each m= line through its own pair of legs', () => {
    const f = fixture(2);
    const out = parsed(f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'm=video 4010 RTP/AVP 96', 'a=rtpmap:96 H264/90000'), CALLER_SIP, true));
    assert.deepEqual(out.streams.map((s) => s.port), [30002, 30006]);
    assert.equal(f.legs[1]!.caller.signalling?.port, 4010);
  });

  it('declines with port 0 a stream beyond the ones the call has legs for', () => {
    const f = fixture(1);
    established(f);
    const out = parsed(f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'm=video 5010 RTP/AVP 96', 'a=rtpmap:96 H264/90000'), CALLEE_SIP, true));
    assert.deepEqual(out.streams.map((s) => s.port), [30000, 0]);
    assert.deepEqual(f.legs[0]!.callee.signalled.map((s) => s.port), [5000, 5000], 'the extra stream touches no leg');
  });

  it('passes a stream a party disabled (port 0) on disabled and leaves its leg alone', () => {
    const f = fixture(2);
    const out = parsed(f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'm=video 0 RTP/AVP 96'), CALLER_SIP, true));
    assert.deepEqual(out.streams.map((s) => s.port), [30002, 0]);
    assert.deepEqual(f.legs[1]!.caller.signalled, []);
  });

  it('a re-offer with a new port moves the leg and still names the same relay port', () => {
    const f = fixture();
    established(f);
    const out = parsed(f.session.relaySdp('caller', callerSdp('m=audio 4100 RTP/AVP 0'), CALLER_SIP, true));
    assert.deepEqual(f.legs[0]!.caller.signalled.map((s) => s.port), [4000, 4100]);
    assert.equal(out.streams[0]?.port, 30002);
  });

  it('throws SdpRelayError for SDP it cannot read, touching no leg', () => {
    const f = fixture();
    assert.throws(() => f.session.relaySdp('caller', 'no sdp here', CALLER_SIP, true), SdpRelayError);
    assert.deepEqual(f.legs[0]!.caller.signalled, []);
  });
});

describe('MediaSession: hold', () => {
  for (const [how, media] of [
    ['a=sendonly', ['m=audio 4000 RTP/AVP 0 8', 'a=sendonly']],
    ['a=inactive', ['m=audio 4000 RTP/AVP 0 8', 'a=inactive']],
    ['c=0.0.0.0', ['m=audio 4000 RTP/AVP 0 8', 'c=IN IP4 0.0.0.0']],
  ] as const) {
    it(`hold by ${how}: music for the other side, RTP no longer bridged, RTCP still, the held party told a=sendonly`, () => {
      const f = fixture();
      established(f);
      const toHeld = parsed(f.session.relaySdp('caller', callerSdp(...media), CALLER_SIP, true));
      assert.deepEqual(f.hold.events, ['start 0 callee']);
      assert.equal(f.session.streams[0]?.heldBy, 'caller');
      assert.equal(f.session.onHold, true);
      const { caller, callee } = f.legs[0]!;
      assert.deepEqual([caller.rtpTo, callee.rtpTo], [undefined, undefined]);
      assert.deepEqual([caller.rtcpTo, callee.rtcpTo], [callee, caller]);
      assert.equal(toHeld.streams[0]?.direction, 'sendonly');
      assert.deepEqual([toHeld.streams[0]?.address, toHeld.streams[0]?.nullAddress, toHeld.streams[0]?.port], [TO_CALLEE, false, 30002]);
      assert.equal(f.session.describe()[0]?.heldBy, 'caller');
    });
  }

  it('the holder\'s a=sendonly offer gets the held party\'s a=recvonly answer unchanged', () => {
    const f = fixture();
    established(f);
    f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=sendonly'), CALLER_SIP, true);
    const toHolder = parsed(f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=recvonly'), CALLEE_SIP, false));
    assert.equal(toHolder.streams[0]?.direction, 'recvonly');
    assert.deepEqual(f.hold.events, ['start 0 callee'], 'the answer does not restart the music');
  });

  for (const [how, media] of [
    ['a=inactive', ['m=audio 4000 RTP/AVP 0', 'a=inactive']],
    ['c=0.0.0.0', ['m=audio 4000 RTP/AVP 0', 'c=IN IP4 0.0.0.0']],
  ] as const) {
    it(`an offer made with ${how} is answered with a=inactive, whatever the held party said`, () => {
      const f = fixture();
      established(f);
      f.session.relaySdp('caller', callerSdp(...media), CALLER_SIP, true);
      const toHolder = parsed(f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=recvonly'), CALLEE_SIP, false));
      assert.equal(toHolder.streams[0]?.direction, 'inactive');
    });
  }

  it('the callee can hold the caller too', () => {
    const f = fixture();
    established(f);
    const toHeld = parsed(f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=sendonly'), CALLEE_SIP, true));
    assert.deepEqual(f.hold.events, ['start 0 caller']);
    assert.equal(f.session.streams[0]?.heldBy, 'callee');
    assert.deepEqual([toHeld.streams[0]?.direction, toHeld.streams[0]?.port], ['sendonly', 30000]);
  });

  it('resume: the music stops, both directions are bridged again, the holder\'s direction passes on', () => {
    const f = fixture();
    established(f);
    f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=sendonly'), CALLER_SIP, true);
    f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=recvonly'), CALLEE_SIP, false);
    const toHeld = parsed(f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=sendrecv'), CALLER_SIP, true));
    assert.deepEqual(f.hold.events, ['start 0 callee', 'stop 0 callee']);
    assert.equal(f.session.onHold, false);
    assert.equal(f.session.streams[0]?.heldBy, undefined);
    assertBridged(f.legs[0]!);
    assert.equal(toHeld.streams[0]?.direction, 'sendrecv');
    const toHolder = parsed(f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=sendrecv'), CALLEE_SIP, false));
    assert.equal(toHolder.streams[0]?.direction, 'sendrecv', 'no inactive left over from the hold');
  });

  it('a second hold offer from the holder does not start a second music', () => {
    const f = fixture();
    established(f);
    f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=sendonly'), CALLER_SIP, true);
    f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=recvonly'), CALLEE_SIP, false);
    const again = parsed(f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=inactive'), CALLER_SIP, true));
    assert.deepEqual(f.hold.events, ['start 0 callee']);
    assert.equal(again.streams[0]?.direction, 'sendonly');
  });

  it('a sendonly video stream is no hold: no music, still bridged', () => {
    const f = fixture();
    f.session.relaySdp('caller', callerSdp('m=video 4000 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=sendonly'), CALLER_SIP, true);
    assert.deepEqual(f.hold.events, []);
    assert.equal(f.session.onHold, false);
    assertBridged(f.legs[0]!);
  });

  it('without a hold handler a=sendonly passes unchanged and the legs stay bridged', () => {
    const f = fixture(1, false);
    established(f);
    const out = parsed(f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=inactive'), CALLER_SIP, true));
    assert.equal(out.streams[0]?.direction, 'inactive');
    assert.equal(f.session.onHold, false);
    assertBridged(f.legs[0]!);
  });
});

describe('MediaSession: offer or answer when the message does not say (PRACK)', () => {
  it('SDP from the side without an offer outstanding answers the other side\'s offer', () => {
    const f = fixture();
    f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=inactive'), CALLEE_SIP, true);
    const toCallee = parsed(f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=recvonly'), CALLER_SIP, undefined));
    assert.equal(toCallee.streams[0]?.direction, 'inactive', 'read as the answer to the inactive offer');
  });

  it('with nothing outstanding it is an offer', () => {
    const f = fixture();
    f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=inactive'), CALLER_SIP, undefined);
    const toCaller = parsed(f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=recvonly'), CALLEE_SIP, false));
    assert.equal(toCaller.streams[0]?.direction, 'inactive');
  });

  it('a stream the answer declined leaves no offer outstanding', () => {
    const f = fixture(2);
    established(f);
    f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'm=audio 5010 RTP/AVP 0'), CALLEE_SIP, true);
    f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'm=audio 0 RTP/AVP 0'), CALLER_SIP, false);
    // the caller's next SDP is a new offer: its a=inactive must be answered with a=inactive
    f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'a=inactive', 'm=audio 0 RTP/AVP 0'), CALLER_SIP, undefined);
    const toCaller = parsed(f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=recvonly', 'm=audio 0 RTP/AVP 0'), CALLEE_SIP, false));
    assert.equal(toCaller.streams[0]?.direction, 'inactive');
  });
});

describe('MediaSession: state and close', () => {
  it('describe() reports each stream\'s type, legs and hold', () => {
    const f = fixture(2);
    assert.deepEqual(f.session.describe().map((s) => s.type), ['audio', 'audio'], 'audio until SDP says otherwise');
    f.session.relaySdp('caller', callerSdp('m=audio 4000 RTP/AVP 0', 'm=video 4010 RTP/AVP 96', 'a=rtpmap:96 H264/90000'), CALLER_SIP, true);
    f.legs[0]!.caller.received = 7;
    f.legs[0]!.caller.dropped = 2;
    assert.deepEqual(f.session.describe(), [
      {
        type: 'audio',
        caller: { relayPort: 30000, sendsTo: { address: CALLER_SIP, port: 4000, latched: false }, packetsReceived: 7, packetsDropped: 2 },
        callee: { relayPort: 30002, sendsTo: null, packetsReceived: 0, packetsDropped: 0 },
        heldBy: null,
      },
      {
        type: 'video',
        caller: { relayPort: 30004, sendsTo: { address: CALLER_SIP, port: 4010, latched: false }, packetsReceived: 0, packetsDropped: 0 },
        callee: { relayPort: 30006, sendsTo: null, packetsReceived: 0, packetsDropped: 0 },
        heldBy: null,
      },
    ]);
  });

  it('lastReceivedAt() is the newest packet on any leg', () => {
    const f = fixture(2);
    assert.equal(f.session.lastReceivedAt(), 0);
    f.legs[0]!.callee.lastReceivedAt = 1500;
    f.legs[1]!.caller.lastReceivedAt = 2500;
    f.legs[0]!.caller.lastReceivedAt = 2000;
    assert.equal(f.session.lastReceivedAt(), 2500);
  });

  it('close() hands every leg back once, unbridged, and a second close() does nothing', () => {
    const f = fixture(2);
    established(f);
    const handler = () => {};
    f.legs[1]!.callee.onRtp = handler;
    f.session.close();
    f.session.close();
    assert.equal(f.closed.length, 1);
    const all = f.legs.flatMap((p) => [p.caller, p.callee]);
    assert.equal(f.closed[0]!.length, all.length);
    assert.deepEqual(new Set(f.closed[0]), new Set(all));
    for (const leg of all) assert.deepEqual([leg.rtpTo, leg.rtcpTo, leg.onRtp], [undefined, undefined, undefined]);
  });

  it('close() while on hold stops the music', () => {
    const f = fixture();
    established(f);
    f.session.relaySdp('callee', calleeSdp('m=audio 5000 RTP/AVP 0', 'a=sendonly'), CALLEE_SIP, true);
    f.session.close();
    f.session.close();
    assert.deepEqual(f.hold.events, ['start 0 caller', 'stop 0 caller']);
  });
});
