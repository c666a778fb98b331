// A conference room on the server: every party hears the sum of the others, plus a short cue when
// someone joins or leaves. While a party is in the room, the room alone decides what its endpoint sends.
import type { Clock } from '../../transaction/clock.js';
import { FramePacer } from '../frame-pacer.js';
import { ConferenceMixer, type MixerParticipant } from '../mixer.js';
import { TONE_PLANS, ToneGenerator, type TonePlan, type ToneSpec } from '../tones.js';

/** The side of a call's media endpoint that a room uses. */
export interface ConferenceEndpoint {
  /** 8000 or 16000 */
  readonly sampleRate: number;
  /** Each received, decoded 20 ms frame; the buffer is reused, so a listener copies what it keeps. */
  onAudio: ((pcm: Int16Array, count: number) => void) | undefined;
  /** Encodes and sends one frame now. */
  sendFrame(pcm: Int16Array, count: number): void;
  stopPlayback(): void;
}

export interface ConferenceRoomOptions {
  /** Joins beyond this many parties are refused; 50 unless set. */
  maxParties?: number;
  /** The join and leave cues are built from this plan's beep; the US plan unless set. */
  tonePlan?: TonePlan;
  /** The last party has left. close() does not call it: whoever closes the room knows already. */
  onEmpty?: () => void;
  /** Whether joins and leaves are announced with the cues; true unless set. */
  cues?: boolean;
}

const FRAME_MS = 20;
/** The mixer's rate: cues are rendered at it so they reach wideband parties at full quality. */
const MIX_RATE = 16000;
const FRAME = (MIX_RATE * FRAME_MS) / 1000;
const DEFAULT_MAX_PARTIES = 50;
/** The cues play over conversation, so a little below call-progress level (-13 dBm0). */
const CUE_LEVEL_DBM0 = -16;
/** 4 ms fades at each end of a note keep the step from one note to the next from clicking. */
const RAMP_SAMPLES = (MIX_RATE * 4) / 1000;
/** The mixer id the cues play under; no party may take it. */
const CUE_ID = '\u0000cues';

interface Party {
  readonly id: string;
  readonly endpoint: ConferenceEndpoint;
  readonly participant: MixerParticipant;
  /** The handler the room installed, so leaving removes only its own. */
  readonly onAudio: (pcm: Int16Array, count: number) => void;
}

export class ConferenceRoom {
  private readonly mixer = new ConferenceMixer();
  private readonly pacer: FramePacer;
  private readonly byId = new Map<string, Party>();
  // Walked every frame: an indexed array allocates no iterator.
  private readonly members: Party[] = [];
  private readonly maxParties: number;
  private readonly cues: Cues;
  private readonly onEmpty: (() => void) | undefined;
  private readonly announces: boolean;
  // Cues enter the mix as one more participant, so everyone hears them through their own limiter
  // and 8 kHz parties get them resampled like any voice.
  private cuePlayer: MixerParticipant;
  private cue: readonly Int16Array[] | undefined;
  private cueFrame = 0;
  private isClosed = false;

  constructor(
    readonly name: string,
    clock: Clock,
    options: ConferenceRoomOptions = {},
  ) {
    const maxParties = options.maxParties ?? DEFAULT_MAX_PARTIES;
    if (!Number.isInteger(maxParties) || maxParties < 1) {
      throw new RangeError(`a room holds a whole number of parties, at least 1, not ${maxParties}`);
    }
    this.maxParties = maxParties;
    this.cues = cuesFor((options.tonePlan ?? TONE_PLANS.us).beep);
    this.onEmpty = options.onEmpty;
    this.announces = options.cues ?? true;
    this.pacer = new FramePacer(clock, FRAME_MS, this.mixAndSend);
    this.cuePlayer = this.mixer.addParticipant(CUE_ID, MIX_RATE);
  }

  get size(): number {
    return this.members.length;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Ids of the parties, in the order they joined. */
  parties(): string[] {
    return this.members.map((party) => party.id);
  }

  /**
   * Puts `endpoint` in the room as `id`; false if the room is full. Playback still running on the
   * endpoint (a greeting) is stopped, as from now on the room sends its audio. Everyone, the newcomer
   * included, hears the join cue, which tells the newcomer the others can hear them; a party joining
   * an empty room hears nothing, as there is nobody to announce.
   */
  join(id: string, endpoint: ConferenceEndpoint): boolean {
    if (this.isClosed) throw new Error(`conference room ${this.name} is closed`);
    if (id === CUE_ID) throw new Error('that id is reserved for the room itself');
    if (this.byId.has(id)) throw new Error(`${id} is already in conference room ${this.name}`);
    const sampleRate = endpoint.sampleRate;
    if (sampleRate !== 8000 && sampleRate !== 16000) {
      throw new RangeError(`a conference party speaks at 8000 or 16000 Hz, not ${sampleRate}`);
    }
    if (this.members.length >= this.maxParties) return false;

    endpoint.stopPlayback();
    const participant = this.mixer.addParticipant(id, sampleRate);
    const onAudio = (pcm: Int16Array, count: number): void => participant.pushFrame(pcm, count);
    endpoint.onAudio = onAudio;
    const party: Party = { id, endpoint, participant, onAudio };
    this.byId.set(id, party);
    this.members.push(party);
    if (this.members.length > 1) this.playCue(this.cues.join);
    this.pacer.start();
    return true;
  }

  /** The others hear the leave cue. An id not in the room is ignored, so leaving twice is harmless. */
  leave(id: string): void {
    const party = this.byId.get(id);
    if (party === undefined) return;
    this.remove(party);
    if (this.members.length > 0) {
      this.playCue(this.cues.leave);
      return;
    }
    this.stopMixing();
    this.onEmpty?.();
  }

  /** Lets every party go without cues and stops the room for good: later joins throw. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    while (this.members.length > 0) this.remove(this.members[this.members.length - 1]);
    this.stopMixing();
  }

  private readonly mixAndSend = (): void => {
    const cue = this.cue;
    if (cue !== undefined) {
      this.cuePlayer.pushFrame(cue[this.cueFrame], FRAME);
      if (++this.cueFrame === cue.length) this.cue = undefined;
    }
    this.mixer.mixFrame();
    const members = this.members;
    for (let i = 0; i < members.length; i++) {
      const heard = members[i].participant.output();
      members[i].endpoint.sendFrame(heard.pcm, heard.count);
    }
  };

  /** A cue replaces one still playing: the room announces only its latest change. */
  private playCue(cue: readonly Int16Array[]): void {
    if (!this.announces) return;
    this.cue = cue;
    this.cueFrame = 0;
  }

  private remove(party: Party): void {
    this.byId.delete(party.id);
    this.members.splice(this.members.indexOf(party), 1);
    this.mixer.removeParticipant(party.id);
    // The endpoint's owner may already have installed its next listener; that one stays.
    if (party.endpoint.onAudio === party.onAudio) party.endpoint.onAudio = undefined;
  }

  /** Stops the pacer and drops any cue audio still queued, so whoever joins next starts in silence. */
  private stopMixing(): void {
    this.pacer.stop();
    this.cue = undefined;
    this.mixer.removeParticipant(CUE_ID);
    this.cuePlayer = this.mixer.addParticipant(CUE_ID, MIX_RATE);
  }
}

/** Both cues as whole 20 ms frames at the mixing rate, ready to push into the mix without copying. */
interface Cues {
  readonly join: readonly Int16Array[];
  readonly leave: readonly Int16Array[];
}

// Rooms of one tone plan share its cues, which never change once rendered.
const renderedCues = new WeakMap<ToneSpec, Cues>();

/**
 * Two notes, each half as long as the beep: the join cue rises from a fifth below the beep to the
 * beep itself, the leave cue falls back down.
 */
function cuesFor(beep: ToneSpec): Cues {
  let cues = renderedCues.get(beep);
  if (cues === undefined) {
    const high = beep.frequencies;
    const low = high.map((hz) => Math.max(1, Math.round((hz * 2) / 3)));
    const beepMs = beep.cadence.length > 0 ? beep.cadence[0] : 250;
    const noteSamples = Math.round((beepMs * MIX_RATE) / 2000);
    cues = { join: renderCue(low, high, noteSamples), leave: renderCue(high, low, noteSamples) };
    renderedCues.set(beep, cues);
  }
  return cues;
}

function renderCue(first: readonly number[], second: readonly number[], noteSamples: number): Int16Array[] {
  const frames = Math.ceil((2 * noteSamples) / FRAME);
  const pcm = new Int16Array(frames * FRAME);
  renderNote(first, pcm.subarray(0, noteSamples));
  renderNote(second, pcm.subarray(noteSamples, 2 * noteSamples));
  return Array.from({ length: frames }, (_, n) => pcm.subarray(n * FRAME, (n + 1) * FRAME));
}

function renderNote(frequencies: readonly number[], out: Int16Array): void {
  const spec: ToneSpec = { frequencies, cadence: [], repeat: true };
  new ToneGenerator(spec, MIX_RATE, CUE_LEVEL_DBM0).fill(out, out.length);
  const ramp = Math.min(RAMP_SAMPLES, out.length >> 1);
  for (let i = 0; i < ramp; i++) {
    const gain = (i + 1) / (ramp + 1);
    const end = out.length - 1 - i;
    out[i] = Math.round(out[i] * gain);
    out[end] = Math.round(out[end] * gain);
  }
}
