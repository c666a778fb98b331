// ServiceCall, the operations behind a Lua service's call:play/collect/record/...: over a fake call
// handle and a fake media endpoint on the fake clock, so keys, prompts and hang-ups land exactly where
// each test puts them.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import assert from 'node:assert/strict';
import path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import type { DialOutcome } from '../../src/call/call.js';
import type { DialOptions, LocalCallHandle, ServiceContext } from '../../src/call/local-call.js';
import type { MediaEndpoint, PlayResult, RecordOptions, RecordResult } from '../../src/media/endpoint/media-endpoint.js';
import { tonePlan, type ToneSpec } from '../../src/media/tones.js';
import { CallEndedError, PENDING_RECORDINGS_DIR, ServiceCall, type CollectOptions } from '../../src/services/host/service-call.js';
import { FakeClock } from '../support/fake-clock.js';

// a real directory: record() creates recordings/pending under it
const DATA_DIR = mkdtempSync(path.join(os.tmpdir(), 'sb-service-call-'));
const RING_SECONDS = 25;
const PLAN = tonePlan('us')!;

/** What ServiceCall hears of a prompt: its name travels as the "sound" and the "source". */
interface FakeSound {
  name: string;
}

/** The members of MediaEndpoint that ServiceCall uses; prompts play until the test ends them or stopPlayback(). */
class FakeEndpoint {
  onDigit: ((digit: string) => void) | undefined;
  readonly played: string[] = [];
  readonly tones: { spec: ToneSpec; ms: number }[] = [];
  readonly recordings: { path: string; options: RecordOptions }[] = [];
  stops = 0;
  echoing = false;
  private playback: ((result: PlayResult) => void) | undefined;
  private recording: { resolve: (r: RecordResult) => void; path: string } | undefined;

  get playing(): string | undefined {
    return this.playback ? this.played[this.played.length - 1] : undefined;
  }

  play(source: FakeSound): Promise<PlayResult> {
    this.played.push(source.name);
    return new Promise((resolve) => (this.playback = resolve));
  }

  stopPlayback(): void {
    this.stops++;
    this.endPlayback('stopped');
  }

  playTone(spec: ToneSpec, ms: number): Promise<PlayResult> {
    this.tones.push({ spec, ms });
    return Promise.resolve('done');
  }

  record(file: string, options: RecordOptions): Promise<RecordResult> {
    this.recordings.push({ path: file, options });
    return new Promise((resolve) => (this.recording = { resolve, path: file }));
  }

  echo(on: boolean): void {
    this.echoing = on;
  }

  /** the caller presses a key */
  press(...keys: string[]): void {
    for (const key of keys) this.onDigit?.(key);
  }

  /** the prompt playing now ends by itself */
  endPlayback(result: PlayResult = 'done'): void {
    const resolve = this.playback;
    this.playback = undefined;
    resolve?.(result);
  }

  endRecording(seconds: number, stoppedBy: RecordResult['stoppedBy'], digit?: string): void {
    const rec = this.recording;
    assert.ok(rec, 'a recording is running');
    this.recording = undefined;
    rec.resolve({ path: rec.path, seconds, stoppedBy, ...(digit === undefined ? {} : { digit }) });
  }

  /** what LocalCall does when the call ends: playback and recording stop */
  close(seconds: number): void {
    this.endPlayback('stopped');
    if (this.recording) this.endRecording(seconds, 'stopped');
  }
}

/** The service's end of a call, keeping what the service asked of it. */
class FakeCall implements LocalCallHandle {
  readonly id = 'call-1';
  readonly domain = 'example.com';
  readonly caller = '100';
  readonly callerName = 'Alice';
  readonly dialled = '*97';
  readonly referredBy = undefined;
  readonly ended: Promise<void>;
  isEnded = false;
  dialling = false;
  answered = false;
  answers = 0;
  earlyMedias = 0;
  hangups = 0;
  readonly provisionals: number[] = [];
  readonly rejects: { status: number; reason: string | undefined }[] = [];
  readonly routes: string[] = [];
  readonly dials: { targets: readonly string[]; timeoutSeconds: number; options: DialOptions | undefined }[] = [];
  dialOutcome: DialOutcome = { status: 'noanswer', code: 408 };
  /** seconds a recording running at the hang-up holds */
  recordedAtHangup = 0;
  private resolveEnded!: () => void;

  constructor(readonly endpoint: FakeEndpoint) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  answer(): Promise<MediaEndpoint> {
    this.answers++;
    this.answered = true;
    return Promise.resolve(this.endpoint as unknown as MediaEndpoint);
  }

  earlyMedia(): Promise<MediaEndpoint> {
    this.earlyMedias++;
    return Promise.resolve(this.endpoint as unknown as MediaEndpoint);
  }

  ringing(): void {
    this.provisionals.push(180);
  }

  progress(status: 181 | 182): void {
    this.provisionals.push(status);
  }

  reject(status: number, reason?: string): void {
    this.rejects.push({ status, reason });
    this.end();
  }

  route(number: string): void {
    this.routes.push(number);
    this.end();
  }

  dial(targets: readonly string[], timeoutSeconds: number, options?: DialOptions): Promise<DialOutcome> {
    this.dials.push({ targets, timeoutSeconds, options });
    return Promise.resolve(this.dialOutcome);
  }

  park(): undefined {
    return undefined;
  }

  retrieve(): Promise<boolean> {
    return Promise.resolve(false);
  }

  pickUp(): Promise<boolean> {
    return Promise.resolve(false);
  }

  hangup(): void {
    this.hangups++;
    this.end();
  }

  /** the caller hangs up */
  end(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.endpoint.close(this.recordedAtHangup);
    this.resolveEnded();
  }
}

/** A conference room that keeps who joined and left. */
class FakeRoom {
  readonly joined: string[] = [];
  readonly left: string[] = [];
  constructor(public size: number) {}
  join(id: string): boolean {
    this.joined.push(id);
    this.size++;
    return true;
  }
  leave(id: string): void {
    this.left.push(id);
    this.size--;
  }
}

let clock: FakeClock;
let endpoint: FakeEndpoint;
let call: FakeCall;
let room: FakeRoom;
let roomOptions: ({ cues?: boolean } | undefined)[] = [];
let service: ServiceCall;

function context(): ServiceContext {
  const sounds = {
    load: async (name: string): Promise<FakeSound> => ({ name }),
    loadFile: async (file: string): Promise<FakeSound> => ({ name: `file:${file}` }),
    source: (sound: FakeSound) => sound,
  };
  return {
    sounds,
    conferences: { room: (_name: string, options?: { cues?: boolean }) => {
      roomOptions.push(options);
      return room;
    } },
    tonePlan: () => PLAN,
    ringSeconds: () => RING_SECONDS,
    language: () => 'en',
    dataDir: DATA_DIR,
  } as unknown as ServiceContext;
}

beforeEach(() => {
  clock = new FakeClock(1_700_000_000_000);
  endpoint = new FakeEndpoint();
  call = new FakeCall(endpoint);
  room = new FakeRoom(0);
  service = new ServiceCall(call, context(), clock, (c, number) => c.route(number));
});

/** Lets every pending promise continuation run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A promise and whether it has settled yet, with its value. */
function track<T>(promise: Promise<T>): { done: boolean; value: T | undefined; error: unknown } {
  const state = { done: false, value: undefined as T | undefined, error: undefined as unknown };
  promise.then((value) => {
    state.done = true;
    state.value = value;
  }, (err: unknown) => {
    state.done = true;
    state.error = err;
  });
  return state;
}

function collectOptions(options: Partial<CollectOptions>): CollectOptions {
  return { max: 1, firstTimeoutSeconds: 5, timeoutSeconds: 5, terminator: '#', prompts: [], ...options };
}

describe('collect', () => {
  it('stops at max; keys beyond it wait for the next collect', async () => {
    await service.answer();
    endpoint.press('1', '2', '3', '4');
    assert.equal(await service.collect(collectOptions({ max: 3 })), '123');
    const next = track(service.collect(collectOptions({ max: 3, timeoutSeconds: 2 })));
    await settle();
    assert.equal(next.done, false, 'waits for more keys after the one left');
    clock.advance(2000);
    await settle();
    assert.equal(next.value, '4');
  });

  it('the terminator ends the input and is not part of it', async () => {
    await service.answer();
    const input = track(service.collect(collectOptions({ max: 10 })));
    await settle();
    endpoint.press('4', '2', '#', '9');
    await settle();
    assert.equal(input.value, '42');
    assert.equal(await service.collect(collectOptions({ max: 1 })), '9', 'the key after the terminator is kept');
  });

  it('waits first_timeout for the first key and timeout between keys', async () => {
    await service.answer();
    const nothing = track(service.collect(collectOptions({ max: 4, firstTimeoutSeconds: 10, timeoutSeconds: 3 })));
    await settle();
    clock.advance(9_999);
    await settle();
    assert.equal(nothing.done, false);
    clock.advance(1);
    await settle();
    assert.equal(nothing.value, '');

    const some = track(service.collect(collectOptions({ max: 4, firstTimeoutSeconds: 10, timeoutSeconds: 3 })));
    await settle();
    clock.advance(8_000);
    endpoint.press('1');
    await settle();
    clock.advance(2_999);
    await settle();
    assert.equal(some.done, false, 'the timeout between keys runs from the last key');
    clock.advance(1);
    await settle();
    assert.equal(some.value, '1');
    assert.equal(clock.pending(), 0);
  });

  it('skips the prompt when keys were typed ahead', async () => {
    await service.answer();
    endpoint.press('5');
    const input = track(service.collect(collectOptions({ max: 2, prompts: ['enter-pin'] })));
    await settle();
    assert.deepEqual(endpoint.played, [], 'the caller already knows what to key');
    endpoint.press('6');
    await settle();
    assert.equal(input.value, '56');
  });

  it('the first key stops the prompts and counts as input', async () => {
    const input = track(service.collect(collectOptions({ max: 3, prompts: ['enter-pin', 'then-pound'] })));
    await settle();
    assert.equal(endpoint.playing, 'enter-pin');
    endpoint.press('7');
    await settle();
    assert.equal(endpoint.stops, 1);
    assert.equal(endpoint.playing, undefined);
    endpoint.press('8', '9');
    await settle();
    assert.equal(input.value, '789');
    assert.deepEqual(endpoint.played, ['enter-pin'], 'the second prompt never played');
    assert.equal(call.answers, 1, 'collect answered the call');
  });

  it('returns what was typed when the caller hangs up, and leaves no timer behind', async () => {
    await service.answer();
    const input = track(service.collect(collectOptions({ max: 4, timeoutSeconds: 30 })));
    await settle();
    endpoint.press('1', '2');
    await settle();
    call.end();
    await settle();
    assert.equal(input.value, '12');
    assert.equal(clock.pending(), 0);
  });

  it('returns nothing when the caller hangs up during the prompt', async () => {
    const input = track(service.collect(collectOptions({ max: 4, prompts: ['enter-pin'] })));
    await settle();
    assert.equal(endpoint.playing, 'enter-pin');
    call.end();
    await settle();
    assert.deepEqual([input.done, input.value, input.error], [true, '', undefined]);
    assert.equal(clock.pending(), 0);
  });
});

describe('play', () => {
  it('an interrupt key stops the prompts, is returned and is consumed', async () => {
    const played = track(service.play(['first', 'second'], '#'));
    await settle();
    endpoint.press('#');
    await settle();
    assert.equal(played.value, '#');
    assert.deepEqual(endpoint.played, ['first']);
    const next = track(service.collect(collectOptions({ max: 1, firstTimeoutSeconds: 1 })));
    await settle();
    clock.advance(1000);
    await settle();
    assert.equal(next.value, '', 'the interrupt key is not read again');
  });

  it('keys not in the interrupt set neither stop the prompt nor get lost', async () => {
    const played = track(service.play(['first'], '#'));
    await settle();
    endpoint.press('5');
    await settle();
    assert.equal(endpoint.playing, 'first', 'still playing');
    endpoint.endPlayback();
    await settle();
    assert.deepEqual([played.done, played.value], [true, null]);
    assert.equal(await service.collect(collectOptions({ max: 1 })), '5');
  });

  it('plays every prompt in turn without an interrupt set, whatever is pressed', async () => {
    const played = track(service.play(['first', 'second'], ''));
    await settle();
    endpoint.press('1');
    endpoint.endPlayback();
    await settle();
    endpoint.endPlayback();
    await settle();
    assert.deepEqual([played.value, endpoint.played, endpoint.stops], [null, ['first', 'second'], 0]);
  });

  it('an interrupt key typed ahead returns at once, with nothing played', async () => {
    await service.answer();
    endpoint.press('#');
    assert.equal(await service.play(['first'], '#*'), '#');
    assert.deepEqual(endpoint.played, []);
  });

  it('plays a file, interruptible the same way', async () => {
    const played = track(service.playFile('/data/voicemail/1.wav', '1'));
    await settle();
    assert.equal(endpoint.playing, 'file:/data/voicemail/1.wav');
    endpoint.press('1');
    await settle();
    assert.equal(played.value, '1');
  });
});

describe('record', () => {
  // mkdir of recordings/pending is real file-system work, not a microtask
  const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 20));

  it('records into recordings/pending under the data directory, with the options given', async () => {
    const recorded = track(service.record({ maxSeconds: 60, beep: true, stopDigits: '#', silenceSeconds: 5 }));
    await settle();
    const [running] = endpoint.recordings;
    assert.ok(running);
    assert.deepEqual(running.options, { maxSeconds: 60, stopDigits: '#', silenceSeconds: 5, beep: true });
    endpoint.endRecording(7.5, 'digit', '#');
    await settle();
    const result = recorded.value;
    assert.ok(result);
    assert.equal(path.dirname(result.file), PENDING_RECORDINGS_DIR);
    assert.match(path.basename(result.file), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.wav$/);
    assert.equal(running.path, path.join(DATA_DIR, result.file));
    assert.deepEqual({ ...result, file: '' }, { file: '', seconds: 7.5, stoppedBy: 'digit', digit: '#' });
  });

  it('gives each recording a file of its own', async () => {
    const first = track(service.record({ maxSeconds: 60, beep: false, stopDigits: '', silenceSeconds: undefined }));
    await settle();
    endpoint.endRecording(1, 'max');
    const second = track(service.record({ maxSeconds: 60, beep: false, stopDigits: '', silenceSeconds: undefined }));
    await settle();
    endpoint.endRecording(1, 'silence');
    await settle();
    assert.notEqual(first.value?.file, second.value?.file);
    assert.deepEqual([first.value?.stoppedBy, second.value?.stoppedBy], ['max', 'silence']);
  });

  it('is null when nothing was recorded', async () => {
    const recorded = track(service.record({ maxSeconds: 60, beep: true, stopDigits: '#', silenceSeconds: undefined }));
    await settle();
    endpoint.endRecording(0, 'digit', '#');
    await settle();
    assert.deepEqual([recorded.done, recorded.value], [true, null]);
  });

  it('says the caller hung up when the call ended during the recording', async () => {
    call.recordedAtHangup = 4;
    const recorded = track(service.record({ maxSeconds: 60, beep: true, stopDigits: '#', silenceSeconds: undefined }));
    await settle();
    call.end();
    await settle();
    assert.equal(recorded.value?.stoppedBy, 'hangup');
    assert.equal(recorded.value?.seconds, 4);
    assert.equal(recorded.value?.digit, null);
  });
});

describe('wait, tone, echo, conference', () => {
  it('wait lasts its seconds, or ends at the hang-up without a timer left', async () => {
    const full = track(service.wait(2));
    clock.advance(1_999);
    await settle();
    assert.equal(full.done, false);
    clock.advance(1);
    await settle();
    assert.equal(full.done, true);

    const cut = track(service.wait(10));
    clock.advance(3_000);
    call.end();
    await settle();
    assert.equal(cut.done, true);
    assert.equal(clock.pending(), 0);
    assert.equal(clock.now(), 1_700_000_000_000 + 5_000);
    const after = track(service.wait(10));
    await settle();
    assert.equal(after.done, true, 'nothing to wait for once the call is over');
  });

  it('tone plays the tone of the plan for the seconds asked', async () => {
    await service.tone('busy', 3);
    await service.tone('beep', 0.25);
    assert.deepEqual(endpoint.tones, [{ spec: PLAN.busy, ms: 3000 }, { spec: PLAN.beep, ms: 250 }]);
  });

  it('echo sends the caller back to itself until it hangs up', async () => {
    const echo = track(service.echo());
    await settle();
    assert.deepEqual([endpoint.echoing, echo.done], [true, false]);
    call.end();
    await settle();
    assert.equal(echo.done, true);
  });

  it('conference joins the room until the hang-up, and refuses a full room', async () => {
    roomOptions = [];
    const joined = track(service.conference('500', 3, false));
    await settle();
    assert.deepEqual([room.joined, joined.done], [['call-1'], false]);
    assert.deepEqual(roomOptions, [{ cues: false }], 'the room is asked for without cues');
    call.end();
    await settle();
    assert.deepEqual([joined.value, room.left], [true, ['call-1']]);

    const other = new FakeCall(new FakeEndpoint());
    room = new FakeRoom(3);
    const full = new ServiceCall(other, context(), clock, (c, number) => c.route(number));
    assert.equal(await full.conference('500', 3, true), false);
    assert.deepEqual(room.joined, []);
  });
});

describe('before the answer: ringing, reject, dial, route', () => {
  it('answers once however many operations want the media at the same time', async () => {
    const playing = track(service.play(['first'], ''));
    const collecting = track(service.collect(collectOptions({ max: 1 })));
    await settle();
    assert.equal(call.answers, 1);
    endpoint.endPlayback();
    endpoint.press('3');
    await settle();
    assert.deepEqual([playing.value, collecting.value], [null, '3']);
  });

  it('sends 180 and 181 only while the call is not answered', async () => {
    service.ringing();
    service.forwarding();
    await service.answer();
    service.ringing();
    service.forwarding();
    assert.deepEqual(call.provisionals, [180, 181]);
  });

  it('rejects with a final status only, and hangs up an answered call instead', async () => {
    assert.throws(() => service.reject(200, 'OK'), /not a final status code/);
    assert.deepEqual(call.rejects, []);
    const answeredCall = new FakeCall(new FakeEndpoint());
    const answered = new ServiceCall(answeredCall, context(), clock, (c, number) => c.route(number));
    await answered.answer();
    answered.reject(486, 'Busy Here');
    assert.deepEqual(answeredCall.rejects, []);
    assert.equal(answeredCall.hangups, 1);
    service.reject(486, 'Busy Here');
    assert.deepEqual(call.rejects, [{ status: 486, reason: 'Busy Here' }]);
  });

  it('dials with the server\'s ring time unless told otherwise, and the plan\'s ringback for an answered caller', async () => {
    call.dialOutcome = { status: 'busy', code: 486 };
    assert.deepEqual(await service.dial(['200'], undefined), { status: 'busy', code: 486 });
    await service.dial(['200', '201'], 12);
    const ringback = { ringback: PLAN.ringback };
    assert.deepEqual(call.dials, [
      { targets: ['200'], timeoutSeconds: RING_SECONDS, options: ringback },
      { targets: ['200', '201'], timeoutSeconds: 12, options: ringback },
    ]);
  });

  it('dials from an answered call, not from one in early media', async () => {
    await service.answer();
    await service.dial(['200'], 20);
    assert.equal(call.dials.length, 1);
    const early = new FakeCall(new FakeEndpoint());
    const inEarlyMedia = new ServiceCall(early, context(), clock, (c, number) => c.route(number));
    await inEarlyMedia.earlyMedia();
    await assert.rejects(inEarlyMedia.dial(['200'], 20), /answer the call first/);
    assert.deepEqual(early.dials, []);
  });

  it('routes an unanswered call, and after that every operation says where it went', async () => {
    service.routeTo('200');
    assert.deepEqual(call.routes, ['200']);
    assert.throws(() => service.ringing(), /routed to 200/);
    await assert.rejects(service.play(['first'], ''), /routed to 200/);
    await assert.rejects(service.dial(['201'], 20), /routed to 200/);
    assert.throws(() => service.routeTo('201'), /routed to 200/);
    assert.equal(call.answers, 0);
  });

  it('routes an answered call, not one in early media', async () => {
    await service.answer();
    service.routeTo('*6');
    assert.deepEqual(call.routes, ['*6']);
    assert.throws(() => service.ringing(), /routed to \*6/);
    const early = new FakeCall(new FakeEndpoint());
    const inEarlyMedia = new ServiceCall(early, context(), clock, (c, number) => c.route(number));
    await inEarlyMedia.earlyMedia();
    assert.throws(() => inEarlyMedia.routeTo('200'), /answer the call first/);
    assert.deepEqual(early.routes, []);
  });
});

describe('early media', () => {
  it('plays and collects before the answer, and the call can still be refused', async () => {
    await service.earlyMedia();
    const input = track(service.collect(collectOptions({ max: 1, prompts: ['not-allowed'] })));
    await settle();
    assert.equal(endpoint.playing, 'not-allowed');
    endpoint.press('1');
    await settle();
    assert.equal(input.value, '1');
    assert.deepEqual([call.earlyMedias, call.answers], [1, 0], 'the prompt played in early media');
    service.reject(403, 'Forbidden');
    assert.deepEqual(call.rejects, [{ status: 403, reason: 'Forbidden' }]);
  });

  it('answer() after early media answers once, with the same endpoint', async () => {
    await service.earlyMedia();
    endpoint.press('4');
    await service.answer();
    await service.answer();
    assert.deepEqual([call.earlyMedias, call.answers], [1, 1]);
    assert.equal(await service.collect(collectOptions({ max: 1 })), '4', 'keys from early media are kept');
  });
});

describe('after the hang-up', () => {
  it('every operation fails with CallEndedError, and hangup does nothing more', async () => {
    call.end();
    await settle();
    assert.equal(service.ended, true);
    assert.throws(() => service.ringing(), CallEndedError);
    assert.throws(() => service.reject(486, undefined), CallEndedError);
    await assert.rejects(service.play(['first'], ''), CallEndedError);
    await assert.rejects(service.collect(collectOptions({})), CallEndedError);
    await assert.rejects(service.record({ maxSeconds: 5, beep: false, stopDigits: '', silenceSeconds: undefined }), CallEndedError);
    await assert.rejects(service.dial(['200'], 20), CallEndedError);
    assert.throws(() => service.routeTo('200'), CallEndedError);
    service.hangup();
    assert.equal(call.hangups, 0);
    assert.equal(call.answers, 0);
  });
});
