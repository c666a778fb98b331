// What joining two server-held calls costs in codec work (src/media/endpoint-link.ts: attended transfer,
// pickup, a parked call retrieved): each 20 ms frame is decoded on one leg and encoded on the other, both
// ways. Run: node dist/bench/endpoint-link.js — figures for docs/decisions/0008. Several runs, medians.
import { performance } from 'node:perf_hooks';
import { AUDIO_CODECS } from '../src/media/codecs/registry.js';
import { median } from './statistics.js';

const WARM_UP_FRAMES = 20_000;
const FRAMES = 200_000;
const RUNS = 5;
/** frames per second per direction, times two directions */
const FRAMES_PER_CALL_SECOND = 2 * 50;

for (const factory of AUDIO_CODECS) {
  const encoder = factory.create();
  const decoder = factory.create();
  const samples = factory.sampleRate / 50;
  const pcm = new Int16Array(samples).map((_, i) => Math.round(8000 * Math.sin(i / 5)));
  const payload = new Uint8Array(samples);
  const decoded = new Int16Array(samples);
  const frame = (): void => {
    decoder.decode(payload, encoder.encode(pcm, samples, payload), decoded);
  };
  for (let i = 0; i < WARM_UP_FRAMES; i++) frame();
  const perFrameUs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    for (let i = 0; i < FRAMES; i++) frame();
    perFrameUs.push(((performance.now() - start) * 1000) / FRAMES);
  }
  const us = median(perFrameUs);
  const coreShare = (us * FRAMES_PER_CALL_SECOND) / 1e6;
  console.log(`${factory.name}: decode+encode per 20 ms frame ${us.toFixed(2)} µs (median of ${RUNS}); per joined call ${(coreShare * 100).toFixed(4)} % of a core`);
}
