import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConferenceMixer, type MixerParticipant, type MixerSampleRate } from '../../src/media/mixer.js';
import { concat } from '../support/pcm-signals.js';
import { peak, rms, toneLevel, withinDb } from '../support/tone-measure.js';

/** A phase-continuous sine, handed out one 20 ms frame at a time. */
class Tone {
  private sample = 0;

  constructor(
    private readonly frequency: number,
    private readonly sampleRate: MixerSampleRate,
    private readonly amplitude: number,
  ) {}

  nextFrame(): Int16Array {
    const frame = new Int16Array(this.sampleRate / 50);
    for (let i = 0; i < frame.length; i++, this.sample++) {
      frame[i] = Math.round(this.amplitude * Math.sin((2 * Math.PI * this.frequency * this.sample) / this.sampleRate));
    }
    return frame;
  }
}

interface Seat {
  participant: MixerParticipant;
  tone?: Tone;
  sent: Int16Array[];
  heard: Int16Array[];
}

/** Drives a room: every tick each speaking seat sends one frame, then the room mixes once. */
class Room {
  readonly mixer = new ConferenceMixer();
  readonly seats = new Map<string, Seat>();

  join(id: string, sampleRate: MixerSampleRate, tone?: Tone): Seat {
    const seat: Seat = { participant: this.mixer.addParticipant(id, sampleRate), tone, sent: [], heard: [] };
    this.seats.set(id, seat);
    return seat;
  }

  leave(id: string): boolean {
    this.seats.delete(id);
    return this.mixer.removeParticipant(id);
  }

  run(frames: number): void {
    for (let n = 0; n < frames; n++) {
      for (const seat of this.seats.values()) {
        if (seat.tone === undefined) continue;
        const frame = seat.tone.nextFrame();
        seat.participant.pushFrame(frame, frame.length);
        seat.sent.push(frame);
      }
      this.mixer.mixFrame();
      for (const seat of this.seats.values()) {
        const { pcm, count } = seat.participant.output();
        seat.heard.push(pcm.slice(0, count));
      }
    }
  }
}

const SPEECH_LEVEL = 8000;
/** 100 ms windows: every test tone is a multiple of 10 Hz, so it falls exactly on a Goertzel bin. */
const windowOf = (sampleRate: number): number => sampleRate / 10;

describe('ConferenceMixer', () => {
  it('lets each of three participants hear exactly the other two, never itself', () => {
    const room = new Room();
    const frequencies = { a: 400, b: 700, c: 1100 };
    for (const [id, frequency] of Object.entries(frequencies)) {
      room.join(id, 16000, new Tone(frequency, 16000, SPEECH_LEVEL));
    }
    room.run(20);

    for (const id of Object.keys(frequencies)) {
      const heard = concat(room.seats.get(id)!.heard);
      // The first mix only fills the jitter allowance; from then on frame n plays what was sent in frame n - 1.
      assert.equal(peak(heard.subarray(0, 320)), 0);
      for (let n = 1; n < 20; n++) {
        const expected = new Int16Array(320);
        for (const [otherId, other] of room.seats) {
          if (otherId === id) continue;
          for (let i = 0; i < 320; i++) expected[i] += other.sent[n - 1][i];
        }
        assert.deepEqual(room.seats.get(id)!.heard[n], expected, `${id} frame ${n}`);
      }
      for (const [otherId, frequency] of Object.entries(frequencies)) {
        const level = toneLevel(heard, 640, windowOf(16000), frequency, 16000);
        if (otherId === id) assert.ok(level < SPEECH_LEVEL / 1000, `${id} hears itself at ${level}`);
        else assert.ok(withinDb(level, SPEECH_LEVEL, 0.1), `${id} hears ${otherId} at ${level}`);
      }
    }
  });

  it('mixes 8 kHz and 16 kHz participants, each hearing at its own rate', () => {
    const room = new Room();
    room.join('narrow', 8000, new Tone(400, 8000, SPEECH_LEVEL));
    room.join('wide', 16000, new Tone(1100, 16000, SPEECH_LEVEL));
    // 6 kHz exists only at 16 kHz: the 8 kHz participant must not hear it, not even folded to 2 kHz.
    room.join('high', 16000, new Tone(6000, 16000, SPEECH_LEVEL));
    room.run(30);

    const narrow = concat(room.seats.get('narrow')!.heard);
    const wide = concat(room.seats.get('wide')!.heard);
    const high = concat(room.seats.get('high')!.heard);
    assert.equal(narrow.length, 30 * 160);
    assert.equal(wide.length, 30 * 320);

    const settled8k = 5 * 160;
    assert.ok(withinDb(toneLevel(narrow, settled8k, windowOf(8000), 1100, 8000), SPEECH_LEVEL, 1));
    assert.ok(toneLevel(narrow, settled8k, windowOf(8000), 400, 8000) < SPEECH_LEVEL / 100, 'narrow hears itself');
    assert.ok(toneLevel(narrow, settled8k, windowOf(8000), 2000, 8000) < SPEECH_LEVEL / 30, '6 kHz aliased to 2 kHz');

    const settled16k = 5 * 320;
    for (const [heard, present, absent] of [
      [wide, [400, 6000], 1100],
      [high, [400, 1100], 6000],
    ] as const) {
      for (const frequency of present) {
        const level = toneLevel(heard, settled16k, windowOf(16000), frequency, 16000);
        assert.ok(withinDb(level, SPEECH_LEVEL, 1), `${frequency} Hz at ${level}`);
      }
      const own = toneLevel(heard, settled16k, windowOf(16000), absent, 16000);
      assert.ok(own < SPEECH_LEVEL / 100, `hears own ${absent} Hz`);
    }
  });

  it('keeps 20 participants at full scale bounded without wrapping, then recovers the gain', () => {
    const room = new Room();
    for (let i = 0; i < 20; i++) {
      const sampleRate: MixerSampleRate = i % 2 === 0 ? 8000 : 16000;
      room.join(`p${i}`, sampleRate, new Tone(500, sampleRate, 32767));
    }
    room.run(100);

    for (const [id, seat] of room.seats) {
      const sampleRate = seat.participant.sampleRate;
      const heard = concat(seat.heard);
      const loudest = peak(heard);
      // The limiter, not the last-resort clamp, keeps the 19-fold sum in range.
      assert.ok(loudest < 32767 && loudest > 26000, `${id} peaks at ${loudest}`);
      // Everyone hears the sum of same-frequency sines, itself a sine. Wrapped or clamped, it would no
      // longer be one: its fundamental would differ from its peak and from its RMS level. Measured at
      // the end, once the gain has settled after the first frames' onset.
      const window = windowOf(sampleRate);
      const settled = heard.subarray(heard.length - window);
      const fundamental = toneLevel(settled, 0, window, 500, sampleRate);
      assert.ok(withinDb(fundamental, peak(settled), 0.2), `${id}: fundamental ${fundamental}, peak ${peak(settled)}`);
      assert.ok(withinDb(fundamental, Math.SQRT2 * rms(settled), 0.1), `${id} is not a pure sine`);
    }

    // Now only p1 talks, at speech level: once the gain has recovered, p3 hears it unchanged again.
    for (const [id, seat] of room.seats) {
      seat.tone = id === 'p1' ? new Tone(500, seat.participant.sampleRate, SPEECH_LEVEL) : undefined;
    }
    room.run(100);
    const listener = room.seats.get('p3')!;
    const tail = concat(listener.heard.slice(-10));
    assert.ok(withinDb(toneLevel(tail, 0, windowOf(16000), 500, 16000), SPEECH_LEVEL, 0.1));
  });

  it('lets a silent participant leave and join again while the others carry on', () => {
    const room = new Room();
    const talker = room.join('talker', 16000, new Tone(400, 16000, SPEECH_LEVEL));
    const other = room.join('other', 16000, new Tone(1100, 16000, SPEECH_LEVEL));
    const silent = room.join('silent', 8000);
    room.run(10);
    assert.ok(withinDb(toneLevel(concat(silent.heard), 400, windowOf(8000), 400, 8000), SPEECH_LEVEL, 1));

    assert.equal(room.leave('silent'), true);
    assert.equal(room.leave('silent'), false);
    assert.equal(room.mixer.size, 2);
    silent.participant.pushFrame(new Int16Array(160).fill(20000), 160);
    room.run(10);
    for (let n = 10; n < 20; n++) {
      assert.deepEqual(talker.heard[n], other.sent[n - 1]);
      assert.deepEqual(other.heard[n], talker.sent[n - 1]);
    }

    const back = room.join('silent', 8000);
    assert.notEqual(back.participant, silent.participant);
    assert.throws(() => room.mixer.addParticipant('silent', 16000), /already/);
    assert.equal(room.mixer.size, 3);
    room.run(10);
    const heard = concat(back.heard);
    assert.ok(withinDb(toneLevel(heard, 400, windowOf(8000), 400, 8000), SPEECH_LEVEL, 1));
    assert.ok(withinDb(toneLevel(heard, 400, windowOf(8000), 1100, 8000), SPEECH_LEVEL, 1));
    for (let n = 20; n < 30; n++) assert.deepEqual(talker.heard[n], other.sent[n - 1]);
  });

  describe('jitter allowance', () => {
    /** A frame whose every sample says which frame it is. */
    const numbered = (n: number): Int16Array => new Int16Array(320).fill(100 * (n + 1));
    /** The frame number each mixed frame carried, or -1 for silence. */
    const heardNumbers = (frames: Int16Array[]): number[] =>
      frames.map((f) => {
        assert.ok(f.every((s) => s === f[0]), 'a frame is played whole');
        return f[0] === 0 ? -1 : f[0] / 100 - 1;
      });

    function setUp(): { speaker: MixerParticipant; mix: () => void; heard: Int16Array[] } {
      const mixer = new ConferenceMixer();
      const speaker = mixer.addParticipant('speaker', 16000);
      const listener = mixer.addParticipant('listener', 16000);
      const heard: Int16Array[] = [];
      const mix = (): void => {
        mixer.mixFrame();
        heard.push(listener.output().pcm.slice());
      };
      return { speaker, mix, heard };
    }

    it('plays a frame that arrives late but within the allowance, in order and without a gap', () => {
      const { speaker, mix, heard } = setUp();
      for (let n = 0; n < 10; n++) {
        const late = n === 4 || n === 7;
        if (!late) speaker.pushFrame(numbered(n), 320);
        mix();
        if (late) speaker.pushFrame(numbered(n), 320);
      }
      assert.deepEqual(heardNumbers(heard), [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('plays silence for frames that do not come, then waits for the allowance again', () => {
      const { speaker, mix, heard } = setUp();
      for (let n = 0; n < 4; n++) {
        speaker.pushFrame(numbered(n), 320);
        mix();
      }
      mix();
      mix();
      for (let n = 4; n < 7; n++) {
        speaker.pushFrame(numbered(n), 320);
        mix();
      }
      assert.deepEqual(heardNumbers(heard), [-1, 0, 1, 2, 3, -1, -1, 4, 5]);
    });

    it('drops the oldest audio when a burst overfills the allowance', () => {
      const { speaker, mix, heard } = setUp();
      for (let n = 0; n < 10; n++) speaker.pushFrame(numbered(n), 320);
      for (let n = 0; n < 4; n++) mix();
      assert.deepEqual(heardNumbers(heard), [7, 8, 9, -1]);
    });
  });
});
