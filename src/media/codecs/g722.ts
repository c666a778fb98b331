// ITU-T G.722 at 64 kbit/s: a QMF splits 16 kHz audio into two 8 kHz sub-bands, the lower coded
// with 6-bit and the higher with 2-bit ADPCM; each code byte carries one sample pair. The
// arithmetic follows the Recommendation's 16-bit fixed-point blocks (named in the comments) so the
// bit stream interoperates with other implementations.

import type { CodecFactory, CodecInstance } from './codec.js';

// QMF coefficients (Table 11/G.722), the second half mirrored; their DC gain is 4096.
const QMF_FORWARD = Int32Array.of(3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11);
const QMF_REVERSE = Int32Array.of(-11, 53, -156, 362, -805, 3876, 951, -210, 32, 12, -11, 3);
const QMF_TAPS = 12;

// Lower sub-band quantizer decision levels (Table 6/G.722), scaled so that `level * det >> 12` compares with the error.
const LOW_DECISION_LEVELS = Int32Array.of(
  0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714,
  786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919,
);
// 6-bit code for the interval the error fell into, for negative and non-negative errors.
const LOW_CODE_NEGATIVE = Int32Array.of(
  0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
  18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 0,
);
const LOW_CODE_POSITIVE = Int32Array.of(
  0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
  46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 0,
);

// Inverse quantizer outputs (Tables 7 and 9/G.722) scaled by 8, indexed by code: 6-bit for the
// output signal, its 4-bit truncation for the predictor, 2-bit for the higher band.
const LOW_INVERSE_6BIT = Int32Array.of(
  -136, -136, -136, -136, -24808, -21904, -19008, -16704,
  -14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
  -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
  -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
  24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
  10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
  4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
  1688, 1360, 1040, 728, 432, 136, -432, -136,
);
const LOW_INVERSE_4BIT = Int32Array.of(
  0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
  20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
);
const HIGH_INVERSE_2BIT = Int32Array.of(-7408, -1616, 7408, 1616);

// Log-scale factor adaptation: the 4-bit (or 2-bit) code picks a magnitude class, the class a step.
const LOW_MAGNITUDE_CLASS = Int32Array.of(0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0);
const LOW_SCALE_STEP = Int32Array.of(-60, -30, 58, 172, 334, 538, 1198, 3042);
const HIGH_MAGNITUDE_CLASS = Int32Array.of(2, 1, 2, 1);
const HIGH_SCALE_STEP = Int32Array.of(0, -214, 798);
const LOW_LOG_SCALE_MAX = 18432;
const HIGH_LOG_SCALE_MAX = 22528;

/** Higher sub-band threshold between the inner and outer quantizer interval (QUANTH). */
const HIGH_DECISION_LEVEL = 564;
const HIGH_CODE_NEGATIVE = Int32Array.of(0, 1, 0);
const HIGH_CODE_POSITIVE = Int32Array.of(0, 3, 2);

// Inverse log table (Table 15/G.722): 2^(i/32) in Q11, for turning the log scale into a linear one.
const INVERSE_LOG = Int32Array.of(
  2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
  2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
);

function saturate16(value: number): number {
  return value > 32767 ? 32767 : value < -32768 ? -32768 : value;
}

function saturate15(value: number): number {
  return value > 16383 ? 16383 : value < -16384 ? -16384 : value;
}

function signsDiffer(a: number, b: number): boolean {
  return ((a ^ b) & 0x8000) !== 0;
}

/** Sum of history[(start + k) mod 12] * coefficients[k]: the oldest sample meets the first tap. */
function circularDot(history: Int32Array, coefficients: Int32Array, start: number): number {
  let sum = 0;
  for (let k = 0; k < QMF_TAPS; k++) {
    const index = start + k;
    sum += history[index < QMF_TAPS ? index : index - QMF_TAPS] * coefficients[k];
  }
  return sum;
}

/** ADPCM state of one sub-band; encoder and decoder keep identical copies by running the same updates. */
class SubBand {
  /** signal estimate: what the predictor expects next (SL / SH) */
  estimate = 0;
  /** zero-section part of the estimate (SZL / SZH) */
  private zeroEstimate = 0;
  /** last reconstructed signal (RLT1 / RHT1) */
  private reconstructed = 0;
  /** pole predictor coefficients (AL1, AL2) */
  private pole1 = 0;
  private pole2 = 0;
  /** partially reconstructed signal, this and the previous sample (PLT1, PLT2) */
  private partial1 = 0;
  private partial2 = 0;
  /** quantized differences, the newest first (DLT0..DLT6) */
  private readonly differences = new Int32Array(7);
  /** zero predictor coefficients (BL1..BL6) */
  private readonly zeros = new Int32Array(6);
  /** log of the quantizer scale factor (NBL / NBH) */
  private logScale = 0;
  /** linear quantizer scale factor (DETL / DETH) */
  scale: number;

  constructor(
    initialScale: number,
    private readonly logScaleMax: number,
    private readonly scaleShift: number,
  ) {
    this.scale = initialScale;
  }

  /** LOGSCL/LOGSCH then SCALEL/SCALEH: leaky log-domain adaptation, then back to linear. */
  adaptScale(step: number): void {
    let log = ((this.logScale * 127) >> 7) + step;
    if (log < 0) log = 0;
    else if (log > this.logScaleMax) log = this.logScaleMax;
    this.logScale = log;
    const mantissa = INVERSE_LOG[(log >> 6) & 31];
    const shift = this.scaleShift - (log >> 11);
    const linear = shift < 0 ? mantissa << -shift : mantissa >> shift;
    // at most 4008 << 3 = 32064, so it stays a 16-bit value
    this.scale = linear << 2;
  }

  /** Block 4: updates both predictors with the quantized difference and forms the next estimate. */
  predict(difference: number): void {
    const reconstructed = saturate16(this.estimate + difference);
    const partial = saturate16(this.zeroEstimate + difference);

    // UPPOL2
    const scaledPole1 = saturate16(this.pole1 << 2);
    let gradient = signsDiffer(partial, this.partial1) ? scaledPole1 : -scaledPole1;
    if (gradient > 32767) gradient = 32767;
    let pole2 =
      (signsDiffer(partial, this.partial2) ? -128 : 128) + (gradient >> 7) + ((this.pole2 * 32512) >> 15);
    if (pole2 > 12288) pole2 = 12288;
    else if (pole2 < -12288) pole2 = -12288;

    // UPPOL1, limited so the pole pair stays stable
    let pole1 = saturate16((signsDiffer(partial, this.partial1) ? -192 : 192) + ((this.pole1 * 32640) >> 15));
    const pole1Limit = saturate16(15360 - pole2);
    if (pole1 > pole1Limit) pole1 = pole1Limit;
    else if (pole1 < -pole1Limit) pole1 = -pole1Limit;

    // FILTEP
    const poleEstimate = saturate16(
      ((pole1 * saturate16(reconstructed + reconstructed)) >> 15) +
        ((pole2 * saturate16(this.reconstructed + this.reconstructed)) >> 15),
    );
    this.reconstructed = reconstructed;
    this.pole1 = pole1;
    this.pole2 = pole2;
    this.partial2 = this.partial1;
    this.partial1 = partial;

    // UPZERO, DELAYA and FILTEZ in one pass from the oldest difference down
    const differences = this.differences;
    const zeros = this.zeros;
    const gain = difference === 0 ? 0 : 128;
    differences[0] = difference;
    let zeroEstimate = 0;
    for (let i = 5; i >= 0; i--) {
      const step = signsDiffer(differences[i + 1], difference) ? -gain : gain;
      zeros[i] = saturate16(step + ((zeros[i] * 32640) >> 15));
      zeroEstimate += (zeros[i] * saturate16(differences[i] + differences[i])) >> 15;
      differences[i + 1] = differences[i];
    }
    this.zeroEstimate = saturate16(zeroEstimate);

    // PREDIC
    this.estimate = saturate16(poleEstimate + this.zeroEstimate);
  }
}

/** Reads a 16-bit two's-complement value from the low bits of a 32-bit integer. */
function int16(value: number): number {
  return (value << 16) >> 16;
}

class G722Instance implements CodecInstance {
  readonly name = 'G722';
  readonly sampleRate = 16000;
  readonly clockRate = 8000;

  private readonly encodeLow = new SubBand(32, LOW_LOG_SCALE_MAX, 8);
  private readonly encodeHigh = new SubBand(8, HIGH_LOG_SCALE_MAX, 10);
  private readonly decodeLow = new SubBand(32, LOW_LOG_SCALE_MAX, 8);
  private readonly decodeHigh = new SubBand(8, HIGH_LOG_SCALE_MAX, 10);
  // QMF delay lines: the first and second sample of each input pair; the sum and difference of the sub-bands
  private readonly analysisFirst = new Int32Array(QMF_TAPS);
  private readonly analysisSecond = new Int32Array(QMF_TAPS);
  private analysisPosition = 0;
  private readonly synthesisSum = new Int32Array(QMF_TAPS);
  private readonly synthesisDifference = new Int32Array(QMF_TAPS);
  private synthesisPosition = 0;

  /** Codes sample pairs; an odd last sample is dropped, as one byte always holds a pair. */
  encode(pcm: Int16Array, count: number, out: Uint8Array): number {
    const low = this.encodeLow;
    const high = this.encodeHigh;
    const pairs = count >> 1;
    for (let n = 0; n < pairs; n++) {
      // Transmit QMF: >> 14 removes the filters' gain of 4096, the sum of two filters and the 16th bit.
      const position = this.analysisPosition;
      this.analysisFirst[position] = pcm[2 * n];
      this.analysisSecond[position] = pcm[2 * n + 1];
      this.analysisPosition = position + 1 === QMF_TAPS ? 0 : position + 1;
      const forwardSum = circularDot(this.analysisFirst, QMF_FORWARD, this.analysisPosition);
      const reverseSum = circularDot(this.analysisSecond, QMF_REVERSE, this.analysisPosition);
      const lowInput = int16((reverseSum + forwardSum) >> 14);
      const highInput = int16((reverseSum - forwardSum) >> 14);

      // Lower band: QUANTL, INVQAL, then adaptation
      const lowError = saturate16(lowInput - low.estimate);
      const lowMagnitude = lowError >= 0 ? lowError : ~lowError;
      let interval = 1;
      while (interval < 30 && lowMagnitude >= (LOW_DECISION_LEVELS[interval] * low.scale) >> 12) interval++;
      const lowCode = lowError < 0 ? LOW_CODE_NEGATIVE[interval] : LOW_CODE_POSITIVE[interval];
      const lowCode4 = lowCode >> 2;
      const lowDifference = int16((low.scale * LOW_INVERSE_4BIT[lowCode4]) >> 15);
      low.adaptScale(LOW_SCALE_STEP[LOW_MAGNITUDE_CLASS[lowCode4]]);
      low.predict(lowDifference);

      // Higher band: QUANTH, INVQAH, then adaptation
      const highError = saturate16(highInput - high.estimate);
      const highMagnitude = highError >= 0 ? highError : ~highError;
      const outer = highMagnitude >= (HIGH_DECISION_LEVEL * high.scale) >> 12 ? 2 : 1;
      const highCode = highError < 0 ? HIGH_CODE_NEGATIVE[outer] : HIGH_CODE_POSITIVE[outer];
      const highDifference = int16((high.scale * HIGH_INVERSE_2BIT[highCode]) >> 15);
      high.adaptScale(HIGH_SCALE_STEP[HIGH_MAGNITUDE_CLASS[highCode]]);
      high.predict(highDifference);

      out[n] = (highCode << 6) | lowCode;
    }
    return pairs;
  }

  decode(payload: Uint8Array, length: number, out: Int16Array): number {
    const low = this.decodeLow;
    const high = this.decodeHigh;
    for (let n = 0; n < length; n++) {
      const code = payload[n];
      const lowCode = code & 0x3f;
      const highCode = code >> 6;

      // Lower band: the 6-bit code rebuilds the output, its 4-bit truncation drives the predictor.
      const lowOutput = saturate15(low.estimate + ((low.scale * LOW_INVERSE_6BIT[lowCode]) >> 15));
      const lowCode4 = lowCode >> 2;
      const lowDifference = int16((low.scale * LOW_INVERSE_4BIT[lowCode4]) >> 15);
      low.adaptScale(LOW_SCALE_STEP[LOW_MAGNITUDE_CLASS[lowCode4]]);
      low.predict(lowDifference);

      const highDifference = int16((high.scale * HIGH_INVERSE_2BIT[highCode]) >> 15);
      const highOutput = saturate15(highDifference + high.estimate);
      high.adaptScale(HIGH_SCALE_STEP[HIGH_MAGNITUDE_CLASS[highCode]]);
      high.predict(highDifference);

      // Receive QMF: >> 11 removes the filters' gain of 4096 less the bit the codec dropped on input.
      const position = this.synthesisPosition;
      this.synthesisSum[position] = saturate16(lowOutput + highOutput);
      this.synthesisDifference[position] = saturate16(lowOutput - highOutput);
      this.synthesisPosition = position + 1 === QMF_TAPS ? 0 : position + 1;
      out[2 * n] = saturate16(circularDot(this.synthesisDifference, QMF_REVERSE, this.synthesisPosition) >> 11);
      out[2 * n + 1] = saturate16(circularDot(this.synthesisSum, QMF_FORWARD, this.synthesisPosition) >> 11);
    }
    return 2 * length;
  }
}

export const G722: CodecFactory = {
  name: 'G722',
  staticPayloadType: 9,
  sampleRate: 16000,
  clockRate: 8000,
  create: () => new G722Instance(),
};
