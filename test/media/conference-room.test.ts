import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConferenceBridge } from '../../src/media/conference/conference-bridge.js';
import { ConferenceRoom, type ConferenceEndpoint } from '../../src/media/conference/conference-room.js';
import { TONE_PLANS, type TonePlan } from '../../src/media/tones.js';
import { FakeClock } from '../support/fake-clock.js';
import { concat } from '../support/pcm-signals.js';
import { peak, toneLevel, withinDb } from '../support/tone-measure.js';

const SPEECH_LEVEL = 8000;

/** A phase-continuous sine: what a caller says, one frame at a time. */
class Voice {
  private sample = 0;

  constructor(
    private readonly frequency: number,
    private readonly amplitude = SPEECH_LEVEL,
  ) {}

  fill(frame: Int16Array, sampleRate: number): void {
    for (let i = 0; i < frame.length; i++, this.sample++) {
      frame[i] = Math.round(this.amplitude * Math.sin((2 * Math.PI * this.frequency * this.sample) / sampleRate));
    }
  }
}

/** Stands in for a call's media endpoint: records every frame sent, and speaks when told to. */
class FakeEndpoint implements ConferenceEndpoint {
  onAudio: ((pcm: Int16Array, count: number) => void) | undefined;
  readonly heard: Int16Array[] = [];
  playbackStops = 0;
  // Reused for every received frame, as the real endpoint does: the room must copy what it keeps.
  private readonly frame: Int16Array;

  constructor(
    readonly sampleRate: number,
    private readonly voice?: Voice,
  ) {
    this.frame = new Int16Array(sampleRate / 50);
  }

  sendFrame(pcm: Int16Array, count: number): void {
    this.heard.push(pcm.slice(0, count));
  }

  stopPlayback(): void {
    this.playbackStops++;
  }

  /** One 20 ms frame arrives from the phone: its voice, or silence. */
  receive(): void {
    if (this.voice === undefined) this.frame.fill(0);
    else this.voice.fill(this.frame, this.sampleRate);
    this.onAudio?.(this.frame, this.frame.length);
  }

  all(): Int16Array {
    return concat(this.heard);
  }
}

/** Every 20 ms each endpoint receives a frame from its phone, then the clock moves on. */
function run(clock: FakeClock, endpoints: Iterable<FakeEndpoint>, frames: number): void {
  const list = [...endpoints];
  for (let n = 0; n < frames; n++) {
    for (const endpoint of list) endpoint.receive();
    clock.advance(20);
  }
}

/** 100 ms: every voice is a multiple of 10 Hz, so it falls exactly on a Goertzel bin. */
const windowOf = (sampleRate: number): number => sampleRate / 10;

/**
 * Checks that `endpoint` hears each of `present` at speech level and none of `absent`, in a 100 ms
 * window from frame `fromFrame` on (after the join cues have died away).
 */
function assertHears(
  endpoint: FakeEndpoint,
  present: number[],
  absent: number[],
  fromFrame: number,
  label: string,
): void {
  const { sampleRate } = endpoint;
  const heard = endpoint.all();
  const start = (fromFrame * sampleRate) / 50;
  for (const frequency of present) {
    const level = toneLevel(heard, start, windowOf(sampleRate), frequency, sampleRate);
    assert.ok(withinDb(level, SPEECH_LEVEL, 1), `${label} hears ${frequency} Hz at ${level.toFixed(0)}`);
  }
  for (const frequency of absent) {
    const level = toneLevel(heard, start, windowOf(sampleRate), frequency, sampleRate);
    assert.ok(level < SPEECH_LEVEL / 100, `${label} hears ${frequency} Hz at ${level.toFixed(0)}`);
  }
}

/**
 * The two notes of a cue as `endpoint` heard them from sample `from` on: for each note, which of
 * `low` and `high` dominates its middle half, and how loud.
 */
function cueNotes(
  endpoint: FakeEndpoint,
  from: number,
  low: number,
  high: number,
  noteMs: number,
): Array<{ dominant: number; level: number }> {
  const { sampleRate } = endpoint;
  const heard = endpoint.all();
  let onset = from;
  while (onset < heard.length && heard[onset] === 0) onset++;
  assert.ok(onset < heard.length, 'no cue heard');
  const note = (noteMs * sampleRate) / 1000;
  return [0, 1].map((n) => {
    const start = onset + n * note + note / 4;
    const lowLevel = toneLevel(heard, start, note / 2, low, sampleRate);
    const highLevel = toneLevel(heard, start, note / 2, high, sampleRate);
    const [dominant, level, other] =
      lowLevel > highLevel ? [low, lowLevel, highLevel] : [high, highLevel, lowLevel];
    assert.ok(other < level / 10, `note ${n}: ${low} Hz at ${lowLevel.toFixed(0)}, ${high} Hz at ${highLevel.toFixed(0)}`);
    return { dominant, level };
  });
}

/** The default cue: a fifth below the 1000 Hz beep, then the beep, 125 ms each. */
const CUE_LOW = 667;
const CUE_HIGH = 1000;
const CUE_NOTE_MS = 125;
/** Long enough for any cue, queued behind the jitter allowance, to have played out. */
const CUE_FRAMES = 20;

describe('ConferenceRoom', () => {
  it('lets each of three parties hear exactly the other two, never itself', () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('sales', clock);
    const voices = { a: 400, b: 700, c: 1100 };
    const endpoints = new Map<string, FakeEndpoint>();
    for (const [id, frequency] of Object.entries(voices)) {
      const endpoint = new FakeEndpoint(16000, new Voice(frequency));
      assert.equal(room.join(id, endpoint), true);
      endpoints.set(id, endpoint);
    }
    assert.equal(room.size, 3);
    run(clock, endpoints.values(), CUE_FRAMES + 10);

    for (const [id, endpoint] of endpoints) {
      assert.equal(endpoint.playbackStops, 1, 'joining takes over what the endpoint plays');
      assert.ok(endpoint.heard.every((frame) => frame.length === 320));
      const others = Object.entries(voices).filter(([other]) => other !== id);
      assertHears(endpoint, others.map(([, f]) => f), [voices[id as keyof typeof voices], CUE_HIGH], CUE_FRAMES, id);
    }
  });

  it('mixes 8 kHz and 16 kHz parties, each hearing the others at its own rate', () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('mixed', clock);
    const narrow = new FakeEndpoint(8000, new Voice(400));
    const wide = new FakeEndpoint(16000, new Voice(1100));
    const wider = new FakeEndpoint(16000, new Voice(2500));
    room.join('narrow', narrow);
    room.join('wide', wide);
    room.join('wider', wider);
    run(clock, [narrow, wide, wider], CUE_FRAMES + 10);

    assert.ok(narrow.heard.length > CUE_FRAMES);
    assert.ok(narrow.heard.every((frame) => frame.length === 160));
    assert.ok(wide.heard.every((frame) => frame.length === 320));
    assertHears(narrow, [1100, 2500], [400], CUE_FRAMES, 'narrow');
    assertHears(wide, [400, 2500], [1100], CUE_FRAMES, 'wide');
    assertHears(wider, [400, 1100], [2500], CUE_FRAMES, 'wider');
  });

  it('carries 20 parties, each hearing all 19 others', () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('all-hands', clock);
    // Quiet enough that 19 voices add up below the limiter's threshold, so each is heard unchanged.
    const level = 1000;
    const frequencies = Array.from({ length: 20 }, (_, i) => 200 + 150 * i);
    const endpoints = frequencies.map((frequency, i) => {
      const endpoint = new FakeEndpoint(i % 2 === 0 ? 8000 : 16000, new Voice(frequency, level));
      assert.equal(room.join(`p${i}`, endpoint), true);
      return endpoint;
    });
    assert.equal(room.size, 20);
    run(clock, endpoints, CUE_FRAMES + 10);

    endpoints.forEach((endpoint, i) => {
      const { sampleRate } = endpoint;
      const heard = endpoint.all();
      const start = (CUE_FRAMES * sampleRate) / 50;
      frequencies.forEach((frequency, j) => {
        const heardLevel = toneLevel(heard, start, windowOf(sampleRate), frequency, sampleRate);
        if (i === j) assert.ok(heardLevel < level / 100, `p${i} hears itself at ${heardLevel.toFixed(0)}`);
        else assert.ok(withinDb(heardLevel, level, 1), `p${i} hears p${j} at ${heardLevel.toFixed(0)}`);
      });
    });
  });

  it('plays a rising cue to everyone when a party joins and a falling one when a party leaves', () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('cues', clock);
    const first = new FakeEndpoint(16000);
    const second = new FakeEndpoint(8000);
    const third = new FakeEndpoint(16000);

    room.join('first', first);
    run(clock, [first], CUE_FRAMES);
    assert.ok(first.heard.length >= CUE_FRAMES);
    assert.equal(peak(first.all()), 0, 'a party alone in the room hears nothing');

    room.join('second', second);
    run(clock, [first, second], CUE_FRAMES);
    for (const endpoint of [first, second]) {
      const notes = cueNotes(endpoint, 0, CUE_LOW, CUE_HIGH, CUE_NOTE_MS);
      assert.deepEqual(notes.map((note) => note.dominant), [CUE_LOW, CUE_HIGH], 'join cue rises');
      assert.ok(notes.every((note) => note.level > 1000), 'join cue is clearly audible');
    }

    const marks = [first, second].map((endpoint) => endpoint.all().length);
    room.join('third', third);
    run(clock, [first, second, third], CUE_FRAMES);
    for (const [i, endpoint] of [first, second].entries()) {
      const notes = cueNotes(endpoint, marks[i], CUE_LOW, CUE_HIGH, CUE_NOTE_MS);
      assert.deepEqual(notes.map((note) => note.dominant), [CUE_LOW, CUE_HIGH]);
    }

    const leaveMarks = [first, second].map((endpoint) => endpoint.all().length);
    room.leave('third');
    run(clock, [first, second, third], CUE_FRAMES);
    for (const [i, endpoint] of [first, second].entries()) {
      const notes = cueNotes(endpoint, leaveMarks[i], CUE_LOW, CUE_HIGH, CUE_NOTE_MS);
      assert.deepEqual(notes.map((note) => note.dominant), [CUE_HIGH, CUE_LOW], 'leave cue falls');
    }
  });

  it('announces nothing when its cues are off', () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('quiet', clock, { cues: false });
    const endpoints = [new FakeEndpoint(16000), new FakeEndpoint(8000)];
    endpoints.forEach((endpoint, i) => room.join(`p${i}`, endpoint));
    run(clock, endpoints, CUE_FRAMES);
    room.join('p2', new FakeEndpoint(16000));
    room.leave('p2');
    run(clock, endpoints, CUE_FRAMES);
    for (const endpoint of endpoints) assert.equal(peak(endpoint.all()), 0, 'silent parties, no cues: nothing to hear');
  });

  it("builds its cues from the tone plan's beep", () => {
    const clock = new FakeClock();
    const tonePlan: TonePlan = { ...TONE_PLANS.us, beep: { frequencies: [1500], cadence: [300], repeat: false } };
    const room = new ConferenceRoom('custom', clock, { tonePlan });
    const endpoints = [new FakeEndpoint(16000), new FakeEndpoint(16000)];
    endpoints.forEach((endpoint, i) => room.join(`p${i}`, endpoint));
    run(clock, endpoints, CUE_FRAMES);
    for (const endpoint of endpoints) {
      const notes = cueNotes(endpoint, 0, 1000, 1500, 150);
      assert.deepEqual(notes.map((note) => note.dominant), [1000, 1500]);
    }
  });

  it('refuses a party when full, and takes one again once someone has left', () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('small', clock, { maxParties: 3 });
    const members = [0, 1, 2].map(() => new FakeEndpoint(16000));
    members.forEach((endpoint, i) => assert.equal(room.join(`p${i}`, endpoint), true));
    const latecomer = new FakeEndpoint(8000, new Voice(400));

    assert.equal(room.join('late', latecomer), false);
    assert.equal(room.size, 3);
    assert.deepEqual(room.parties(), ['p0', 'p1', 'p2']);
    assert.equal(latecomer.onAudio, undefined);
    assert.equal(latecomer.playbackStops, 0, 'a refused endpoint keeps playing whatever it was');
    run(clock, [...members, latecomer], 5);
    assert.equal(latecomer.heard.length, 0);

    room.leave('p1');
    assert.equal(room.join('late', latecomer), true);
    assert.deepEqual(room.parties(), ['p0', 'p2', 'late']);
    assert.throws(() => new ConferenceRoom('none', clock, { maxParties: 0 }), RangeError);
  });

  it('stops sending to a party that has left and stops mixing in what it says', () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('leavers', clock);
    const stays = new FakeEndpoint(16000);
    const goes = new FakeEndpoint(16000, new Voice(700));
    room.join('stays', stays);
    room.join('goes', goes);
    run(clock, [stays, goes], CUE_FRAMES + 5);
    assertHears(stays, [700], [], CUE_FRAMES, 'stays');

    room.leave('goes');
    room.leave('goes');
    assert.equal(room.size, 1);
    assert.equal(goes.onAudio, undefined, 'the room no longer listens to the endpoint');
    const sentBefore = goes.heard.length;
    const heardBefore = stays.heard.length;
    run(clock, [stays, goes], CUE_FRAMES + 5);
    assert.equal(goes.heard.length, sentBefore);
    assert.ok(stays.heard.length > heardBefore, 'the room goes on for the party still in it');
    // Past the leave cue, the voice of the party that left is gone.
    const after = concat(stays.heard.slice(heardBefore + CUE_FRAMES));
    assert.ok(after.length >= windowOf(16000));
    assert.equal(peak(after), 0);
  });

  it("leaves alone a listener the endpoint's owner has installed since", () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('handover', clock);
    const endpoint = new FakeEndpoint(16000);
    room.join('p', endpoint);
    const next = (): void => {};
    endpoint.onAudio = next;
    room.leave('p');
    assert.equal(endpoint.onAudio, next);
  });

  it('stops its pacer and reports when the last party leaves', () => {
    const clock = new FakeClock();
    let empties = 0;
    const room = new ConferenceRoom('lonely', clock, { onEmpty: () => empties++ });
    assert.equal(clock.pending(), 0, 'an empty room runs no timer');
    const endpoints = [new FakeEndpoint(8000), new FakeEndpoint(16000)];
    endpoints.forEach((endpoint, i) => room.join(`p${i}`, endpoint));
    run(clock, endpoints, 3);
    assert.equal(clock.pending(), 1);

    room.leave('p0');
    assert.equal(empties, 0);
    assert.equal(clock.pending(), 1);
    room.leave('p1');
    assert.equal(empties, 1);
    assert.equal(room.size, 0);
    assert.equal(clock.pending(), 0);
    const sent = endpoints.map((endpoint) => endpoint.heard.length);
    clock.advance(1000);
    assert.deepEqual(endpoints.map((endpoint) => endpoint.heard.length), sent);

    // Not closed: someone may come back, and hears silence rather than the rest of the leave cue.
    const back = new FakeEndpoint(16000);
    assert.equal(room.join('back', back), true);
    run(clock, [back], CUE_FRAMES);
    assert.ok(back.heard.length >= CUE_FRAMES);
    assert.equal(peak(back.all()), 0);
    const mark = back.all().length;
    room.join('company', new FakeEndpoint(16000));
    run(clock, [back], CUE_FRAMES);
    const notes = cueNotes(back, mark, CUE_LOW, CUE_HIGH, CUE_NOTE_MS);
    assert.deepEqual(notes.map((note) => note.dominant), [CUE_LOW, CUE_HIGH], 'cues still play');
  });

  it('ends everything on close()', () => {
    const clock = new FakeClock();
    let empties = 0;
    const room = new ConferenceRoom('closing', clock, { onEmpty: () => empties++ });
    const endpoints = [new FakeEndpoint(8000), new FakeEndpoint(16000), new FakeEndpoint(16000)];
    endpoints.forEach((endpoint, i) => room.join(`p${i}`, endpoint));
    run(clock, endpoints, 3);

    room.close();
    room.close();
    assert.equal(room.closed, true);
    assert.equal(room.size, 0);
    assert.equal(clock.pending(), 0);
    assert.equal(empties, 0);
    assert.ok(endpoints.every((endpoint) => endpoint.onAudio === undefined));
    const sent = endpoints.map((endpoint) => endpoint.heard.length);
    clock.advance(1000);
    assert.deepEqual(endpoints.map((endpoint) => endpoint.heard.length), sent);
    assert.throws(() => room.join('late', new FakeEndpoint(16000)), /closed/);
  });

  it('rejects a second party with the same id and sample rates it cannot mix', () => {
    const clock = new FakeClock();
    const room = new ConferenceRoom('strict', clock);
    room.join('p', new FakeEndpoint(16000));
    assert.throws(() => room.join('p', new FakeEndpoint(16000)), /already/);
    assert.throws(() => room.join('q', new FakeEndpoint(48000)), RangeError);
    assert.equal(room.size, 1);
    room.close();
  });

  it('mixes a 20-party room well within real time (a loose bound, not a benchmark)', () => {
    const clock = new FakeClock();
    const bridge = new ConferenceBridge(clock);
    const endpoints: FakeEndpoint[] = [];
    for (let r = 0; r < 10; r++) {
      for (let p = 0; p < 20; p++) {
        const endpoint = new FakeEndpoint(p % 2 === 0 ? 8000 : 16000, new Voice(200 + 10 * p));
        assert.equal(bridge.room(`room${r}`).join(`p${p}`, endpoint), true);
        endpoints.push(endpoint);
      }
    }
    const frames = 200;
    const started = performance.now();
    run(clock, endpoints, frames);
    const elapsed = performance.now() - started;
    // 10 rooms × 200 frames: 2000 room-frames, so 2 s allows 1 ms each, many times what they take.
    assert.ok(elapsed < 2000, `${frames} frames of 10 rooms took ${elapsed.toFixed(0)} ms`);
    assert.ok(endpoints.every((endpoint) => endpoint.heard.length >= frames));
    bridge.close();
  });
});

describe('ConferenceBridge', () => {
  it('opens rooms by name on demand and lists who is in each', () => {
    const clock = new FakeClock();
    const bridge = new ConferenceBridge(clock, { maxParties: 2 });
    assert.equal(bridge.get('sales'), undefined);
    const sales = bridge.room('sales');
    assert.equal(bridge.room('sales'), sales);
    assert.equal(bridge.get('sales'), sales);
    sales.join('alice', new FakeEndpoint(16000));
    sales.join('bob', new FakeEndpoint(8000));
    assert.equal(sales.join('carol', new FakeEndpoint(8000)), false, 'bridge options reach its rooms');
    bridge.room('support').join('dave', new FakeEndpoint(16000));

    assert.deepEqual(bridge.list(), [
      { name: 'sales', parties: ['alice', 'bob'] },
      { name: 'support', parties: ['dave'] },
    ]);
    bridge.close();
  });

  it('forgets a room once its last party has left, and opens a fresh one under that name', () => {
    const clock = new FakeClock();
    const bridge = new ConferenceBridge(clock);
    const room = bridge.room('standup');
    const endpoint = new FakeEndpoint(16000);
    room.join('alice', endpoint);
    run(clock, [endpoint], 3);

    room.leave('alice');
    assert.equal(room.closed, true);
    assert.equal(bridge.get('standup'), undefined);
    assert.deepEqual(bridge.list(), []);
    assert.equal(clock.pending(), 0);
    assert.throws(() => room.join('alice', endpoint), /closed/);
    const fresh = bridge.room('standup');
    assert.notEqual(fresh, room);
    assert.equal(fresh.join('alice', endpoint), true);
    bridge.close();
  });

  it('replaces a room that was closed directly', () => {
    const bridge = new ConferenceBridge(new FakeClock());
    const room = bridge.room('board');
    room.close();
    assert.equal(bridge.get('board'), undefined);
    assert.deepEqual(bridge.list(), []);
    assert.notEqual(bridge.room('board'), room);
    bridge.close();
  });

  it('closes every room on close()', () => {
    const clock = new FakeClock();
    const bridge = new ConferenceBridge(clock);
    const endpoints = [new FakeEndpoint(16000), new FakeEndpoint(8000)];
    const rooms = ['a', 'b'].map((name, i) => {
      const room = bridge.room(name);
      room.join('p', endpoints[i]);
      return room;
    });
    run(clock, endpoints, 3);

    bridge.close();
    assert.ok(rooms.every((room) => room.closed));
    assert.deepEqual(bridge.list(), []);
    assert.equal(clock.pending(), 0);
    const sent = endpoints.map((endpoint) => endpoint.heard.length);
    clock.advance(1000);
    assert.deepEqual(endpoints.map((endpoint) => endpoint.heard.length), sent);
    assert.throws(() => bridge.room('c'), /closed/);
  });
});
