// What a caller of a service hears and says, measured: the shipped prompts in the order they must
// come, beeps, and how much of a recording is the tone the caller sent.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readWav } from '../../src/media/wav.js';
import { repoRoot } from './repo-root.js';
import type { RtpPeer } from './rtp-peer.js';
import { toneContent } from './tone-measure.js';

const SAMPLE_RATE = 8000;
const FRAME = SAMPLE_RATE / 50;
/** louder than this is sound, not line noise or silence */
const LOUD = 1000;

const loaded = new Map<string, Promise<Int16Array>>();

/** The samples of a shipped English prompt, e.g. prompt('goodbye'). */
export function prompt(name: string): Promise<Int16Array> {
  let samples = loaded.get(name);
  if (!samples) {
    samples = readFile(path.join(repoRoot, 'sounds', 'en', `${name}.wav`)).then((bytes) => readWav(bytes).samples);
    loaded.set(name, samples);
  }
  return samples;
}

/** Waits for the prompts in this order, each after the one before; resolves with where the last ended. */
export async function hearInOrder(rtp: RtpPeer, names: readonly string[], after = 0, timeoutMs = 15_000): Promise<number> {
  let at = after;
  for (const name of names) at = (await rtp.waitForSound(await prompt(name), `"${name}"`, { after: at, timeoutMs })).end;
  return at;
}

/** Whether `samples` hold at least one 20 ms frame of a clean `hz` tone (a beep, say). */
export function hasTone(samples: Int16Array, hz: number): boolean {
  for (let at = 0; at + FRAME <= samples.length; at += FRAME / 4) {
    const { share, dbfs } = toneContent(samples.subarray(at, at + FRAME), hz);
    if (share > 0.9 && dbfs > -30) return true;
  }
  return false;
}

/** The first and the last loud sample; both 0 for silence. */
export function loudSpan(samples: Int16Array): { first: number; last: number } {
  const loud = (s: number) => Math.abs(s) > LOUD;
  const first = samples.findIndex(loud);
  if (first < 0) return { first: 0, last: 0 };
  let last = samples.length - 1;
  while (!loud(samples[last]!)) last--;
  return { first, last };
}

/**
 * The share of the 20 ms frames between the first and the last loud sample that are the `hz` tone.
 * Frame by frame, because the server may drop a late packet (its playout allowance is 40 ms) and a
 * gap breaks the phase that one measurement over the whole of it relies on.
 */
export function toneFrames(samples: Int16Array, hz: number): number {
  const { first, last } = loudSpan(samples);
  let frames = 0;
  let tone = 0;
  for (let at = first; at + FRAME <= last; at += FRAME) {
    const { share, dbfs } = toneContent(samples.subarray(at, at + FRAME), hz);
    frames++;
    if (share > 0.9 && dbfs > -20) tone++;
  }
  return frames === 0 ? 0 : tone / frames;
}
