// Legs per call from the relay engine, given back on every path, and the media timeout watch
// (docs/media.md, "The media timeout" and "Ports and firewalls"), driven by a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaRelay, type WatchedMedia } from '../../src/media/relay/media-relay.js';
import type { HoldHandler, MediaSession } from '../../src/media/relay/media-session.js';
import { parseSdp } from '../../src/media/sdp/session-sdp.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeRelayEngine, type FakeRelayLeg } from '../support/fake-relay.js';

const START = 1_700_000_000_000;

interface Fixture {
  clock: FakeClock;
  engine: FakeRelayEngine;
  relay: MediaRelay;
  /** [media timeout] in seconds, read at every check */
  timeout: { seconds: number };
}

const HOLD: HoldHandler = { startHoldMusic() {}, stopHoldMusic() {} };

function fixture(capacity = 100, timeoutSeconds = 60): Fixture {
  const clock = new FakeClock(START);
  const engine = new FakeRelayEngine(capacity);
  const timeout = { seconds: timeoutSeconds };
  const relay = new MediaRelay({
    engine,
    clock,
    timeoutSeconds: () => timeout.seconds,
    localAddressFor: (remote, family) => (family === 6 ? '2001:db8::1' : remote.startsWith('198.51.100.') ? '203.0.113.1' : '203.0.113.2'),
    hold: HOLD,
  });
  return { clock, engine, relay, timeout };
}

const SIGNALLING = { caller: '198.51.100.10', callee: '192.0.2.21' };

async function openSession(f: Fixture, streams = 1): Promise<MediaSession> {
  const session = await f.relay.open({ streams, signalling: SIGNALLING });
  assert.ok(session, 'legs for the call');
  return session;
}

function legsOf(session: MediaSession): FakeRelayLeg[] {
  return session.streams.flatMap((s) => [s.legs.caller as FakeRelayLeg, s.legs.callee as FakeRelayLeg]);
}

function timeouts(f: Fixture, media: WatchedMedia): { count: number } {
  const fired = { count: 0 };
  f.relay.watch(media, () => fired.count++);
  return fired;
}

describe('MediaRelay.open', () => {
  it('opens a caller and a callee leg per stream, in the family of each side\'s signalling', async () => {
    const f = fixture();
    const session = await f.relay.open({ streams: 2, signalling: { caller: '2001:db8::10', callee: '192.0.2.21' } });
    assert.ok(session);
    assert.equal(session.streams.length, 2);
    assert.deepEqual(session.streams.map((s) => [(s.legs.caller as FakeRelayLeg).family, (s.legs.callee as FakeRelayLeg).family]), [[6, 4], [6, 4]]);
    assert.equal(f.engine.used, 4);
  });

  it('opens at least one and at most four streams', async () => {
    const f = fixture();
    assert.equal((await openSession(f, 0)).streams.length, 1);
    assert.equal((await openSession(f, 9)).streams.length, 4);
  });

  it('writes into SDP for a side our address as that side reaches us', async () => {
    const f = fixture();
    const session = await openSession(f);
    const toCallee = parseSdp(session.relaySdp('caller', 'v=0\r\no=- 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n', SIGNALLING.caller, true));
    const toCaller = parseSdp(session.relaySdp('callee', 'v=0\r\no=- 1 1 IN IP4 192.0.2.21\r\ns=-\r\nc=IN IP4 192.0.2.21\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n', SIGNALLING.callee, false));
    assert.equal(toCallee?.streams[0]?.address, '203.0.113.2');
    assert.equal(toCaller?.streams[0]?.address, '203.0.113.1');
  });

  for (const capacity of [0, 1, 2, 3, 5]) {
    it(`gives back the legs it already opened when the range runs out (room for ${capacity} legs, 3 streams)`, async () => {
      const f = fixture(capacity);
      assert.equal(await f.relay.open({ streams: 3, signalling: SIGNALLING }), undefined);
      assert.equal(f.engine.used, 0);
      assert.equal(f.engine.closedLegs.length, f.engine.opened.length);
      assert.equal(f.engine.doubleCloses, 0);
    });
  }

  it('gives back the legs it already opened when the engine fails, and passes the failure on', async () => {
    const f = fixture();
    f.engine.failAt = 3;
    await assert.rejects(f.relay.open({ streams: 2, signalling: SIGNALLING }), /engine failure/);
    assert.equal(f.engine.opened.length, 3);
    assert.equal(f.engine.used, 0, 'no leg left open');
    assert.equal(f.engine.doubleCloses, 0);
  });

  it('closing the session gives every leg back to the engine once', async () => {
    const f = fixture();
    const session = await openSession(f, 2);
    assert.deepEqual([f.relay.portsInUse, f.relay.portCapacity], [8, 200]);
    session.close();
    session.close();
    assert.equal(f.engine.used, 0);
    assert.deepEqual(new Set(f.engine.closedLegs), new Set(legsOf(session)));
    assert.equal(f.engine.closedLegs.length, 4);
    assert.equal(f.relay.portsInUse, 0);
  });
});

describe('MediaRelay.openLeg', () => {
  it('a single leg for a call the server answers, our address for the SDP, released once', async () => {
    const f = fixture();
    const own = await f.relay.openLeg('2001:db8::10');
    assert.ok(own);
    assert.equal((own.leg as FakeRelayLeg).family, 6);
    assert.equal(own.sdpAddress, '2001:db8::1');
    own.release();
    own.release();
    assert.equal(f.engine.used, 0);
    assert.deepEqual([f.engine.closedLegs.length, f.engine.doubleCloses], [1, 0]);
  });

  it('undefined when the range is used up', async () => {
    const f = fixture(0);
    assert.equal(await f.relay.openLeg('198.51.100.10'), undefined);
  });
});

describe('MediaRelay.watch: the media timeout', () => {
  it('ends a session from which nothing arrived after timeoutSeconds, once', async () => {
    const f = fixture();
    const session = await openSession(f);
    const fired = timeouts(f, session);
    f.clock.advance(59_000);
    assert.equal(fired.count, 0);
    f.clock.advance(1_000);
    assert.equal(fired.count, 1);
    f.clock.advance(300_000);
    assert.equal(fired.count, 1);
    assert.equal(f.clock.pending(), 0, 'nothing left to watch, no timer');
  });

  it('counts from the last packet of either party while packets keep arriving', async () => {
    const f = fixture();
    const session = await openSession(f, 2);
    const fired = timeouts(f, session);
    const legs = legsOf(session);
    for (let i = 0; i < 60; i++) {
      f.clock.advance(5_000);
      // each packet on another leg: the newest of all counts
      legs[i % legs.length]!.lastReceivedAt = f.clock.now();
    }
    assert.equal(fired.count, 0, 'five minutes of media');
    const last = f.clock.now();
    f.clock.advance(59_000);
    assert.equal(fired.count, 0);
    f.clock.advance(1_000);
    assert.equal(fired.count, 1);
    assert.equal(f.clock.now() - last, 60_000);
  });

  it('does not end a call on hold, and counts the silence only from the end of the hold', async () => {
    const f = fixture();
    const session = await openSession(f);
    const fired = timeouts(f, session);
    const caller = 'v=0\r\no=- 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
    session.relaySdp('caller', caller, SIGNALLING.caller, true);
    session.relaySdp('caller', `${caller}a=inactive\r\n`, SIGNALLING.caller, true);
    assert.equal(session.onHold, true);
    f.clock.advance(600_000);
    assert.equal(fired.count, 0, 'ten silent minutes on hold');
    session.relaySdp('caller', caller, SIGNALLING.caller, true);
    assert.equal(session.onHold, false);
    f.clock.advance(1_000);
    assert.equal(fired.count, 0, 'the resumed call has its full timeout to send media');
    f.clock.advance(58_000);
    assert.equal(fired.count, 0);
    f.clock.advance(1_000);
    assert.equal(fired.count, 1);
  });

  it('0 seconds turns the timeout off, read at every check', async () => {
    const f = fixture(100, 0);
    const session = await openSession(f);
    const fired = timeouts(f, session);
    f.clock.advance(3_600_000);
    assert.equal(fired.count, 0);
    f.timeout.seconds = 30;
    f.clock.advance(1_000);
    assert.equal(fired.count, 1);
  });

  it('each watched call has its own timeout', () => {
    const f = fixture();
    const quiet = { lastReceivedAt: () => 0, onHold: false };
    const busy = { lastReceivedAt: () => f.clock.now(), onHold: false };
    const quietFired = timeouts(f, quiet);
    const busyFired = timeouts(f, busy);
    f.clock.advance(120_000);
    assert.deepEqual([quietFired.count, busyFired.count], [1, 0]);
    assert.equal(f.clock.pending(), 1, 'still watching one');
  });

  it('unwatch() stops the watch, and the check timer stops once nothing is watched', () => {
    const f = fixture();
    const media = { lastReceivedAt: () => 0, onHold: false };
    const fired = timeouts(f, media);
    assert.equal(f.clock.pending(), 1);
    f.clock.advance(30_000);
    f.relay.unwatch(media);
    f.clock.advance(1_000);
    assert.equal(f.clock.pending(), 0);
    f.clock.advance(600_000);
    assert.equal(fired.count, 0);
  });

  it('a closed session is no longer watched', async () => {
    const f = fixture();
    const session = await openSession(f);
    const fired = timeouts(f, session);
    session.close();
    f.clock.advance(120_000);
    assert.equal(fired.count, 0);
    assert.equal(f.clock.pending(), 0);
  });

  it('one check timer however many calls are watched, and watching again restarts the count', () => {
    const f = fixture();
    const media = { lastReceivedAt: () => 0, onHold: false };
    const fired = timeouts(f, media);
    f.relay.watch({ lastReceivedAt: () => f.clock.now(), onHold: false }, () => {});
    assert.equal(f.clock.pending(), 1);
    f.clock.advance(40_000);
    f.relay.watch(media, () => fired.count++);
    f.clock.advance(59_000);
    assert.equal(fired.count, 0);
    f.clock.advance(1_000);
    assert.equal(fired.count, 1);
  });

  it('close() stops the check and closes the engine', async () => {
    const f = fixture();
    timeouts(f, { lastReceivedAt: () => 0, onHold: false });
    await f.relay.close();
    assert.equal(f.clock.pending(), 0);
    assert.equal(f.engine.engineClosed, true);
  });
});
