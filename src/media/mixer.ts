// A conference room: every participant hears the sum of everyone else. Mixing happens at 16 kHz so
// wideband (G.722) legs keep their quality; narrowband (G.711) legs are converted on the way in and out.
import { Downsampler2x, Upsampler2x } from './resample.js';

export type MixerSampleRate = 8000 | 16000;

/** Samples in one 20 ms frame at the 16 kHz mixing rate. */
const FRAME = 320;
// Playout of a participant starts once two frames are queued, so a frame up to 20 ms late still
// plays in order; three frames is the most one may queue, which bounds what a burst adds to latency.
const PREFILL = 2 * FRAME;
const CAPACITY = 3 * FRAME;
// Just below full scale, so the 8 kHz downsampler's ripple cannot push a limited peak over int16.
const CEILING = 29205;
// After a loud frame the gain recovers by 0.5 dB per frame (25 dB/s): quick, but without pumping.
const RELEASE_PER_FRAME = 10 ** (0.5 / 20);

/** What a participant hears in the last mixed frame, at its own sample rate. Reused every frame. */
export interface MixedFrame {
  readonly pcm: Int16Array;
  readonly count: number;
}

export interface MixerParticipant {
  readonly id: string;
  readonly sampleRate: MixerSampleRate;
  /** Queues decoded audio that arrived for this participant; ignored once it has left. */
  pushFrame(pcm: Int16Array, count: number): void;
  /** What this participant hears, as of the last mixFrame(). */
  output(): MixedFrame;
}

export class ConferenceMixer {
  private readonly byId = new Map<string, Participant>();
  // An array, not the map, is walked every frame: indexed loops allocate no iterator.
  private readonly participants: Participant[] = [];
  private readonly total = new Int32Array(FRAME);
  private readonly mixMinus = new Int32Array(FRAME);

  get size(): number {
    return this.participants.length;
  }

  addParticipant(id: string, sampleRate: MixerSampleRate): MixerParticipant {
    if (this.byId.has(id)) throw new Error(`participant ${id} is already in the conference`);
    const participant = new Participant(id, sampleRate);
    this.byId.set(id, participant);
    this.participants.push(participant);
    return participant;
  }

  /** Returns false if no participant has that id. */
  removeParticipant(id: string): boolean {
    const participant = this.byId.get(id);
    if (participant === undefined) return false;
    participant.leave();
    this.byId.delete(id);
    this.participants.splice(this.participants.indexOf(participant), 1);
    return true;
  }

  /** Mixes one 20 ms frame; call once per frame from the room's pacer. */
  mixFrame(): void {
    const { participants, total, mixMinus } = this;
    total.fill(0);
    for (let p = 0; p < participants.length; p++) {
      const contribution = participants[p].takeFrame();
      for (let i = 0; i < FRAME; i++) total[i] += contribution[i];
    }
    for (let p = 0; p < participants.length; p++) {
      const participant = participants[p];
      const own = participant.contribution;
      for (let i = 0; i < FRAME; i++) mixMinus[i] = total[i] - own[i];
      participant.hear(mixMinus);
    }
  }
}

class Participant implements MixerParticipant {
  /** This frame's audio from the participant, at 16 kHz. */
  readonly contribution = new Int16Array(FRAME);
  private readonly playout = new PlayoutBuffer();
  private readonly limiter = new Limiter();
  private readonly upsampler: Upsampler2x | undefined;
  private readonly downsampler: Downsampler2x | undefined;
  private readonly heard16k = new Int16Array(FRAME);
  private readonly frame: { pcm: Int16Array; count: number };
  // Upsampled input; grows only if a leg sends frames longer than 60 ms.
  private upsampled = new Int16Array(CAPACITY);
  private present = true;

  constructor(
    readonly id: string,
    readonly sampleRate: MixerSampleRate,
  ) {
    if (sampleRate === 8000) {
      this.upsampler = new Upsampler2x();
      this.downsampler = new Downsampler2x();
      this.frame = { pcm: new Int16Array(FRAME / 2), count: FRAME / 2 };
    } else {
      this.frame = { pcm: this.heard16k, count: FRAME };
    }
  }

  pushFrame(pcm: Int16Array, count: number): void {
    if (!this.present) return;
    if (this.upsampler === undefined) {
      this.playout.write(pcm, count);
      return;
    }
    if (this.upsampled.length < 2 * count) this.upsampled = new Int16Array(2 * count);
    this.playout.write(this.upsampled, this.upsampler.process(pcm, count, this.upsampled));
  }

  output(): MixedFrame {
    return this.frame;
  }

  leave(): void {
    this.present = false;
  }

  takeFrame(): Int16Array {
    this.playout.read(this.contribution);
    return this.contribution;
  }

  hear(mixMinus: Int32Array): void {
    this.limiter.apply(mixMinus, this.heard16k);
    if (this.downsampler !== undefined) this.downsampler.process(this.heard16k, FRAME, this.frame.pcm);
  }
}

/** A participant's jitter allowance: a ring of 16 kHz samples played out one frame per mix. */
class PlayoutBuffer {
  private readonly ring = new Int16Array(CAPACITY);
  private readIndex = 0;
  private buffered = 0;
  private playing = false;

  write(pcm: Int16Array, count: number): void {
    // Only the newest CAPACITY samples could ever be played; older ones are dropped to bound latency.
    const first = Math.max(0, count - CAPACITY);
    const overflow = this.buffered + (count - first) - CAPACITY;
    if (overflow > 0) {
      this.readIndex = (this.readIndex + overflow) % CAPACITY;
      this.buffered -= overflow;
    }
    let writeIndex = (this.readIndex + this.buffered) % CAPACITY;
    for (let i = first; i < count; i++) {
      this.ring[writeIndex] = pcm[i];
      writeIndex = writeIndex + 1 === CAPACITY ? 0 : writeIndex + 1;
    }
    this.buffered += count - first;
  }

  /** Fills `out` with the next frame; whatever has not arrived in time is silence. */
  read(out: Int16Array): void {
    if (!this.playing && this.buffered >= PREFILL) this.playing = true;
    const available = this.playing ? Math.min(this.buffered, FRAME) : 0;
    for (let i = 0; i < available; i++) {
      out[i] = this.ring[this.readIndex];
      this.readIndex = this.readIndex + 1 === CAPACITY ? 0 : this.readIndex + 1;
    }
    out.fill(0, available, FRAME);
    this.buffered -= available;
    // Ran dry: wait for the full allowance again rather than play every later frame in fragments.
    if (available < FRAME) this.playing = false;
  }
}

/**
 * Brings a 32-bit mix into int16 without wrapping: a frame whose peak would pass CEILING is scaled
 * down at once, and the gain then recovers gradually across later frames.
 */
class Limiter {
  private gain = 1;

  apply(mix: Int32Array, out: Int16Array): void {
    const count = out.length;
    let peak = 0;
    for (let i = 0; i < count; i++) {
      const magnitude = mix[i] < 0 ? -mix[i] : mix[i];
      if (magnitude > peak) peak = magnitude;
    }
    const safeGain = peak > CEILING ? CEILING / peak : 1;
    // Both ends stay at or below safeGain, so the ramp between them cannot overshoot either.
    const startGain = Math.min(this.gain, safeGain);
    const endGain = Math.min(safeGain, this.gain * RELEASE_PER_FRAME);
    this.gain = endGain;
    const step = (endGain - startGain) / count;
    for (let i = 0; i < count; i++) {
      const scaled = Math.round(mix[i] * (startGain + step * (i + 1)));
      out[i] = scaled > 32767 ? 32767 : scaled < -32768 ? -32768 : scaled;
    }
  }
}
