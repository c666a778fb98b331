// Factor-2 sample rate conversion between the 8 kHz of G.711 and the 16 kHz of G.722, so legs of
// either kind can share one mixer. Both directions use the same 31-tap half-band low-pass: every
// other tap of a half-band filter is zero and the centre tap is 1/2, which halves the work.

/** Non-zero taps on each side of the centre; the filter has 4 * SIDE_TAPS - 1 taps. */
const SIDE_TAPS = 8;
/** Offset of the centre tap from the newest sample, in samples at 16 kHz. */
const CENTRE = 2 * SIDE_TAPS - 1;
/** Ring buffers are a power of two long so that wrapping is a mask. */
const HISTORY = 32;
const MASK = HISTORY - 1;

/**
 * SIDE[j] is the tap at distance 2j + 1 from the centre: a sinc cut off at a quarter of the 16 kHz
 * rate, under a Kaiser window (β = 6) that keeps the telephone band up to 3.4 kHz within 0.5 dB and
 * everything from 5 kHz up more than 60 dB down, scaled for unity gain at DC.
 */
const SIDE = designHalfBand();

function designHalfBand(): Float64Array {
  const beta = 6;
  const side = new Float64Array(SIDE_TAPS);
  let sum = 0;
  for (let j = 0; j < SIDE_TAPS; j++) {
    const distance = 2 * j + 1;
    const sinc = Math.sin((Math.PI * distance) / 2) / (Math.PI * distance);
    const position = distance / (CENTRE + 1);
    side[j] = (sinc * besselI0(beta * Math.sqrt(1 - position * position))) / besselI0(beta);
    sum += side[j];
  }
  // DC gain is 1/2 from the centre tap plus twice the side taps.
  for (let j = 0; j < SIDE_TAPS; j++) side[j] *= 0.25 / sum;
  return side;
}

/** Modified Bessel function of the first kind, order 0, by its power series. */
function besselI0(x: number): number {
  let term = 1;
  let sum = 1;
  for (let k = 1; term > 1e-12 * sum; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
  }
  return sum;
}

function toInt16(value: number): number {
  const rounded = Math.round(value);
  return rounded > 32767 ? 32767 : rounded < -32768 ? -32768 : rounded;
}

/** 8 kHz to 16 kHz: two output samples per input sample, 15 output samples of delay. */
export class Upsampler2x {
  private readonly history = new Float64Array(HISTORY);
  private newest = 0;

  /** Writes 2 * count samples to `out` and returns that number. */
  process(input: Int16Array, count: number, out: Int16Array): number {
    const history = this.history;
    let written = 0;
    for (let i = 0; i < count; i++) {
      const n = (this.newest + 1) & MASK;
      this.newest = n;
      history[n] = input[i];
      // Zero-stuffing doubles the rate and halves the level, hence the factor 2 on the taps.
      let even = 0;
      for (let j = 0; j < SIDE_TAPS; j++) {
        even += SIDE[j] * (history[(n - SIDE_TAPS + 1 + j) & MASK] + history[(n - SIDE_TAPS - j) & MASK]);
      }
      out[written++] = toInt16(2 * even);
      // The odd phase meets only the centre tap: a delayed copy of the input.
      out[written++] = history[(n - SIDE_TAPS + 1) & MASK];
    }
    return written;
  }
}

/** 16 kHz to 8 kHz: one output sample per two input samples, 7.5 output samples of delay. */
export class Downsampler2x {
  private readonly history = new Float64Array(HISTORY);
  private newest = 0;
  /** whether the next sample is the second of a pair, so calls may split pairs */
  private secondOfPair = false;

  /** Writes one sample for each input pair this call starts and returns how many. */
  process(input: Int16Array, count: number, out: Int16Array): number {
    const history = this.history;
    let written = 0;
    for (let i = 0; i < count; i++) {
      const n = (this.newest + 1) & MASK;
      this.newest = n;
      history[n] = input[i];
      // Output at the first of each pair, so that up then down is a whole 15 samples late, not 14.5.
      this.secondOfPair = !this.secondOfPair;
      if (!this.secondOfPair) continue;
      let sum = 0.5 * history[(n - CENTRE) & MASK];
      for (let j = 0; j < SIDE_TAPS; j++) {
        sum += SIDE[j] * (history[(n - CENTRE + 2 * j + 1) & MASK] + history[(n - CENTRE - 2 * j - 1) & MASK]);
      }
      out[written++] = toInt16(sum);
    }
    return written;
  }
}
