// G.711 against the ITU-T G.191 reference algorithm, G.722 against a vector from the spandsp
// reference implementation and by what it does to a tone, and the codec registry.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { CodecFactory } from '../../src/media/codecs/codec.js';
import {
  alawToLinear,
  linearToAlaw,
  linearToUlaw,
  PCMA,
  PCMU,
  ulawToLinear,
} from '../../src/media/codecs/g711.js';
import { G722 } from '../../src/media/codecs/g722.js';
import { AUDIO_CODECS, codecByName } from '../../src/media/codecs/registry.js';
import { sine } from '../support/pcm-signals.js';
import { zeroCrossingFrequency } from '../support/tone-measure.js';

/** Signal-to-noise ratio of `decoded` against `original`, in dB, at the lag where they match best. */
function alignedSnr(original: Int16Array, decoded: Int16Array, maxLag: number): number {
  let best = -Infinity;
  for (let lag = 0; lag <= maxLag; lag++) {
    let signal = 0;
    let noise = 0;
    for (let i = 0; i + lag < decoded.length; i++) {
      signal += original[i] ** 2;
      noise += (decoded[i + lag] - original[i]) ** 2;
    }
    best = Math.max(best, 10 * Math.log10(signal / noise));
  }
  return best;
}

function encodeFrames(codec: CodecFactory, pcm: Int16Array, frameSamples: number): Uint8Array {
  const encoder = codec.create();
  const payload = new Uint8Array(pcm.length);
  const frame = new Uint8Array(frameSamples);
  let length = 0;
  for (let start = 0; start < pcm.length; start += frameSamples) {
    const bytes = encoder.encode(pcm.subarray(start, start + frameSamples), frameSamples, frame);
    payload.set(frame.subarray(0, bytes), length);
    length += bytes;
  }
  return payload.subarray(0, length);
}

function decodeFrames(codec: CodecFactory, payload: Uint8Array, frameBytes: number): Int16Array {
  const decoder = codec.create();
  const pcm = new Int16Array(payload.length * 2);
  const frame = new Int16Array(frameBytes * 2);
  let length = 0;
  for (let start = 0; start < payload.length; start += frameBytes) {
    const samples = decoder.decode(payload.subarray(start, start + frameBytes), frameBytes, frame);
    pcm.set(frame.subarray(0, samples), length);
    length += samples;
  }
  return pcm.subarray(0, length);
}

// The ITU-T G.191 (STL) reference compressors, written the way the reference writes them: on the
// 14-bit (µ-law) and 12-bit (A-law) magnitudes, with the one's complement for negative samples.
function referenceUlaw(sample: number): number {
  const magnitude = Math.min((sample < 0 ? ~sample >> 2 : sample >> 2) + 33, 0x1fff);
  let segment = 1;
  for (let rest = magnitude >> 6; rest !== 0; rest >>= 1) segment++;
  const code = ((8 - segment) << 4) | (15 - ((magnitude >> segment) & 0x0f));
  return sample >= 0 ? code | 0x80 : code;
}

function referenceAlaw(sample: number): number {
  let code = sample < 0 ? ~sample >> 4 : sample >> 4;
  if (code > 15) {
    let exponent = 1;
    while (code > 31) {
      code >>= 1;
      exponent++;
    }
    code = code - 16 + (exponent << 4);
  }
  if (sample >= 0) code |= 0x80;
  return code ^ 0x55;
}

describe('G.711', () => {
  it('encodes every 16-bit sample as the ITU-T G.191 reference does', () => {
    for (let sample = -32768; sample <= 32767; sample++) {
      assert.equal(linearToUlaw(sample), referenceUlaw(sample), `µ-law of ${sample}`);
      assert.equal(linearToAlaw(sample), referenceAlaw(sample), `A-law of ${sample}`);
    }
  });

  it('decodes the end points of the G.711 tables', () => {
    assert.equal(ulawToLinear(0xff), 0);
    assert.equal(ulawToLinear(0x7f), 0);
    assert.equal(ulawToLinear(0x80), 32124);
    assert.equal(ulawToLinear(0x00), -32124);
    assert.equal(alawToLinear(0xd5), 8);
    assert.equal(alawToLinear(0x55), -8);
    assert.equal(alawToLinear(0xaa), 32256);
    assert.equal(alawToLinear(0x2a), -32256);
  });

  it('decodes each code word to a value that encodes back to it', () => {
    for (let code = 0; code < 256; code++) {
      // 0x7f is µ-law's negative zero, which shares its value with 0xff.
      if (code !== 0x7f) assert.equal(linearToUlaw(ulawToLinear(code)), code, `µ-law code ${code}`);
      assert.equal(linearToAlaw(alawToLinear(code)), code, `A-law code ${code}`);
    }
  });

  it('carries the RFC 3551 payload types and rates', () => {
    assert.deepEqual(
      [PCMU, PCMA].map((codec) => [codec.name, codec.staticPayloadType, codec.sampleRate, codec.clockRate]),
      [
        ['PCMU', 0, 8000, 8000],
        ['PCMA', 8, 8000, 8000],
      ],
    );
  });

  for (const codec of [PCMU, PCMA]) {
    it(`${codec.name} codes a 20 ms frame in 160 bytes and brings a tone back within 30 dB SNR`, () => {
      const input = sine(1000, 8000, 8000, 10000);
      const instance = codec.create();
      const payload = new Uint8Array(160);
      const output = new Int16Array(160);
      const decoded = new Int16Array(input.length);
      for (let start = 0; start < input.length; start += 160) {
        assert.equal(instance.encode(input.subarray(start), 160, payload), 160);
        assert.equal(instance.decode(payload, 160, output), 160);
        decoded.set(output, start);
      }
      assert.ok(alignedSnr(input, decoded, 0) > 30);
    });
  }
});

// White noise from a 31-bit linear congruential generator, so that both sub-bands work.
function noise(count: number): Int16Array {
  const samples = new Int16Array(count);
  let seed = 1;
  for (let i = 0; i < count; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    samples[i] = ((seed >> 16) & 0x7fff) - 16384;
  }
  return samples;
}

// What spandsp's g722_encode and g722_decode (64 kbit/s, 16 kHz, unpacked) give for noise(160).
const SPANDSP_PAYLOAD = Buffer.from(
  '18a484208a3a04201208048e322b2c2b179aac1fa5252bbc93b52dd1aa332610' +
    'ba96bc0fae13545336788813981d54cb3d1a772733e7349f8ae94e183abab67f' +
    'e2adcc94e6dc3a11cca7a96f5d93d63d',
  'hex',
);
const SPANDSP_DECODED = Int16Array.of(
  -1, 0, 0, -1, -1, 1, 0, -4, -1, 11, -2, -36, 6, 71, -2, -148, -23, 282, 150, -414, -259, 386, -149, -1371,
  -228, 2247, 2040, -984, -2581, -2757, -4257, -7723, -10156, -9565, -5041, 1418, 6094, 7041, 6569, 6135,
  8165, 9084, 6073, -1081, -5125, -4468, 608, 6617, 4094, -2048, 637, 10557, 15033, 12765, 10941, 7523, 6629,
  2562, -3822, -3697, -5770, 576, 2898, 6361, 4190, -8286, -6447, 11230, 9172, -1067, 5867, 10589, 13866,
  -12014, -7192, 4971, -3075, 56, -13319, 12999, -3348, -16420, -370, 13334, 1372, -9885, -871, -6093,
  -1436, -6513, -2953, -2552, 11962, -1919, -5703, -3520, -14536, -12992, 3836, 3401, -10262, -5703, 9346,
  -6035, -8077, -8076, -6721, -4735, 8348, -10134, 936, -2319, 7818, 4680, 15988, -7257, 10071, 13197,
  12273, -4201, 7002, 8847, -10907, -5979, -13993, 11751, 7904, -8596, -13205, -6390, 10296, -9479, 2838,
  4682, -5650, 11163, -5546, -585, 5114, 12879, 12640, 15475, -3154, -3330, -10712, -3075, -6830, 13944,
  8224, 1141, -6355, -2870, 9070, -10884, -3109, -11955, -6298, 11572, 4457, 16780,
);

/**
 * Four seconds that drive every adaptation limit of both sub-bands: noise stepping from -42 dB to
 * full scale every 64 ms with 1 kHz square bursts, then tones from an integer resonator (low,
 * 2.3 kHz, 4 kHz, 7.6 kHz), a full-scale square and a step. Integer arithmetic only, so the
 * reference got exactly these samples.
 */
function exercise(): Int16Array {
  const samples = new Int16Array(64000);
  let seed = 1;
  let i = 0;
  for (; i < 32000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    let value = (((seed >> 16) & 0x7fff) - 16384) >> (7 - ((i >> 10) & 7));
    if ((i >> 12) & 1) value = (value >> 1) + ((i >> 3) & 1 ? 12000 : -12000);
    samples[i] = value;
  }
  for (const [coefficient, start] of [
    [32700, 600],
    [20000, 6000],
    [0, 8000],
    [-32000, 1500],
  ]) {
    let previous = 0;
    let current = start;
    for (const end = i + 4000; i < end; i++) {
      const next = ((coefficient * current) >> 14) - previous;
      previous = current;
      current = next;
      samples[i] = Math.max(-32768, Math.min(32767, next));
    }
  }
  for (; i < 56000; i++) samples[i] = (i >> 6) & 1 ? 32767 : -32768;
  for (; i < 64000; i++) samples[i] = i < 60000 ? 0 : 24000;
  return samples;
}

const sha256 = (bytes: Uint8Array | Int16Array) =>
  createHash('sha256').update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).digest('hex');

describe('G.722', () => {
  it('carries payload type 9, 16 kHz audio and the 8 kHz RTP clock of RFC 3551', () => {
    assert.deepEqual([G722.name, G722.staticPayloadType, G722.sampleRate, G722.clockRate], ['G722', 9, 16000, 8000]);
    const instance = G722.create();
    assert.deepEqual([instance.name, instance.sampleRate, instance.clockRate], ['G722', 16000, 8000]);
  });

  it('produces the bit stream of the spandsp reference and decodes it to the same samples', () => {
    const payload = new Uint8Array(80);
    assert.equal(G722.create().encode(noise(160), 160, payload), 80);
    assert.deepEqual(Buffer.from(payload), SPANDSP_PAYLOAD);
    const decoded = new Int16Array(160);
    assert.equal(G722.create().decode(SPANDSP_PAYLOAD, 80, decoded), 160);
    assert.deepEqual(decoded, SPANDSP_DECODED);
  });

  it('matches the spandsp reference bit for bit over seconds of varied input', () => {
    const input = exercise();
    const payload = new Uint8Array(input.length / 2);
    G722.create().encode(input, input.length, payload);
    assert.equal(sha256(payload), '7127801892b9545e0186da373ccf631db41ac5afca4b75aa5cbb33791bf3be41');
    // Only the first two seconds: past them the output overloads, where this spandsp wraps round and we clip.
    const decoded = new Int16Array(32000);
    G722.create().decode(payload, 16000, decoded);
    assert.equal(sha256(decoded), 'f22e42ec7b1a0091286d09713a31f27e3d0b19896a1a5fa3fa23ee30e08992d3');
  });

  it('clips an overloaded output instead of wrapping round', () => {
    const square = new Int16Array(8000);
    for (let i = 0; i < square.length; i++) square[i] = (i >> 6) & 1 ? 32767 : -32768;
    const decoded = decodeFrames(G722, encodeFrames(G722, square, 320), 160);
    assert.ok(decoded.some((sample) => sample === 32767 || sample === -32768), 'the output overloads');
    // The codec delay is 22 samples; a wrapped sample would be some 65536 off the square's plateau.
    let worst = 0;
    for (let i = 1600; i + 22 < decoded.length; i++) worst = Math.max(worst, Math.abs(decoded[i + 22] - square[i]));
    assert.ok(worst < 49152, `worst error ${worst}`);
  });

  it('codes 10 ms (160 samples) in 80 bytes and decodes them back to 160 samples', () => {
    const instance = G722.create();
    const payload = new Uint8Array(80);
    const decoded = new Int16Array(160);
    assert.equal(instance.encode(sine(1000, 16000, 160, 8000), 160, payload), 80);
    assert.equal(instance.decode(payload, 80, decoded), 160);
  });

  it('brings a 1 kHz tone back at 1 kHz with more than 20 dB SNR after the codec delay', () => {
    const input = sine(1000, 16000, 16000, 12000);
    const decoded = decodeFrames(G722, encodeFrames(G722, input, 320), 160);
    assert.equal(decoded.length, input.length);
    // Skip the first 100 ms while the adaptive quantizers settle.
    const settled = decoded.subarray(1600);
    assert.ok(Math.abs(zeroCrossingFrequency(settled, 16000) - 1000) < 5);
    const snr = alignedSnr(input.subarray(1600), settled, 48);
    assert.ok(snr > 20, `SNR ${snr.toFixed(1)} dB`);
  });

  it('keeps silence near silence', () => {
    const decoded = decodeFrames(G722, encodeFrames(G722, new Int16Array(8000), 320), 160);
    const peak = decoded.reduce((max, sample) => Math.max(max, Math.abs(sample)), 0);
    assert.ok(peak <= 16, `peak ${peak}`);
  });

  it('keeps its adaptive state per instance', () => {
    const speech = sine(700, 16000, 3200, 9000);
    const alone = encodeFrames(G722, speech, 320);

    // A second leg coding something else in between must not change the first leg's stream.
    const first = G722.create();
    const second = G722.create();
    const other = noise(320);
    const interleaved = new Uint8Array(alone.length);
    const frame = new Uint8Array(160);
    for (let start = 0; start < speech.length; start += 320) {
      first.encode(speech.subarray(start, start + 320), 320, frame);
      interleaved.set(frame, start / 2);
      second.encode(other, 320, frame);
    }
    assert.deepEqual(interleaved, alone);
  });
});

describe('codec registry', () => {
  it('offers PCMU, PCMA and G722 in that order', () => {
    assert.deepEqual(
      AUDIO_CODECS.map((codec) => codec.name),
      ['PCMU', 'PCMA', 'G722'],
    );
  });

  it('finds codecs by SDP encoding name in any case', () => {
    assert.equal(codecByName('pcmu'), PCMU);
    assert.equal(codecByName('PCMA'), PCMA);
    assert.equal(codecByName('g722'), G722);
    assert.equal(codecByName('opus'), undefined);
  });
});
