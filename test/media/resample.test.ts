// The half-band resamplers: tones keep their frequency and level, the 6 kHz image is removed when
// going down to 8 kHz, and state carries over between frames of any size.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Downsampler2x, Upsampler2x } from '../../src/media/resample.js';
import { sine } from '../support/pcm-signals.js';
import { zeroCrossingFrequency } from '../support/tone-measure.js';

function rmsDb(samples: Int16Array): number {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return 10 * Math.log10(sum / samples.length);
}

/** Level of one frequency component, in dB like rmsDb, by correlating with a sine and a cosine. */
function componentDb(samples: Int16Array, frequency: number, sampleRate: number): number {
  let inPhase = 0;
  let quadrature = 0;
  for (let i = 0; i < samples.length; i++) {
    inPhase += samples[i] * Math.sin((2 * Math.PI * frequency * i) / sampleRate);
    quadrature += samples[i] * Math.cos((2 * Math.PI * frequency * i) / sampleRate);
  }
  const amplitude = (2 * Math.hypot(inPhase, quadrature)) / samples.length;
  return 20 * Math.log10(amplitude / Math.SQRT2);
}

/** Runs `input` through `resampler` in frames of the given sizes, cycling through them. */
function inFrames(
  resampler: { process(input: Int16Array, count: number, out: Int16Array): number },
  input: Int16Array,
  frameSizes: number[],
): Int16Array {
  const output = new Int16Array(input.length * 2);
  const frameOut = new Int16Array(Math.max(...frameSizes) * 2);
  let written = 0;
  for (let start = 0, frame = 0; start < input.length; frame++) {
    const count = Math.min(frameSizes[frame % frameSizes.length], input.length - start);
    const produced = resampler.process(input.subarray(start, start + count), count, frameOut);
    output.set(frameOut.subarray(0, produced), written);
    written += produced;
    start += count;
  }
  return output.subarray(0, written);
}

// 50 ms for the filters to fill, at either rate.
const SETTLE_8K = 400;
const SETTLE_16K = 800;

describe('Upsampler2x', () => {
  it('writes two samples per input sample: 160 in, 320 out', () => {
    const out = new Int16Array(320);
    assert.equal(new Upsampler2x().process(sine(1000, 8000, 160, 1000), 160, out), 320);
  });

  it('turns a 1 kHz tone at 8 kHz into a 1 kHz tone at 16 kHz at the same level (±1 dB)', () => {
    const input = sine(1000, 8000, 8000, 10000);
    const output = inFrames(new Upsampler2x(), input, [160]);
    assert.equal(output.length, 16000);
    const settled = output.subarray(SETTLE_16K);
    assert.ok(Math.abs(zeroCrossingFrequency(settled, 16000) - 1000) < 5);
    assert.ok(Math.abs(rmsDb(settled) - rmsDb(input.subarray(SETTLE_8K))) < 1);
  });

  it('keeps the 7 kHz image of a 1 kHz tone more than 30 dB below the tone', () => {
    const output = inFrames(new Upsampler2x(), sine(1000, 8000, 8000, 10000), [160]).subarray(SETTLE_16K);
    const rejection = componentDb(output, 1000, 16000) - componentDb(output, 7000, 16000);
    assert.ok(rejection > 30, `image ${rejection.toFixed(1)} dB down`);
  });

  it('gives the same output whatever the frame sizes, as its state carries over', () => {
    const input = sine(1300, 8000, 2000, 12000);
    assert.deepEqual(inFrames(new Upsampler2x(), input, [7, 160, 1, 33]), inFrames(new Upsampler2x(), input, [2000]));
  });
});

describe('Downsampler2x', () => {
  it('writes one sample per input pair: 320 in, 160 out', () => {
    const out = new Int16Array(160);
    assert.equal(new Downsampler2x().process(sine(1000, 16000, 320, 1000), 320, out), 160);
  });

  it('turns a 1 kHz tone at 16 kHz into a 1 kHz tone at 8 kHz at the same level (±1 dB)', () => {
    const input = sine(1000, 16000, 16000, 10000);
    const output = inFrames(new Downsampler2x(), input, [320]);
    assert.equal(output.length, 8000);
    const settled = output.subarray(SETTLE_8K);
    assert.ok(Math.abs(zeroCrossingFrequency(settled, 8000) - 1000) < 5);
    assert.ok(Math.abs(rmsDb(settled) - rmsDb(input.subarray(SETTLE_16K))) < 1);
  });

  it('attenuates a 6 kHz tone, which would alias to 2 kHz, by more than 30 dB', () => {
    const input = sine(6000, 16000, 16000, 20000);
    const output = inFrames(new Downsampler2x(), input, [320]);
    const attenuation = rmsDb(input.subarray(SETTLE_16K)) - rmsDb(output.subarray(SETTLE_8K));
    assert.ok(attenuation > 30, `attenuation ${attenuation.toFixed(1)} dB`);
  });

  it('gives the same output whatever the frame sizes, odd ones splitting pairs included', () => {
    const input = sine(900, 16000, 4000, 12000);
    assert.deepEqual(inFrames(new Downsampler2x(), input, [1, 320, 5, 64]), inFrames(new Downsampler2x(), input, [4000]));
  });

  it('undoes the upsampler: 8 kHz speech-band audio comes back 15 samples late', () => {
    const input = new Int16Array(4000);
    for (let i = 0; i < input.length; i++) {
      const t = i / 8000;
      input[i] = Math.round(6000 * Math.sin(2 * Math.PI * 440 * t) + 3000 * Math.sin(2 * Math.PI * 2500 * t));
    }
    const roundTrip = inFrames(new Downsampler2x(), inFrames(new Upsampler2x(), input, [160]), [320]);
    let signal = 0;
    let error = 0;
    for (let i = SETTLE_8K; i < input.length - 15; i++) {
      signal += input[i] ** 2;
      error += (roundTrip[i + 15] - input[i]) ** 2;
    }
    const snr = 10 * Math.log10(signal / error);
    assert.ok(snr > 40, `SNR ${snr.toFixed(1)} dB`);
  });
});
