// The server as an RTP sender: frame pacing on a drift-free grid, the PCM sources, and the player
// that encodes them into paced RTP packets, all on a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock, TimerHandle } from '../../src/transaction/clock.js';
import type { CodecInstance } from '../../src/media/codecs/codec.js';
import { G722 } from '../../src/media/codecs/g722.js';
import { PCMU } from '../../src/media/codecs/g711.js';
import { FramePacer, MAX_FRAMES_PER_TICK } from '../../src/media/frame-pacer.js';
import { BufferSource, RateAdapter, SilenceSource, ToneSource, type PcmSource } from '../../src/media/pcm-source.js';
import { Player } from '../../src/media/player.js';
import {
  RTP_HEADER_BYTES,
  rtpMarker,
  rtpPayloadType,
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
} from '../../src/media/rtp/rtp-packet.js';
import { RtpSender } from '../../src/media/rtp/rtp-sender.js';
import { TONE_PLANS } from '../../src/media/tones.js';
import { FakeClock } from '../support/fake-clock.js';
import { sine } from '../support/pcm-signals.js';
import { rtpPayload } from '../support/rtp-test-packets.js';
import { rms } from '../support/tone-measure.js';

/** Amplitude of the test sines, as loud as speech. */
const LEVEL = 8000;

/** A FakeClock whose timers can fire late, as they do when the event loop is busy, and whose wall time can step. */
class UnsteadyClock implements Clock {
  readonly fake = new FakeClock();
  /** lateness of every timer */
  always = 0;
  /** what the wall clock reads minus the fake time, as after an NTP step */
  offset = 0;
  private readonly nextLateness: number[] = [];

  now(): number {
    return this.fake.now() + this.offset;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    return this.fake.setTimer(ms + (this.nextLateness.shift() ?? this.always), fn);
  }

  clearTimer(h: TimerHandle): void {
    this.fake.clearTimer(h);
  }

  /** The next timer set fires `ms` after it is due. */
  delayNextTimer(ms: number): void {
    this.nextLateness.push(ms);
  }
}

/** Frequency from the rising zero crossings (interpolated between samples), between the first and the last. */
function measuredFrequency(samples: Int16Array, sampleRate: number): number {
  const rising: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1]!;
    const after = samples[i]!;
    if (before < 0 && after >= 0) rising.push(i - 1 + before / (before - after));
  }
  return ((rising.length - 1) * sampleRate) / (rising.at(-1)! - rising[0]!);
}

/** Everything a source gives, read `chunk` samples at a time until it reports its end. */
function drain(source: PcmSource, chunk: number, limit = 1_000_000): Int16Array {
  const out: number[] = [];
  const frame = new Int16Array(chunk);
  for (let read = source.read(frame, chunk); read > 0 && out.length < limit; read = source.read(frame, chunk)) {
    out.push(...frame.subarray(0, read));
  }
  return Int16Array.from(out);
}

describe('FramePacer', () => {
  function framesAt(clock: Clock, frameMs = 20): { times: number[]; pacer: FramePacer; skipped: number[] } {
    const times: number[] = [];
    const skipped: number[] = [];
    const pacer = new FramePacer(clock, frameMs, () => times.push(clock.now()), (frames) => skipped.push(frames));
    return { times, pacer, skipped };
  }

  it('calls back on the grid start + n * frameMs, the first frame from a timer rather than inside start()', () => {
    const clock = new FakeClock(5_000);
    const { times, pacer } = framesAt(clock);
    pacer.start();
    assert.deepEqual(times, []);
    clock.advance(100);
    assert.deepEqual(times, [5_000, 5_020, 5_040, 5_060, 5_080, 5_100]);
  });

  it('sends exactly 30,000 frames in 10 minutes, the last one on the grid', () => {
    const clock = new FakeClock();
    const { times, pacer } = framesAt(clock);
    pacer.start();
    clock.advance(600_000 - 1);
    assert.equal(times.length, 30_000);
    assert.equal(times.at(-1), 599_980);
    clock.advance(1);
    assert.equal(times.at(-1), 600_000);
  });

  it('does not drift when every timer fires late: the lateness is not carried into the next frame', () => {
    const clock = new UnsteadyClock();
    clock.always = 7;
    const { times, pacer } = framesAt(clock);
    pacer.start();
    clock.fake.advance(600_000);
    assert.equal(times.length, 30_000);
    assert.equal(times.at(-1), 599_980 + 7);
    assert.ok(times.every((t, n) => t === n * 20 + 7));
  });

  it('catches up on frames missed by a late timer at once, then continues on the grid', () => {
    const clock = new UnsteadyClock();
    const { times, pacer, skipped } = framesAt(clock);
    pacer.start();
    clock.fake.advance(40);
    // The timer for 60 is already set; the one it sets for 80 fires at 130, with 100 and 120 also due.
    clock.delayNextTimer(50);
    clock.fake.advance(100);
    assert.deepEqual(times, [0, 20, 40, 60, 130, 130, 130, 140]);
    assert.deepEqual(skipped, []);
  });

  it(`sends at most ${MAX_FRAMES_PER_TICK} missed frames back to back and reports the rest as skipped`, () => {
    const clock = new UnsteadyClock();
    const { times, pacer, skipped } = framesAt(clock);
    pacer.start();
    clock.fake.advance(40);
    clock.delayNextTimer(200);
    clock.fake.advance(240);
    // The timer for 80 fires at 280, when 80..280 (11 frames) are due: 5 go out, 6 are dropped.
    assert.deepEqual(times.slice(4), Array(MAX_FRAMES_PER_TICK).fill(280));
    assert.deepEqual(skipped, [11 - MAX_FRAMES_PER_TICK]);
    clock.fake.advance(40);
    assert.deepEqual(times.slice(4 + MAX_FRAMES_PER_TICK), [300, 320]);
  });

  it('keeps sending when the wall clock steps back, moving its grid', () => {
    const clock = new UnsteadyClock();
    const { times, pacer } = framesAt(clock);
    pacer.start();
    clock.fake.advance(40);
    clock.offset = -10_000;
    clock.fake.advance(60);
    assert.deepEqual(times, [0, 20, 40, 60 - 10_000, 80 - 10_000, 100 - 10_000]);
  });

  it('stops: no more frames and no timer left behind; a new start begins a new grid', () => {
    const clock = new FakeClock();
    const { times, pacer } = framesAt(clock);
    pacer.start();
    clock.advance(30);
    pacer.stop();
    assert.equal(pacer.active, false);
    assert.equal(clock.pending(), 0);
    clock.advance(100);
    assert.deepEqual(times, [0, 20]);
    pacer.start();
    clock.advance(25);
    assert.deepEqual(times, [0, 20, 130, 150]);
  });

  it('lets a frame callback stop the pacer in the middle of a catch-up, or restart it', () => {
    const clock = new UnsteadyClock();
    const times: number[] = [];
    const pacer = new FramePacer(clock, 20, () => {
      times.push(clock.now());
      if (times.length === 2) pacer.stop();
      if (times.length === 4) {
        pacer.stop();
        pacer.start();
      }
    });
    clock.delayNextTimer(60);
    pacer.start();
    clock.fake.advance(100);
    assert.deepEqual(times, [60, 60], 'the catch-up ends at stop()');
    pacer.start();
    clock.fake.advance(60);
    assert.deepEqual(times, [60, 60, 100, 120, 120, 140, 160], 'a restart begins a fresh grid at once');
    assert.equal(clock.fake.pending(), 1);
  });
});

describe('PCM sources', () => {
  it('BufferSource hands out its samples in order, a short read at the end, then 0 on every read', () => {
    const samples = Int16Array.from({ length: 350 }, (_, i) => i - 175);
    const source = new BufferSource(samples, 8000);
    const frame = new Int16Array(160);
    assert.deepEqual([source.read(frame, 160), source.read(frame, 160), source.read(frame, 160)], [160, 160, 30]);
    assert.deepEqual(frame.subarray(0, 30), samples.subarray(320));
    assert.deepEqual([source.read(frame, 160), source.read(frame, 160)], [0, 0]);
    assert.deepEqual(drain(new BufferSource(samples, 8000), 7), samples);
  });

  it('BufferSource loops seamlessly when asked, and an empty loop ends instead of spinning', () => {
    const samples = Int16Array.from({ length: 70 }, (_, i) => i);
    const looped = drain(new BufferSource(samples, 8000, { loop: true }), 160, 1000);
    assert.equal(looped.length, 1120);
    assert.ok(looped.every((s, i) => s === i % 70));
    assert.equal(new BufferSource(new Int16Array(0), 8000, { loop: true }).read(new Int16Array(160), 160), 0);
  });

  it('SilenceSource writes zeros for its duration, or for ever without one', () => {
    const frame = new Int16Array(160).fill(1234);
    const pause = new SilenceSource(8000, 50);
    assert.deepEqual([1, 2, 3, 4].map(() => pause.read(frame, 160)), [160, 160, 80, 0]);
    assert.ok(frame.every((s) => s === 0));
    const endless = new SilenceSource(16000);
    for (let i = 0; i < 1000; i++) assert.equal(endless.read(frame, 160), 160);
  });

  it('ToneSource plays a tone with its cadence for ever, and a beep once', () => {
    const busy = new ToneSource(TONE_PLANS.us!.busy, 8000);
    const second = new Int16Array(8000);
    for (let i = 0; i < 8000; i += 160) assert.equal(busy.read(second.subarray(i), 160), 160);
    assert.ok(rms(second.subarray(0, 4000)) > 1000, '500 ms on');
    assert.ok(second.subarray(4000).every((s) => s === 0), '500 ms off');
    assert.equal(busy.read(second, 160), 160, 'and on again');

    const beep = drain(new ToneSource(TONE_PLANS.us!.beep, 16000), 320);
    assert.equal(beep.length, 16000 / 4);
    assert.ok(Math.abs(measuredFrequency(beep, 16000) - 1000) < 1);
  });

  for (const [from, to] of [
    [8000, 16000],
    [16000, 8000],
  ] as const) {
    it(`RateAdapter turns ${from} Hz into ${to} Hz: same length, tone and level`, () => {
      const input = sine(1000, from, from, LEVEL);
      const adapted = new RateAdapter(new BufferSource(input, from), to);
      assert.equal(adapted.sampleRate, to);
      const output = drain(adapted, 160);
      assert.equal(output.length, to);
      // The first samples are the resampling filter filling up.
      const settled = output.subarray(100);
      assert.ok(Math.abs(measuredFrequency(settled, to) - 1000) < 1, `${measuredFrequency(settled, to)} Hz`);
      const levelDb = 20 * Math.log10(rms(settled) / rms(input));
      assert.ok(Math.abs(levelDb) < 1, `${levelDb.toFixed(2)} dB`);
    });
  }

  it('RateAdapter gives the same samples however the reads are cut, odd lengths included', () => {
    const input = sine(700, 8000, 999, LEVEL);
    const whole = drain(new RateAdapter(new BufferSource(input, 8000), 16000), 320);
    for (const chunk of [1, 3, 7, 161]) {
      assert.deepEqual(drain(new RateAdapter(new BufferSource(input, 8000), 16000), chunk), whole, `chunks of ${chunk}`);
    }
    const down = drain(new RateAdapter(new BufferSource(sine(700, 16000, 999, LEVEL), 16000), 8000), 160);
    assert.deepEqual(drain(new RateAdapter(new BufferSource(sine(700, 16000, 999, LEVEL), 16000), 8000), 3), down);
  });

  it('RateAdapter refuses rates it cannot convert', () => {
    assert.throws(() => new RateAdapter(new SilenceSource(8000), 48000), RangeError);
    assert.throws(() => new RateAdapter(new SilenceSource(44100), 8000), RangeError);
  });
});

interface Capture {
  packets: Uint8Array[];
  times: number[];
  send: (packet: Uint8Array, length: number) => void;
}

function capture(clock: Clock): Capture {
  const packets: Uint8Array[] = [];
  const times: number[] = [];
  return {
    packets,
    times,
    send: (packet, length) => {
      packets.push(packet.slice(0, length));
      times.push(clock.now());
    },
  };
}

function decodeAll(codec: CodecInstance, packets: Uint8Array[]): Int16Array {
  const frame = new Int16Array(640);
  const out: number[] = [];
  for (const packet of packets) {
    const payload = rtpPayload(packet);
    const samples = codec.decode(payload, payload.length, frame);
    out.push(...frame.subarray(0, samples));
  }
  return Int16Array.from(out);
}

/** Steps between consecutive values, as RTP fields that wrap at `modulo` if given. */
const differences = (values: number[], modulo?: number): number[] =>
  values.slice(1).map((v, i) => (modulo === undefined ? v - values[i]! : (v - values[i]! + modulo) % modulo));

describe('Player', () => {
  it('plays 1 s of 8 kHz audio as PCMU: 50 packets of 172 bytes, 20 ms apart, with continuous headers', () => {
    const clock = new FakeClock(1_000_000);
    const out = capture(clock);
    const player = new Player({ clock, codec: PCMU.create(), payloadType: PCMU.staticPayloadType, send: out.send });
    const audio = sine(440, 8000, 8000, LEVEL);
    player.play(new BufferSource(audio, 8000));
    assert.equal(player.playing, true);
    clock.advance(2000);

    assert.equal(out.packets.length, 50);
    assert.ok(out.packets.every((p) => p.length === 172));
    assert.deepEqual(differences(out.times), Array(49).fill(20));
    assert.deepEqual(differences(out.packets.map(rtpSequence), 0x10000), Array(49).fill(1));
    assert.deepEqual(differences(out.packets.map(rtpTimestamp), 2 ** 32), Array(49).fill(160));
    assert.equal(new Set(out.packets.map(rtpSsrc)).size, 1);
    assert.deepEqual(out.packets.map(rtpMarker), [true, ...Array(49).fill(false)]);
    assert.ok(out.packets.every((p) => rtpPayloadType(p) === 0));

    const decoded = decodeAll(PCMU.create(), out.packets);
    assert.equal(decoded.length, audio.length);
    // Half a µ-law step: the step doubles with each segment, 1/16 of the segment's magnitude.
    audio.forEach((s, i) => assert.ok(Math.abs(decoded[i]! - s) <= 8 + Math.abs(s) / 16, `sample ${i}: ${s} → ${decoded[i]}`));
  });

  it('calls onDone once, a frame after the last packet, and leaves no timer behind', () => {
    const clock = new FakeClock();
    const out = capture(clock);
    const player = new Player({ clock, codec: PCMU.create(), payloadType: 0, send: out.send });
    const doneAt: number[] = [];
    player.play(new BufferSource(new Int16Array(8000), 8000), () => doneAt.push(clock.now()));
    clock.advance(5000);
    assert.deepEqual(doneAt, [1000]);
    assert.equal(out.times.at(-1), 980);
    assert.equal(player.playing, false);
    assert.equal(clock.pending(), 0);
  });

  it('pads the last, short frame with silence', () => {
    const clock = new FakeClock();
    const out = capture(clock);
    const player = new Player({ clock, codec: PCMU.create(), payloadType: 0, send: out.send });
    player.play(new BufferSource(new Int16Array(240).fill(5000), 8000));
    clock.advance(1000);
    assert.equal(out.packets.length, 2);
    const decoded = decodeAll(PCMU.create(), out.packets);
    assert.ok(decoded.subarray(0, 240).every((s) => Math.abs(s - 5000) < 200));
    assert.ok(decoded.subarray(240).every((s) => s === 0));
  });

  it('plays a beep to its end and reports it done', () => {
    const clock = new FakeClock();
    const out = capture(clock);
    const player = new Player({ clock, codec: PCMU.create(), payloadType: 0, send: out.send });
    const doneAt: number[] = [];
    player.play(new ToneSource(TONE_PLANS.uk!.beep, 8000), () => doneAt.push(clock.now()));
    clock.advance(1000);
    const packets = Math.ceil((TONE_PLANS.uk!.beep.cadence[0]! * 8) / 160);
    assert.equal(out.packets.length, packets);
    assert.deepEqual(doneAt, [packets * 20]);
  });

  it('plays 16 kHz audio as G.722: 160-byte payloads, timestamps +160 at the 8 kHz RTP clock', () => {
    const clock = new FakeClock();
    const out = capture(clock);
    const player = new Player({ clock, codec: G722.create(), payloadType: G722.staticPayloadType, send: out.send });
    player.play(new BufferSource(sine(1000, 16000, 16000, LEVEL), 16000));
    clock.advance(2000);
    assert.equal(out.packets.length, 50);
    assert.ok(out.packets.every((p) => p.length === RTP_HEADER_BYTES + 160 && rtpPayloadType(p) === 9));
    assert.deepEqual(differences(out.packets.map(rtpTimestamp), 2 ** 32), Array(49).fill(160));
    const decoded = decodeAll(G722.create(), out.packets);
    assert.equal(decoded.length, 16000);
    assert.ok(Math.abs(measuredFrequency(decoded.subarray(1000), 16000) - 1000) < 5);
  });

  it('resamples a source whose rate is not the codec’s: 8 kHz audio into G.722, 16 kHz into PCMU', () => {
    for (const [codec, sourceRate] of [
      [G722, 8000],
      [PCMU, 16000],
    ] as const) {
      const clock = new FakeClock();
      const out = capture(clock);
      const player = new Player({ clock, codec: codec.create(), payloadType: codec.staticPayloadType, send: out.send });
      player.play(new BufferSource(sine(1000, sourceRate, sourceRate / 2, LEVEL), sourceRate));
      clock.advance(1000);
      assert.equal(out.packets.length, 25, codec.name);
      const decoded = decodeAll(codec.create(), out.packets);
      assert.ok(Math.abs(measuredFrequency(decoded.subarray(500), codec.sampleRate) - 1000) < 5, codec.name);
    }
  });

  it('stop() stops at once: no more packets, no onDone, no timer', () => {
    const clock = new FakeClock();
    const out = capture(clock);
    const player = new Player({ clock, codec: PCMU.create(), payloadType: 0, send: out.send });
    let done = 0;
    player.play(new BufferSource(new Int16Array(8000), 8000), () => done++);
    clock.advance(190);
    player.stop();
    assert.equal(player.playing, false);
    clock.advance(2000);
    assert.equal(out.packets.length, 10);
    assert.equal(done, 0);
    assert.equal(clock.pending(), 0);
  });

  it('continues sequence and timestamp across plays started from onDone, marking the first of each', () => {
    const clock = new FakeClock();
    const out = capture(clock);
    const sender = new RtpSender();
    const player = new Player({ clock, codec: PCMU.create(), payloadType: 0, send: out.send, sender });
    const tenth = (): BufferSource => new BufferSource(new Int16Array(800), 8000);
    let done = 0;
    player.play(tenth(), () => player.play(tenth(), () => done++));
    clock.advance(1000);
    assert.equal(done, 1);
    assert.equal(out.packets.length, 10);
    assert.deepEqual(differences(out.times), Array(9).fill(20));
    assert.deepEqual(differences(out.packets.map(rtpSequence), 0x10000), Array(9).fill(1));
    assert.deepEqual(differences(out.packets.map(rtpTimestamp), 2 ** 32), Array(9).fill(160));
    assert.deepEqual(out.packets.map(rtpMarker), [true, false, false, false, false, true, false, false, false, false]);
    assert.ok(out.packets.every((p) => rtpSsrc(p) === sender.ssrc));
  });

  it('moves the timestamp over the silence between two plays, keeping the sequence continuous', () => {
    const clock = new FakeClock();
    const out = capture(clock);
    const player = new Player({ clock, codec: PCMU.create(), payloadType: 0, send: out.send });
    player.play(new BufferSource(new Int16Array(160), 8000));
    clock.advance(1000);
    player.play(new BufferSource(new Int16Array(160), 8000));
    clock.advance(1000);
    const [first, second] = out.packets;
    assert.equal(out.times[1]! - out.times[0]!, 1000);
    assert.equal((rtpTimestamp(second!) - rtpTimestamp(first!)) >>> 0, 8000, 'timestamps follow the 1 s between the packets');
    assert.equal((rtpSequence(second!) - rtpSequence(first!)) & 0xffff, 1);
    assert.equal(rtpMarker(second!), true);
  });

  it('play() while playing switches source without a break in pacing and never calls the old onDone', () => {
    const clock = new FakeClock();
    const out = capture(clock);
    const player = new Player({ clock, codec: PCMU.create(), payloadType: 0, send: out.send });
    const calls: string[] = [];
    player.play(new BufferSource(new Int16Array(8000).fill(1000), 8000), () => calls.push('first'));
    clock.advance(50);
    player.play(new BufferSource(new Int16Array(320).fill(-1000), 8000), () => calls.push('second'));
    clock.advance(1000);
    assert.deepEqual(out.times, [0, 20, 40, 60, 80]);
    assert.deepEqual(out.packets.map(rtpMarker), [true, false, false, true, false]);
    assert.deepEqual(differences(out.packets.map(rtpTimestamp), 2 ** 32), [160, 160, 160, 160]);
    assert.deepEqual(calls, ['second']);
  });

  it('after the event loop stalls, skips the timestamp over the frames it dropped and marks the next packet', () => {
    const clock = new UnsteadyClock();
    const out = capture(clock);
    const player = new Player({ clock, codec: PCMU.create(), payloadType: 0, send: out.send });
    player.play(new SilenceSource(8000));
    clock.fake.advance(40);
    clock.delayNextTimer(200);
    clock.fake.advance(300);
    // Packets at 0..60, a burst of the frames due from 80 at 280, then the first after the dropped ones.
    const stamps = out.packets.map(rtpTimestamp);
    const afterStall = 4 + MAX_FRAMES_PER_TICK;
    assert.equal(out.times[afterStall], 300);
    assert.equal((stamps[afterStall]! - stamps[0]!) >>> 0, (300 / 20) * 160, 'the timestamp matches the time sent');
    assert.equal(rtpMarker(out.packets[afterStall]!), true);
    assert.equal(out.packets.filter(rtpMarker).length, 2);
  });

  it('refuses a ptime that is not a whole number of samples', () => {
    const clock = new FakeClock();
    assert.throws(() => new Player({ clock, codec: PCMU.create(), payloadType: 0, ptimeMs: 0.1, send: () => {} }), RangeError);
  });
});
