// Music on hold into a held party's leg: codec and payload type from its SDP, paced 20 ms packets
// of the looping music, and clean stops, also while the music is still being read.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { G722 } from '../../src/media/codecs/g722.js';
import { PCMA } from '../../src/media/codecs/g711.js';
import type { RtpPosition } from '../../src/media/relay/relay-leg.js';
import { HoldMusic, type HeldStream } from '../../src/media/hold-music.js';
import { BufferSource, RateAdapter, type PcmSource } from '../../src/media/pcm-source.js';
import type { Side } from '../../src/media/relay/media-session.js';
import { rtpMarker, rtpPayloadType, rtpSequence, rtpSsrc, rtpTimestamp } from '../../src/media/rtp/rtp-packet.js';
import type { RtpFormat, SdpStream } from '../../src/media/sdp/session-sdp.js';
import { SoundLibrary, type DecodedSound } from '../../src/media/sound-library.js';
import { readWav } from '../../src/media/wav.js';
import { FakeClock } from '../support/fake-clock.js';
import { repoRoot } from '../support/repo-root.js';
import { rtpPayload } from '../support/rtp-test-packets.js';

const PCMU_FORMAT: RtpFormat = { payloadType: 0, encoding: 'PCMU', clockRate: 8000 };
const PCMA_FORMAT: RtpFormat = { payloadType: 8, encoding: 'PCMA', clockRate: 8000 };
const G722_FORMAT: RtpFormat = { payloadType: 9, encoding: 'G722', clockRate: 8000 };
const G729_FORMAT: RtpFormat = { payloadType: 18, encoding: 'G729', clockRate: 8000 };
const EVENTS_FORMAT: RtpFormat = { payloadType: 101, encoding: 'TELEPHONE-EVENT', clockRate: 8000 };

class CapturingLeg {
  readonly packets: Uint8Array[] = [];
  /** the party's own last RTP packet, as the relay saw it */
  last: RtpPosition | undefined;

  lastRtp(): RtpPosition | undefined {
    return this.last;
  }

  sendRtp(packet: Uint8Array, length: number): void {
    // The player reuses its buffer, so what was sent is kept as a copy.
    this.packets.push(packet.slice(0, length));
  }
}

interface FakeStream {
  stream: HeldStream;
  legs: Record<Side, CapturingLeg>;
}

function describedAs(formats: RtpFormat[], ptimeMs?: number): SdpStream {
  return {
    type: 'audio',
    port: 40000,
    address: '127.0.0.1',
    nullAddress: false,
    direction: 'recvonly',
    formats,
    ptimeMs,
    rtcpMux: false,
    rtcpPort: 40001,
    protocol: 'RTP/AVP',
  };
}

/** A relayed stream whose `held` party described `formats` and whose legs keep what is sent to them. */
function fakeStream(described: Partial<Record<Side, SdpStream>>): FakeStream {
  const legs = { caller: new CapturingLeg(), callee: new CapturingLeg() };
  const stream: HeldStream = {
    index: 0,
    legs,
    described: { caller: described.caller, callee: described.callee },
  };
  return { stream, legs };
}

/** The real library, remembering every music read it started so a test can wait for it. */
class WatchedLibrary {
  readonly reads: Promise<DecodedSound>[] = [];

  constructor(private readonly inner: SoundLibrary) {}

  musicOnHold(): Promise<DecodedSound> {
    const read = this.inner.musicOnHold();
    this.reads.push(read);
    return read;
  }

  source(sound: DecodedSound, options?: { loop?: boolean }): PcmSource {
    return this.inner.source(sound, options);
  }

  /** Resolves after the hold music's own handlers of every read so far, which were attached first. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.reads);
  }
}

/** What a PCMA party decodes from `samples`: the music through the A-law quantiser. */
function throughAlaw(samples: Int16Array): Int16Array {
  const codec = PCMA.create();
  const encoded = new Uint8Array(samples.length);
  const decoded = new Int16Array(samples.length);
  codec.decode(encoded, codec.encode(samples, samples.length, encoded), decoded);
  return decoded;
}

function decodeAlaw(payload: Uint8Array): Int16Array {
  const out = new Int16Array(payload.length);
  PCMA.create().decode(payload, payload.length, out);
  return out;
}

/** `count` samples of the music from `start`, wrapping at its end as the loop does. */
function musicAt(music: Int16Array, start: number, count: number): Int16Array {
  return Int16Array.from({ length: count }, (_, i) => music[(start + i) % music.length]!);
}

function assertContinuousStream(packets: Uint8Array[], payloadType: number, ticksPerPacket: number): void {
  for (const [i, packet] of packets.entries()) {
    assert.equal(rtpPayloadType(packet), payloadType, `packet ${i} payload type`);
    assert.equal(rtpMarker(packet), i === 0, `packet ${i} marker`);
    if (i === 0) continue;
    const previous = packets[i - 1]!;
    assert.equal(rtpSsrc(packet), rtpSsrc(previous), `packet ${i} SSRC`);
    assert.equal(rtpSequence(packet), (rtpSequence(previous) + 1) & 0xffff, `packet ${i} sequence`);
    assert.equal(rtpTimestamp(packet), (rtpTimestamp(previous) + ticksPerPacket) >>> 0, `packet ${i} timestamp`);
  }
}

describe('HoldMusic', () => {
  const sounds = new SoundLibrary({
    shippedDir: SoundLibrary.shippedSoundsDir(),
    overrideDir: path.join(os.tmpdir(), 'switchboard-no-such-data-dir', 'sounds'),
    defaultLanguage: 'en',
  });
  /** read independently of the library, as the reference */
  let music: Int16Array;

  before(async () => {
    const file = readWav(await readFile(path.join(repoRoot, 'sounds', 'moh', 'default.wav')));
    assert.equal(file.sampleRate, 8000);
    music = file.samples;
  });

  function setUp(): { clock: FakeClock; library: WatchedLibrary; hold: HoldMusic; logged: string[] } {
    const clock = new FakeClock(1_000_000);
    const library = new WatchedLibrary(sounds);
    const logged: string[] = [];
    const hold = new HoldMusic({ library, clock, logger: (msg) => logged.push(msg) });
    return { clock, library, hold, logged };
  }

  it('sends a PCMA-only party the music in 20 ms PCMA packets from its beginning', async () => {
    const { clock, library, hold, logged } = setUp();
    const { stream, legs } = fakeStream({ caller: describedAs([PCMA_FORMAT, EVENTS_FORMAT]) });
    hold.startHoldMusic(stream, 'caller');
    await library.settled();
    clock.advance(980);

    const packets = legs.caller.packets;
    assert.equal(packets.length, 50, 'frames due at 0, 20, ... 980 ms');
    assert.equal(legs.callee.packets.length, 0, 'only the held party hears it');
    assertContinuousStream(packets, 8, 160);
    const heard = Int16Array.from(packets.flatMap((p) => [...decodeAlaw(rtpPayload(p))]));
    const expected = throughAlaw(music.subarray(0, 50 * 160));
    assert.ok(Math.max(...expected.map(Math.abs)) > 100, 'the first second of the music is not silence');
    assert.deepEqual(heard, expected);
    assert.ok(logged.some((m) => m.includes('started')));
  });

  it('continues the holder\'s stream: its SSRC, the next sequence number, the timestamp moved on by the pause', async () => {
    const { clock, library, hold } = setUp();
    const { stream, legs } = fakeStream({ callee: describedAs([PCMA_FORMAT]) });
    legs.caller.last = { ssrc: 0xabcdef01, sequence: 0xffff, timestamp: 0xffffff00, at: clock.now() - 100 };
    hold.startHoldMusic(stream, 'callee');
    await library.settled();
    clock.advance(40);
    const [first, second] = legs.callee.packets;
    assert.ok(first && second);
    assert.equal(rtpSsrc(first), 0xabcdef01);
    assert.equal(rtpSequence(first), 0, 'the sequence number wraps on from 65535');
    assert.equal(rtpTimestamp(first), (0xffffff00 + 800) >>> 0, '100 ms of 8 kHz ticks later');
    assert.equal(rtpMarker(first), true, 'a new talkspurt for the phone');
    assertContinuousStream(legs.callee.packets, 8, 160);
  });

  it('starts the music again when it ends', async () => {
    const { clock, library, hold } = setUp();
    const { stream, legs } = fakeStream({ callee: describedAs([PCMA_FORMAT]) });
    hold.startHoldMusic(stream, 'callee');
    await library.settled();
    const frames = Math.ceil(music.length / 160) + 3;
    clock.advance((frames - 1) * 20);

    const packets = legs.callee.packets;
    assert.equal(packets.length, frames);
    assertContinuousStream(packets, 8, 160);
    for (const frame of [frames - 5, frames - 4, frames - 3, frames - 2, frames - 1]) {
      const expected = throughAlaw(musicAt(music, frame * 160, 160));
      assert.deepEqual(decodeAlaw(rtpPayload(packets[frame]!)), expected, `frame ${frame}`);
    }
  });

  it('stops sending when the call is taken off hold', async () => {
    const { clock, library, hold } = setUp();
    const { stream, legs } = fakeStream({ caller: describedAs([PCMA_FORMAT]) });
    hold.startHoldMusic(stream, 'caller');
    await library.settled();
    clock.advance(200);
    assert.equal(legs.caller.packets.length, 11);

    hold.stopHoldMusic(stream, 'caller');
    assert.equal(clock.pending(), 0, 'no frame timer left behind');
    clock.advance(1000);
    assert.equal(legs.caller.packets.length, 11);
  });

  it('never starts when taken off hold before the music was read', async () => {
    const { clock, library, hold } = setUp();
    const { stream, legs } = fakeStream({ caller: describedAs([PCMA_FORMAT]) });
    hold.startHoldMusic(stream, 'caller');
    hold.stopHoldMusic(stream, 'caller');
    await library.settled();
    assert.equal(library.reads.length, 1, 'the read did happen');
    assert.equal(clock.pending(), 0);
    clock.advance(1000);
    assert.equal(legs.caller.packets.length, 0);
  });

  it('plays once when put on hold again before the first read finished', async () => {
    const { clock, library, hold } = setUp();
    const { stream, legs } = fakeStream({ caller: describedAs([PCMA_FORMAT]) });
    hold.startHoldMusic(stream, 'caller');
    hold.stopHoldMusic(stream, 'caller');
    hold.startHoldMusic(stream, 'caller');
    await library.settled();
    clock.advance(380);
    assert.equal(legs.caller.packets.length, 20, 'one packet per frame, not two');
    assertContinuousStream(legs.caller.packets, 8, 160);
  });

  it('sends a G.722-only party G.722 packets with the payload type of its SDP', async () => {
    const { clock, library, hold } = setUp();
    const { stream, legs } = fakeStream({ callee: describedAs([G722_FORMAT, EVENTS_FORMAT]) });
    hold.startHoldMusic(stream, 'callee');
    await library.settled();
    clock.advance(980);

    const packets = legs.callee.packets;
    assert.equal(packets.length, 50);
    // G.722 runs its RTP clock at 8000 Hz: 160 ticks a frame, and 160 bytes for 320 samples at 16 kHz.
    assertContinuousStream(packets, 9, 160);
    const wideband = new RateAdapter(new BufferSource(music, 8000), 16000);
    const encoder = G722.create();
    const frame = new Int16Array(320);
    const expected = new Uint8Array(160);
    for (const [i, packet] of packets.entries()) {
      assert.equal(wideband.read(frame, 320), 320);
      assert.equal(encoder.encode(frame, 320, expected), 160);
      assert.deepEqual(rtpPayload(packet), expected, `packet ${i} is the music, upsampled and G.722-encoded`);
    }
  });

  it('uses the first codec in the SDP it can encode, its packet time, and its payload type number', async () => {
    const { clock, library, hold } = setUp();
    const dynamicPcma: RtpFormat = { ...PCMA_FORMAT, payloadType: 96 };
    const { stream, legs } = fakeStream({ caller: describedAs([G729_FORMAT, dynamicPcma, PCMU_FORMAT], 30) });
    hold.startHoldMusic(stream, 'caller');
    await library.settled();
    clock.advance(270);

    const packets = legs.caller.packets;
    assert.equal(packets.length, 10, 'frames due at 0, 30, ... 270 ms');
    assertContinuousStream(packets, 96, 240);
    assert.deepEqual(decodeAlaw(rtpPayload(packets[0]!)), throughAlaw(music.subarray(0, 240)));
  });

  it('keeps 20 ms packets when the SDP asks for a packet time no phone uses', async () => {
    const { clock, library, hold } = setUp();
    const { stream, legs } = fakeStream({ caller: describedAs([PCMA_FORMAT], 1) });
    hold.startHoldMusic(stream, 'caller');
    await library.settled();
    clock.advance(100);
    assert.equal(legs.caller.packets.length, 6);
    assertContinuousStream(legs.caller.packets, 8, 160);
  });

  it('plays nothing, and says so, to a party with no codec the server can encode', async () => {
    const { clock, library, hold, logged } = setUp();
    const { stream, legs } = fakeStream({ caller: describedAs([G729_FORMAT, EVENTS_FORMAT]) });
    hold.startHoldMusic(stream, 'caller');
    hold.startHoldMusic(stream, 'callee');
    await library.settled();
    clock.advance(1000);
    assert.equal(library.reads.length, 0);
    assert.equal(legs.caller.packets.length + legs.callee.packets.length, 0);
    assert.equal(logged.filter((m) => m.includes('no codec')).length, 2, 'one for the G.729 party, one for the undescribed one');
    hold.stopHoldMusic(stream, 'caller');
  });

  it('logs music it cannot read and tries again on the next hold', async () => {
    const clock = new FakeClock();
    const logged: string[] = [];
    let failuresLeft = 1;
    const library = {
      musicOnHold: async (): Promise<DecodedSound> => {
        if (failuresLeft-- > 0) throw new Error('disk on fire');
        return { sampleRate: 8000, samples: music };
      },
      source: (sound: DecodedSound, options?: { loop?: boolean }) => sounds.source(sound, options),
    };
    const hold = new HoldMusic({ library, clock, logger: (msg, fields) => logged.push(`${msg} ${JSON.stringify(fields)}`) });
    const { stream, legs } = fakeStream({ caller: describedAs([PCMA_FORMAT]) });

    hold.startHoldMusic(stream, 'caller');
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(logged.some((m) => m.includes('could not be played') && m.includes('disk on fire')), logged.join('\n'));
    clock.advance(100);
    assert.equal(legs.caller.packets.length, 0);

    hold.startHoldMusic(stream, 'caller');
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(100);
    assert.equal(legs.caller.packets.length, 6);
  });

  it('holds each party of a stream on its own', async () => {
    const { clock, library, hold } = setUp();
    const { stream, legs } = fakeStream({ caller: describedAs([PCMA_FORMAT]), callee: describedAs([PCMU_FORMAT]) });
    hold.startHoldMusic(stream, 'caller');
    hold.startHoldMusic(stream, 'callee');
    await library.settled();
    clock.advance(80);
    hold.stopHoldMusic(stream, 'caller');
    clock.advance(100);
    assert.equal(legs.caller.packets.length, 5);
    assert.equal(legs.callee.packets.length, 10);
    assertContinuousStream(legs.caller.packets, 8, 160);
    assertContinuousStream(legs.callee.packets, 0, 160);
  });
});
