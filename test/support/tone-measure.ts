// Measurements of test audio: the level of one tone, peaks and RMS, frequency, and how much of a recording a tone is.
import assert from 'node:assert/strict';

/** Amplitude of one frequency in samples[start, start + length), by the Goertzel algorithm. */
export function toneLevel(samples: Int16Array, start: number, length: number, frequency: number, sampleRate: number): number {
  assert.ok(start + length <= samples.length, `window ends at ${start + length}, audio at ${samples.length}`);
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let previous = 0;
  let beforePrevious = 0;
  for (let i = start; i < start + length; i++) {
    const current = samples[i]! + coefficient * previous - beforePrevious;
    beforePrevious = previous;
    previous = current;
  }
  const power = previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious;
  return (2 * Math.sqrt(Math.max(0, power))) / length;
}

/** Whether `level` is within `db` decibels of `expected`, either way. */
export const withinDb = (level: number, expected: number, db: number): boolean =>
  Math.abs(20 * Math.log10(level / expected)) <= db;

/** The largest absolute sample. */
export const peak = (samples: Int16Array): number => samples.reduce((max, s) => Math.max(max, Math.abs(s)), 0);

/** Root mean square of the samples. */
export const rms = (samples: Int16Array): number =>
  Math.sqrt(samples.reduce((sum, s) => sum + s * s, 0) / samples.length);

/** Frequency from the count of sign changes: two per period. */
export function zeroCrossingFrequency(samples: Int16Array, sampleRate: number): number {
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i - 1]! < 0 !== samples[i]! < 0) crossings++;
  return (crossings / 2) * (sampleRate / (samples.length - 1));
}

/** Share of the signal's energy at `hz` (Goertzel over all of it) and its level in dBFS. */
export function toneContent(samples: Int16Array, hz: number, sampleRate = 8000): { share: number; dbfs: number } {
  const coeff = 2 * Math.cos((2 * Math.PI * hz) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (const x of samples) {
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += x * x;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  const toneEnergy = (2 * power) / samples.length;
  const rootMeanSquare = Math.sqrt(energy / Math.max(1, samples.length));
  return {
    share: energy === 0 ? 0 : toneEnergy / energy,
    dbfs: 20 * Math.log10(Math.max(rootMeanSquare, 1e-9) / 32768),
  };
}
