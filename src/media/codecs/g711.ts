// ITU-T G.711 µ-law (PCMU) and A-law (PCMA). Every sample costs one table lookup: the tables cover
// all 256 code words and all 65536 linear values, and are built once when the module loads.

import type { CodecFactory, CodecInstance } from './codec.js';

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

function computeUlaw(sample: number): number {
  // Negative samples use the one's complement, as the ITU-T G.191 reference does, so -1 codes like 0.
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = sample < 0 ? ~sample : sample;
  if (magnitude > ULAW_CLIP) magnitude = ULAW_CLIP;
  magnitude += ULAW_BIAS;
  // The segment is the position of the highest set bit above the 8 the bias guarantees.
  let segment = 7;
  while (segment > 0 && (magnitude & (0x4000 >> (7 - segment))) === 0) segment--;
  const mantissa = (magnitude >> (segment + 3)) & 0x0f;
  // µ-law sends every bit inverted so that silence is mostly ones on the line.
  return ~(sign | (segment << 4) | mantissa) & 0xff;
}

function computeUlawLinear(code: number): number {
  const inverted = ~code & 0xff;
  const magnitude = ((((inverted & 0x0f) << 3) + ULAW_BIAS) << ((inverted & 0x70) >> 4)) - ULAW_BIAS;
  return inverted & 0x80 ? -magnitude : magnitude;
}

function computeAlaw(sample: number): number {
  // A-law works on 13 bits; negative values fold onto one's complement so that -1 and 0 share a step.
  let value = sample >> 3;
  let mask: number;
  if (value >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    value = -value - 1;
  }
  let segment = 0;
  while (segment < 8 && value >= 0x20 << segment) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  const mantissa = segment < 2 ? (value >> 1) & 0x0f : (value >> segment) & 0x0f;
  return ((segment << 4) | mantissa) ^ mask;
}

function computeAlawLinear(code: number): number {
  // Even bits are inverted on the line (0x55) to keep idle channels toggling.
  const toggled = code ^ 0x55;
  const segment = (toggled & 0x70) >> 4;
  let magnitude = ((toggled & 0x0f) << 4) + 8;
  if (segment >= 1) magnitude = (magnitude + 0x100) << (segment - 1);
  return toggled & 0x80 ? magnitude : -magnitude;
}

function decodeTable(decodeOne: (code: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) table[code] = decodeOne(code);
  return table;
}

/** Indexed by the sample's 16 bits read as unsigned (`sample & 0xffff`). */
function encodeTable(encodeOne: (sample: number) => number): Uint8Array {
  const table = new Uint8Array(65536);
  for (let bits = 0; bits < 65536; bits++) table[bits] = encodeOne((bits << 16) >> 16);
  return table;
}

const ULAW_TO_LINEAR = decodeTable(computeUlawLinear);
const ALAW_TO_LINEAR = decodeTable(computeAlawLinear);
const LINEAR_TO_ULAW = encodeTable(computeUlaw);
const LINEAR_TO_ALAW = encodeTable(computeAlaw);

/** µ-law code word for a 16-bit linear sample. */
export function linearToUlaw(sample: number): number {
  return LINEAR_TO_ULAW[sample & 0xffff];
}

/** 16-bit linear sample for a µ-law code word. */
export function ulawToLinear(byte: number): number {
  return ULAW_TO_LINEAR[byte & 0xff];
}

/** A-law code word for a 16-bit linear sample. */
export function linearToAlaw(sample: number): number {
  return LINEAR_TO_ALAW[sample & 0xffff];
}

/** 16-bit linear sample for an A-law code word. */
export function alawToLinear(byte: number): number {
  return ALAW_TO_LINEAR[byte & 0xff];
}

/** G.711 keeps no state between samples, so one instance can serve every leg. */
function g711Factory(name: string, staticPayloadType: number, toCode: Uint8Array, toLinear: Int16Array): CodecFactory {
  const instance: CodecInstance = {
    name,
    sampleRate: 8000,
    clockRate: 8000,
    encode(pcm, count, out) {
      for (let i = 0; i < count; i++) out[i] = toCode[pcm[i] & 0xffff];
      return count;
    },
    decode(payload, length, out) {
      for (let i = 0; i < length; i++) out[i] = toLinear[payload[i]];
      return length;
    },
  };
  return { name, staticPayloadType, sampleRate: 8000, clockRate: 8000, create: () => instance };
}

export const PCMU: CodecFactory = g711Factory('PCMU', 0, LINEAR_TO_ULAW, ULAW_TO_LINEAR);
export const PCMA: CodecFactory = g711Factory('PCMA', 8, LINEAR_TO_ALAW, ALAW_TO_LINEAR);
