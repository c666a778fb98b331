// Country tone plans and the tone generators: every plan complete, frequencies and levels measured
// back from the PCM with a Goertzel filter, cadences checked sample by sample.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DTMF_HIGH_HZ,
  DTMF_KEYPAD,
  DTMF_LOW_HZ,
  dtmfFrequencies,
  DtmfToneGenerator,
  TONE_PLANS,
  ToneGenerator,
  tonePlan,
  type ToneName,
  type ToneSpec,
} from '../../src/media/tones.js';
import { toneLevel } from '../support/tone-measure.js';

const TONE_NAMES: ToneName[] = ['ringback', 'busy', 'congestion', 'beep', 'dial', 'waiting'];
const REQUIRED_COUNTRIES = ['us', 'uk', 'de', 'fr', 'it', 'es', 'nl', 'au', 'jp', 'cn', 'in', 'br'];
const RATES = [8000, 16000];

/** G.711's full-scale sine is +3.14 dBm0, which fixes where 0 dBm0 sits in 16-bit PCM. */
const toDbm0 = (peak: number) => 20 * Math.log10(peak / 32767) + 3.14;

/** Level in dBm0 of the `hz` component of pcm[start, start + length). */
const levelAt = (pcm: Int16Array, start: number, length: number, hz: number, rate: number): number =>
  toDbm0(toneLevel(pcm, start, length, hz, rate));

function rmsDbm0(pcm: Int16Array, start: number, length: number): number {
  let sum = 0;
  for (let n = start; n < start + length; n++) sum += pcm[n]! * pcm[n]!;
  return toDbm0(Math.sqrt((2 * sum) / length));
}

/** Runs a generator into one buffer through frames of `frame` samples, as a pacer would. */
function render(generator: { fill(out: Int16Array, count: number): number }, samples: number, frame = 77): Int16Array {
  const pcm = new Int16Array(samples);
  const buffer = new Int16Array(frame);
  for (let at = 0; at < samples; ) {
    const written = generator.fill(buffer, Math.min(frame, samples - at));
    if (written === 0) break;
    pcm.set(buffer.subarray(0, written), at);
    at += written;
  }
  return pcm;
}

const samplesOf = (ms: number, rate: number) => (ms * rate) / 1000;

describe('tone plans', () => {
  it('cover the countries asked for, each with every tone', () => {
    for (const country of REQUIRED_COUNTRIES) {
      const plan = TONE_PLANS[country];
      assert.ok(plan, country);
      assert.deepEqual(Object.keys(plan).sort(), [...TONE_NAMES].sort(), country);
    }
  });

  it('give every tone one or two audible whole frequencies and a cadence of on/off pairs', () => {
    for (const [country, plan] of Object.entries(TONE_PLANS)) {
      for (const name of TONE_NAMES) {
        const spec = plan[name];
        const where = `${country} ${name}`;
        assert.ok(spec.frequencies.length >= 1 && spec.frequencies.length <= 2, where);
        assert.ok(
          spec.frequencies.every((hz) => Number.isInteger(hz) && hz >= 300 && hz <= 3400),
          where,
        );
        assert.ok(
          spec.cadence.every((ms) => ms > 0),
          where,
        );
        if (name !== 'beep') {
          assert.equal(spec.repeat, true, where);
          assert.equal(spec.cadence.length % 2, 0, where);
        }
      }
    }
  });

  it('make the beep one short burst of about 1 kHz that does not repeat', () => {
    for (const [country, plan] of Object.entries(TONE_PLANS)) {
      const { frequencies, cadence, repeat } = plan.beep;
      assert.equal(repeat, false, country);
      assert.equal(cadence.length, 1, country);
      assert.ok(cadence[0]! >= 200 && cadence[0]! <= 250, country);
      assert.ok(frequencies.every((hz) => hz >= 800 && hz <= 1400), country);
    }
  });

  it('are found by country code in any case, with gb for uk', () => {
    assert.equal(tonePlan('US'), TONE_PLANS.us);
    assert.equal(tonePlan('de'), TONE_PLANS.de);
    assert.equal(tonePlan('gb'), TONE_PLANS.uk);
    assert.equal(tonePlan('GB'), TONE_PLANS.uk);
  });

  it('are undefined for unknown countries, including names every object has', () => {
    for (const country of ['xx', '', 'usa', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      assert.equal(tonePlan(country), undefined, country);
    }
  });
});

describe('ToneGenerator', () => {
  /** The on/off segments of a spec in samples, as [start, length, on]. */
  function segments(spec: ToneSpec, rate: number, cycles: number): [number, number, boolean][] {
    const out: [number, number, boolean][] = [];
    let start = 0;
    for (let cycle = 0; cycle < cycles; cycle++) {
      spec.cadence.forEach((ms, i) => {
        out.push([start, samplesOf(ms, rate), i % 2 === 0]);
        start += samplesOf(ms, rate);
      });
    }
    return out;
  }

  for (const rate of RATES) {
    it(`sounds each tone's frequencies at the level asked, and nothing else, at ${rate} Hz`, () => {
      for (const [country, plan] of Object.entries(TONE_PLANS)) {
        for (const name of TONE_NAMES) {
          const spec = plan[name];
          const burst = spec.cadence.length > 0 ? samplesOf(spec.cadence[0]!, rate) : rate;
          const pcm = render(new ToneGenerator(spec, rate, -16), burst);
          const where = `${country} ${name}`;
          for (const hz of spec.frequencies) {
            assert.ok(Math.abs(levelAt(pcm, 0, burst, hz, rate) + 16) < 0.5, `${where}: ${hz} Hz`);
          }
          const expectedTotal = -16 + 10 * Math.log10(spec.frequencies.length);
          assert.ok(Math.abs(rmsDbm0(pcm, 0, burst) - expectedTotal) < 0.3, `${where}: total power`);
        }
      }
    });

    it(`follows every cadence to the sample and keeps phase across frames at ${rate} Hz`, () => {
      for (const [country, plan] of Object.entries(TONE_PLANS)) {
        for (const name of TONE_NAMES) {
          const spec = plan[name];
          if (spec.cadence.length === 0 || !spec.repeat) continue;
          const parts = segments(spec, rate, 2);
          const [lastStart, lastLength] = parts[parts.length - 1]!;
          const pcm = render(new ToneGenerator(spec, rate, -10), lastStart + lastLength);
          const amplitude = 32767 * 10 ** ((-10 - 3.14) / 20);
          for (const [start, length, on] of parts) {
            for (let n = 0; n < length; n++) {
              const expected = on
                ? spec.frequencies.reduce((sum, hz) => sum + amplitude * Math.sin((2 * Math.PI * hz * n) / rate), 0)
                : 0;
              const got = pcm[start + n]!;
              if (Math.abs(got - expected) > 0.51) {
                assert.fail(`${country} ${name}: sample ${start + n} is ${got}, expected ${expected.toFixed(1)}`);
              }
            }
          }
        }
      }
    });
  }

  it('plays a continuous tone for as long as it is asked', () => {
    const generator = new ToneGenerator(TONE_PLANS.us!.dial, 8000);
    const frame = new Int16Array(160);
    const lastSecond = new Int16Array(8000);
    for (let n = 0; n < 500; n++) {
      assert.equal(generator.fill(frame, 160), 160);
      if (n >= 450) lastSecond.set(frame, (n - 450) * 160);
    }
    assert.ok(Math.abs(levelAt(lastSecond, 0, 8000, 350, 8000) + 13) < 0.1);
    assert.ok(Math.abs(levelAt(lastSecond, 0, 8000, 440, 8000) + 13) < 0.1);
  });

  it('ends the beep after its burst, and plays it again after reset()', () => {
    const generator = new ToneGenerator(TONE_PLANS.uk!.beep, 8000);
    const burst = samplesOf(TONE_PLANS.uk!.beep.cadence[0]!, 8000);
    const out = new Int16Array(3000);
    assert.equal(generator.fill(out, 3000), burst);
    const first = out.slice(0, burst);
    assert.equal(generator.fill(out, 160), 0);
    generator.reset();
    assert.equal(generator.fill(out, 3000), burst);
    assert.deepEqual(out.subarray(0, burst), first);
  });

  it('restarts the cadence on reset()', () => {
    const spec = TONE_PLANS.us!.busy;
    const generator = new ToneGenerator(spec, 8000);
    const fresh = render(generator, 1000);
    render(generator, 3333);
    generator.reset();
    assert.deepEqual(render(generator, 1000), fresh);
  });

  it('clips loud sums instead of wrapping round', () => {
    const pcm = render(new ToneGenerator(TONE_PLANS.us!.dial, 8000, 3), 8000);
    assert.equal(Math.max(...pcm), 32767);
    assert.equal(Math.min(...pcm), -32768);
    for (let n = 1; n < pcm.length; n++) assert.ok(Math.abs(pcm[n]! - pcm[n - 1]!) < 40000, `jump at ${n}`);
  });

  it('writes no more than the frame holds', () => {
    const out = new Int16Array(100);
    assert.equal(new ToneGenerator(TONE_PLANS.fr!.dial, 8000).fill(out, 160), 100);
    assert.equal(new DtmfToneGenerator('5', 100, 8000).fill(out, 160), 100);
  });

  it('refuses tones it cannot play', () => {
    const spec = (frequencies: number[], cadence: number[]): ToneSpec => ({ frequencies, cadence, repeat: true });
    assert.throws(() => new ToneGenerator(spec([], []), 8000), RangeError);
    assert.throws(() => new ToneGenerator(spec([4000], []), 8000), RangeError);
    assert.throws(() => new ToneGenerator(spec([440.5], []), 8000), RangeError);
    assert.throws(() => new ToneGenerator(spec([440], [500]), 8000), RangeError);
    assert.throws(() => new ToneGenerator(spec([440], [500, 0]), 8000), RangeError);
    assert.doesNotThrow(() => new ToneGenerator(spec([4000], []), 16000));
  });
});

describe('DTMF tones', () => {
  it('maps every key to its row and column frequencies, in any case', () => {
    DTMF_KEYPAD.forEach((keys, row) => {
      [...keys].forEach((key, column) => {
        assert.deepEqual(dtmfFrequencies(key), [DTMF_LOW_HZ[row], DTMF_HIGH_HZ[column]]);
        assert.deepEqual(dtmfFrequencies(key.toLowerCase()), dtmfFrequencies(key));
      });
    });
    for (const d of ['E', '', '12', ' ']) assert.equal(dtmfFrequencies(d), undefined);
  });

  for (const rate of RATES) {
    it(`sounds each key's two tones at their levels for exactly its duration at ${rate} Hz`, () => {
      for (const keys of DTMF_KEYPAD) {
        for (const key of keys) {
          const [low, high] = dtmfFrequencies(key)!;
          const generator = new DtmfToneGenerator(key, 70, rate, { lowDbm0: -9, highDbm0: -6 });
          const pcm = render(generator, rate);
          const length = samplesOf(70, rate);
          assert.ok(pcm[length - 1] !== 0 || pcm[length - 2] !== 0, `${key} sounds to the end`);
          assert.ok(pcm.subarray(length).every((s) => s === 0), `${key} stops after 70 ms`);
          assert.equal(generator.fill(new Int16Array(10), 10), 0);
          assert.ok(Math.abs(levelAt(pcm, 0, length, low, rate) + 9) < 0.5, `${key} low tone`);
          assert.ok(Math.abs(levelAt(pcm, 0, length, high, rate) + 6) < 0.5, `${key} high tone`);
          assert.ok(Math.abs(rmsDbm0(pcm, 0, length) - 10 * Math.log10(10 ** -0.9 + 10 ** -0.6)) < 0.2, `${key} total`);
        }
      }
    });
  }

  it('refuses keys and durations it cannot play', () => {
    assert.throws(() => new DtmfToneGenerator('E', 100, 8000), RangeError);
    assert.throws(() => new DtmfToneGenerator('1', 0, 8000), RangeError);
  });
});
