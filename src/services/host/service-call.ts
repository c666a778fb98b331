// One call as a Lua service drives it: the operations behind `call:answer()`, `call:play(...)`,
// `call:collect{...}` and the rest (docs/lua-api.md). Every wait ends early when the caller hangs up,
// so a script never hangs on a call that is gone.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DialOutcome } from '../../call/call.js';
import type { LocalCallHandle, ParkOutcome, ServiceContext } from '../../call/local-call.js';
import type { MediaEndpoint, RecordResult } from '../../media/endpoint/media-endpoint.js';
import type { DecodedSound } from '../../media/sound-library.js';
import type { Clock } from '../../transaction/clock.js';

export class CallEndedError extends Error {
  constructor() {
    super('the call has ended');
  }
}

export interface CollectOptions {
  /** digits wanted; input ends when this many arrived */
  max: number;
  /** seconds to wait for the first digit */
  firstTimeoutSeconds: number;
  /** seconds to wait between digits */
  timeoutSeconds: number;
  /** a key that ends the input early and is not part of it; empty: none */
  terminator: string;
  /** prompts played while waiting for the first digit; a key press stops them */
  prompts: string[];
}

export interface RecordingRequest {
  maxSeconds: number;
  beep: boolean;
  stopDigits: string;
  silenceSeconds: number | undefined;
}

export interface ServiceRecording {
  /** relative to the data directory */
  file: string;
  seconds: number;
  stoppedBy: RecordResult['stoppedBy'] | 'hangup';
  digit: string | null;
}

const TONES = ['ringback', 'busy', 'congestion', 'beep'] as const;
export type ToneName = (typeof TONES)[number];

export function isToneName(name: string): name is ToneName {
  return (TONES as readonly string[]).includes(name);
}

/** Where recordings wait until a service keeps them (voicemail.save) or they are cleaned up. */
export const PENDING_RECORDINGS_DIR = path.join('recordings', 'pending');

export class ServiceCall {
  private endpoint: MediaEndpoint | undefined;
  private answering: Promise<MediaEndpoint> | undefined;
  /** keys pressed and not yet read by collect() or play() */
  private readonly typedAhead: string[] = [];
  private digitWaiter: (() => void) | undefined;
  private routedTo: string | undefined;

  constructor(
    readonly call: LocalCallHandle,
    private readonly services: ServiceContext,
    private readonly clock: Clock,
    /** hands an unanswered call on to the routing of another number */
    private readonly route: (call: LocalCallHandle, number: string) => void,
  ) {
    void call.ended.then(() => this.wakeDigitWaiter());
  }

  get ended(): boolean {
    return this.call.isEnded;
  }

  /** The caller is still there and still this service's (not routed on). */
  get up(): boolean {
    return !this.call.isEnded && this.routedTo === undefined;
  }

  get answered(): boolean {
    return this.call.answered;
  }

  /** 180 Ringing while the call is not answered yet. */
  ringing(): void {
    this.usable();
    if (!this.answered) this.call.ringing();
  }

  /** 181 Call Is Being Forwarded, so the caller's phone can show it. */
  forwarding(): void {
    this.usable();
    if (!this.answered) this.call.progress(181, 'Call Is Being Forwarded');
  }

  /**
   * Rings the phones of `targets` (extension numbers) until one answers or `timeoutSeconds` (default:
   * the server's ring time) pass. Before the answer the caller hears the phones' own ringing; after it,
   * the server's ringback tone.
   */
  async dial(targets: readonly string[], timeoutSeconds: number | undefined): Promise<DialOutcome> {
    this.usable();
    if (this.endpoint && !this.answered) throw new Error('dial: answer the call first (it has early media)');
    return this.call.dial(targets, timeoutSeconds ?? this.services.ringSeconds(), { ringback: this.services.tonePlan().ringback });
  }

  async answer(): Promise<void> {
    await this.media();
    if (!this.call.answered) await this.call.answer();
  }

  /** Audio before the answer: prompts and tones play, the call can still be rejected. */
  async earlyMedia(): Promise<void> {
    this.usable();
    if (this.endpoint) return;
    this.answering ??= this.call.earlyMedia().then((endpoint) => this.adopt(endpoint));
    await this.answering;
  }

  /** Refuses the call with `status`; an answered call (routed here from a menu, say) is hung up instead. */
  reject(status: number, reason: string | undefined): void {
    this.usable();
    if (!Number.isInteger(status) || status < 300 || status > 699) throw new Error(`reject: ${status} is not a final status code (300-699)`);
    if (this.answered) {
      this.call.hangup();
      return;
    }
    this.call.reject(status, reason);
  }

  hangup(): void {
    if (!this.ended) this.call.hangup();
  }

  /**
   * Hands the call to `number` as if the caller had dialled it (an answered call goes on, answered, in
   * the service of that number); this script is done with it.
   */
  routeTo(number: string): void {
    this.usable();
    if (this.endpoint && !this.answered) throw new Error('route: answer the call first (it has early media)');
    this.routedTo = number;
    this.route(this.call, number);
  }

  /** Plays the prompts in order; the first key in `interrupt` stops them and is returned. */
  async play(prompts: readonly string[], interrupt: string): Promise<string | null> {
    const endpoint = await this.media();
    for (const name of prompts) {
      const key = await this.playOne(endpoint, name, interrupt);
      if (key !== null || this.ended) return key;
    }
    return null;
  }

  /** Plays a WAV file (a voicemail message, a greeting); a key in `interrupt` stops it and is returned. */
  async playFile(file: string, interrupt: string): Promise<string | null> {
    const endpoint = await this.media();
    return this.playSound(endpoint, () => this.services.sounds.loadFile(file), interrupt);
  }

  async tone(name: ToneName, seconds: number): Promise<void> {
    const endpoint = await this.media();
    const plan = this.services.tonePlan();
    await endpoint.playTone(plan[name], Math.max(0, seconds) * 1000);
  }

  /** Reads keys: up to `max`, until the terminator or a timeout; '' when none came. */
  async collect(options: CollectOptions): Promise<string> {
    await this.media();
    let digits = '';
    const take = (key: string): boolean => {
      if (options.terminator !== '' && key === options.terminator) return true;
      digits += key;
      return digits.length >= options.max;
    };
    if (this.typedAhead.length === 0 && options.prompts.length > 0) {
      const key = await this.play(options.prompts, '0123456789*#ABCD');
      if (key !== null && take(key)) return digits;
    }
    for (;;) {
      const seconds = digits === '' ? options.firstTimeoutSeconds : options.timeoutSeconds;
      const key = await this.nextDigit(seconds * 1000);
      if (key === null || take(key)) return digits;
    }
  }

  /** Records what the caller says; the file stays pending until a service keeps it. */
  async record(request: RecordingRequest): Promise<ServiceRecording | null> {
    const endpoint = await this.media();
    const file = path.join(PENDING_RECORDINGS_DIR, `${randomUUID()}.wav`);
    await mkdir(path.join(this.services.dataDir, PENDING_RECORDINGS_DIR), { recursive: true });
    const result = await endpoint.record(path.join(this.services.dataDir, file), {
      maxSeconds: request.maxSeconds,
      stopDigits: request.stopDigits,
      silenceSeconds: request.silenceSeconds,
      beep: request.beep,
    });
    if (result.seconds <= 0) return null;
    return {
      file,
      seconds: result.seconds,
      stoppedBy: result.stoppedBy === 'stopped' && this.ended ? 'hangup' : result.stoppedBy,
      digit: result.digit ?? null,
    };
  }

  /**
   * Music on hold for `seconds` (the data directory's moh/default.wav, else the shipped loop, or the
   * prompt `sound` when given), looping; a key in `interrupt` stops it and is returned.
   */
  async music(seconds: number, sound: string | undefined, interrupt: string): Promise<string | null> {
    const endpoint = await this.media();
    const pressed = this.takeTypedAhead(interrupt);
    if (pressed !== null) return pressed;
    const music = sound === undefined ? await this.services.sounds.musicOnHold() : await this.services.sounds.load(sound, this.services.language());
    if (this.ended) return null;
    let key: string | null = null;
    const listening = interrupt === '' ? undefined : this.watchKeys(interrupt, (k) => {
      key = k;
      endpoint.stopPlayback();
    });
    const timer = this.clock.setTimer(Math.max(0, seconds) * 1000, () => endpoint.stopPlayback());
    try {
      await endpoint.play(this.services.sounds.source(music, { loop: true }));
    } finally {
      this.clock.clearTimer(timer);
      listening?.();
    }
    return key;
  }

  /** Waits `seconds`, or less when the caller hangs up. */
  async wait(seconds: number): Promise<void> {
    if (this.ended) return;
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimer(Math.max(0, seconds) * 1000, resolve);
      void this.call.ended.then(() => {
        this.clock.clearTimer(timer);
        resolve();
      });
    });
  }

  /** The caller hears itself until it hangs up (the echo test). */
  async echo(): Promise<void> {
    const endpoint = await this.media();
    endpoint.echo(true);
    await this.call.ended;
  }

  /** How many callers are in conference room `room` of the call's domain now. */
  conferenceSize(room: string): number {
    return this.services.conferences.get(this.roomName(room))?.size ?? 0;
  }

  private roomName(room: string): string {
    // rooms of one company are not another's: the name is per domain
    return `${this.call.domain}/${room}`;
  }

  /**
   * Joins conference room `room` until the caller hangs up; false at once when the room already has
   * `maxMembers` parties. `announce`: whether a room opened now plays the join and leave cues.
   */
  async conference(room: string, maxMembers: number, announce: boolean): Promise<boolean> {
    const endpoint = await this.media();
    const conference = this.services.conferences.room(this.roomName(room), { cues: announce });
    if (conference.size >= maxMembers || !conference.join(this.call.id, endpoint)) return false;
    try {
      await this.call.ended;
    } finally {
      conference.leave(this.call.id);
    }
    return true;
  }

  /**
   * Parks the call in `slot` with music until it is retrieved (and then until the two hang up), the
   * timeout passes or the caller hangs up; "taken" at once when another call waits in the slot.
   */
  async park(slot: string, timeoutSeconds: number): Promise<ParkOutcome | 'taken'> {
    const endpoint = await this.media();
    const music = await this.services.sounds.musicOnHold();
    if (this.ended) return 'hangup';
    const parked = this.call.park(slot, timeoutSeconds * 1000);
    if (!parked) return 'taken';
    // started in the same turn as park(): a retrieval stops it rather than being talked over by it
    const playing = endpoint.play(this.services.sounds.source(music, { loop: true }));
    const outcome = await parked;
    if (outcome === 'timeout') endpoint.stopPlayback();
    await playing;
    if (outcome === 'retrieved') await this.call.ended;
    return outcome;
  }

  /** Talks to the call parked in `slot` until one hangs up; false when nothing is parked there. */
  async retrieve(slot: string): Promise<boolean> {
    await this.media();
    return this.call.retrieve(slot);
  }

  /** Answers the oldest call ringing one of `extensions` and talks to it until one hangs up; false when none rings. */
  async pickUp(extensions: readonly string[]): Promise<boolean> {
    this.usable();
    if (this.endpoint && !this.answered) throw new Error('pickup: answer the call first (it has early media)');
    return this.call.pickUp(extensions);
  }

  /** The extension that transferred the call to this service, if one did. */
  get referredBy(): string | undefined {
    return this.call.referredBy;
  }

  /** The endpoint, answering first when there is none yet (as Asterisk's Playback does). */
  private async media(): Promise<MediaEndpoint> {
    this.usable();
    if (this.endpoint) return this.endpoint;
    this.answering ??= this.call.answer().then((endpoint) => this.adopt(endpoint));
    return this.answering;
  }

  private adopt(endpoint: MediaEndpoint): MediaEndpoint {
    endpoint.onDigit = (digit) => {
      this.typedAhead.push(digit);
      this.wakeDigitWaiter();
    };
    this.endpoint = endpoint;
    return endpoint;
  }

  private usable(): void {
    if (this.routedTo !== undefined) throw new Error(`the call was routed to ${this.routedTo}`);
    if (this.ended) throw new CallEndedError();
  }

  private playOne(endpoint: MediaEndpoint, name: string, interrupt: string): Promise<string | null> {
    return this.playSound(endpoint, () => this.services.sounds.load(name, this.services.language()), interrupt);
  }

  private async playSound(endpoint: MediaEndpoint, load: () => Promise<DecodedSound>, interrupt: string): Promise<string | null> {
    const pressed = this.takeTypedAhead(interrupt);
    if (pressed !== null) return pressed;
    const sound = await load();
    if (this.ended) return null;
    let key: string | null = null;
    const listening = interrupt === '' ? undefined : this.watchKeys(interrupt, (k) => {
      key = k;
      endpoint.stopPlayback();
    });
    try {
      await endpoint.play(this.services.sounds.source(sound));
    } finally {
      listening?.();
    }
    return key;
  }

  /** Calls `onKey` with the first key of `keys` pressed from now; returns a function that stops watching. */
  private watchKeys(keys: string, onKey: (key: string) => void): () => void {
    let stopped = false;
    const check = (): void => {
      if (stopped) return;
      const key = this.takeTypedAhead(keys);
      if (key !== null) {
        stopped = true;
        onKey(key);
        return;
      }
      this.digitWaiter = check;
    };
    this.digitWaiter = check;
    return () => {
      stopped = true;
      if (this.digitWaiter === check) this.digitWaiter = undefined;
    };
  }

  private takeTypedAhead(keys: string): string | null {
    const index = this.typedAhead.findIndex((k) => keys.includes(k));
    if (index < 0) return null;
    // keys typed before the wanted one were meant for something already past
    return this.typedAhead.splice(0, index + 1)[index]!;
  }

  private nextDigit(timeoutMs: number): Promise<string | null> {
    const buffered = this.typedAhead.shift();
    if (buffered !== undefined) return Promise.resolve(buffered);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        this.digitWaiter = undefined;
        resolve(null);
      });
      this.digitWaiter = () => {
        this.digitWaiter = undefined;
        this.clock.clearTimer(timer);
        resolve(this.typedAhead.shift() ?? null);
      };
    });
  }

  private wakeDigitWaiter(): void {
    this.digitWaiter?.();
  }
}
