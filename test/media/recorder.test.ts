import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FramePacer } from '../../src/media/frame-pacer.js';
import type { MixerSampleRate } from '../../src/media/mixer.js';
import { CallRecorder, type RecordingLimit, type RecordingMode } from '../../src/media/recorder.js';
import { readWav } from '../../src/media/wav.js';
import { FakeClock } from '../support/fake-clock.js';
import { toneLevel, withinDb } from '../support/tone-measure.js';

const LEVEL = 8000;

/**
 * One side of a call: every 20 ms, starting `offsetMs` into the call, a decoded frame of a sine
 * arrives, as RTP would deliver it, out of step with the recorder's pacer.
 */
function sendTone(
  clock: FakeClock,
  offsetMs: number,
  seconds: number,
  frequency: number,
  sampleRate: MixerSampleRate,
  push: (pcm: Int16Array, count: number, sampleRate: MixerSampleRate) => void,
): void {
  const frame = new Int16Array(sampleRate / 50);
  let sample = 0;
  let framesLeft = seconds * 50;
  const arrive = (): void => {
    for (let i = 0; i < frame.length; i++, sample++) {
      frame[i] = Math.round(LEVEL * Math.sin((2 * Math.PI * frequency * sample) / sampleRate));
    }
    push(frame, frame.length, sampleRate);
    if (--framesLeft > 0) clock.setTimer(20, arrive);
  };
  clock.setTimer(offsetMs, arrive);
}

interface Call {
  clock: FakeClock;
  recorder: CallRecorder;
  pacer: FramePacer;
}

describe('CallRecorder', () => {
  let directory: string;
  let files = 0;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'switchboard-recorder-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  /** A recorder ticked by a FramePacer on a fake clock, with a 440 Hz caller and an 880 Hz callee. */
  async function startCall(
    mode: RecordingMode,
    sampleRate: MixerSampleRate = 8000,
    limit: RecordingLimit = {},
    calleeRate: MixerSampleRate = 16000,
  ): Promise<Call> {
    const clock = new FakeClock();
    const recorder = await CallRecorder.start(join(directory, `call-${files++}.wav`), mode, sampleRate, limit);
    const pacer = new FramePacer(clock, 20, () => recorder.tick());
    pacer.start();
    sendTone(clock, 7, 1, 440, 8000, (pcm, count, rate) => recorder.pushCaller(pcm, count, rate));
    sendTone(clock, 13, 1, 880, calleeRate, (pcm, count, rate) => recorder.pushCallee(pcm, count, rate));
    return { clock, recorder, pacer };
  }

  async function finish(call: Call): Promise<{ seconds: number; sampleRate: number; samples: Int16Array }> {
    call.pacer.stop();
    const { path, seconds } = await call.recorder.stop();
    const { sampleRate, samples } = readWav(await readFile(path));
    return { seconds, sampleRate, samples };
  }

  /** Where the recording is not silent, in samples. */
  function voiced(samples: Int16Array): { start: number; end: number } {
    const loud = (s: number): boolean => Math.abs(s) > LEVEL / 10;
    let end = samples.length;
    while (end > 0 && !loud(samples[end - 1])) end--;
    return { start: samples.findIndex(loud), end };
  }

  /** The level of each frequency in every 100 ms window of the voiced part. */
  function levels(samples: Int16Array, sampleRate: number, frequencies: number[]): number[][] {
    const { start, end } = voiced(samples);
    const window = sampleRate / 10;
    // The resamplers' onset is skipped; every test tone is a multiple of 10 Hz, a whole Goertzel bin.
    const windows: number[][] = [];
    for (let from = start + sampleRate / 100; from + window <= end; from += window) {
      windows.push(frequencies.map((f) => toneLevel(samples, from, window, f, sampleRate)));
    }
    return windows;
  }

  it('records both sides mixed: the caller tone and the callee tone for a second', async () => {
    const call = await startCall('both');
    call.clock.advance(1100);
    const { seconds, sampleRate, samples } = await finish(call);

    assert.equal(sampleRate, 8000);
    assert.equal(samples.length, seconds * sampleRate);
    const { start, end } = voiced(samples);
    assert.ok(Math.abs((end - start) / sampleRate - 1) < 0.01, `voiced for ${(end - start) / sampleRate} s`);
    const windows = levels(samples, sampleRate, [440, 880]);
    assert.equal(windows.length, 9);
    for (const [caller, callee] of windows) {
      assert.ok(withinDb(caller, LEVEL, 0.5), `caller at ${caller}`);
      assert.ok(withinDb(callee, LEVEL, 0.5), `callee at ${callee}`);
    }
  });

  for (const [mode, kept, dropped] of [
    ['caller', 440, 880],
    ['callee', 880, 440],
  ] as const) {
    it(`records only the ${mode} in '${mode}' mode`, async () => {
      const call = await startCall(mode);
      call.clock.advance(1100);
      const { samples } = await finish(call);
      const windows = levels(samples, 8000, [kept, dropped]);
      assert.equal(windows.length, 9);
      for (const [present, absent] of windows) {
        assert.ok(withinDb(present, LEVEL, 0.5), `${kept} Hz at ${present}`);
        assert.ok(absent < LEVEL / 1000, `${dropped} Hz at ${absent}`);
      }
    });
  }

  it('records at 16 kHz, keeping wideband audio an 8 kHz file could not hold', async () => {
    const call = await startCall('both', 16000);
    call.clock.advance(1100);
    const { sampleRate, samples } = await finish(call);
    assert.equal(sampleRate, 16000);
    for (const [caller, callee] of levels(samples, sampleRate, [440, 880])) {
      assert.ok(withinDb(caller, LEVEL, 0.5), `caller at ${caller}`);
      assert.ok(withinDb(callee, LEVEL, 0.5), `callee at ${callee}`);
    }
  });

  it('follows a side whose sample rate changes mid-call', async () => {
    const clock = new FakeClock();
    const recorder = await CallRecorder.start(join(directory, 'rate-change.wav'), 'callee');
    const pacer = new FramePacer(clock, 20, () => recorder.tick());
    pacer.start();
    const push = (pcm: Int16Array, count: number, rate: MixerSampleRate): void => recorder.pushCallee(pcm, count, rate);
    sendTone(clock, 13, 0.5, 880, 8000, push);
    clock.advance(500);
    // A re-INVITE moved the callee from G.711 to G.722.
    sendTone(clock, 13, 0.5, 880, 16000, push);
    clock.advance(600);
    const { samples } = await finish({ clock, recorder, pacer });

    const { start } = voiced(samples);
    for (const second of [0.1, 0.3, 0.6, 0.8]) {
      const level = toneLevel(samples, start + second * 8000, 800, 880, 8000);
      assert.ok(withinDb(level, LEVEL, 0.5), `880 Hz at ${level} after ${second} s`);
    }
  });

  it('stops writing at maxSeconds, mid-frame if need be, and says so once', async () => {
    const maxSeconds = 0.51;
    const limits: number[] = [];
    const call = await startCall('both', 8000, { maxSeconds, onLimit: () => limits.push(call.clock.now()) });
    call.clock.advance(1100);
    // Frame n is due at n * 20 ms from 0, so the frame that reaches the limit is frame ceil(limit / 20 ms) - 1.
    assert.deepEqual(limits, [(Math.ceil(maxSeconds * 50) - 1) * 20]);
    const { seconds, sampleRate, samples } = await finish(call);
    assert.equal(seconds, maxSeconds);
    assert.equal(samples.length, maxSeconds * sampleRate);
  });

  it('refuses a limit that is not a positive number of seconds', async () => {
    await assert.rejects(CallRecorder.start(join(directory, 'never.wav'), 'both', 8000, { maxSeconds: 0 }), RangeError);
  });

  it('treats a second stop, and ticks or audio after stop, as harmless', async () => {
    const call = await startCall('both');
    call.clock.advance(300);
    call.pacer.stop();
    const [first, concurrent] = await Promise.all([call.recorder.stop(), call.recorder.stop()]);
    call.clock.advance(300);
    call.recorder.tick();
    call.recorder.pushCaller(new Int16Array(160), 160, 8000);
    const again = await call.recorder.stop();
    assert.deepEqual(concurrent, first);
    assert.deepEqual(again, first);
    const { samples } = readWav(await readFile(first.path));
    assert.equal(samples.length, first.seconds * 8000);
    assert.ok(first.seconds > 0.25 && first.seconds < 0.35, `${first.seconds} s`);
  });
});
