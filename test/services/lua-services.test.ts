// LuaServices, the directory of numbers that run Lua services: which entry a dialled number reaches,
// what the caller gets when a script fails, and how long a script may outlive its call. The workers
// are a fake runner; the calls are fake handles on the fake clock.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { DialOutcome } from '../../src/call/call.js';
import type { Application, LocalCallHandle, RouteOptions, ServiceContext } from '../../src/call/local-call.js';
import type { MediaEndpoint } from '../../src/media/endpoint/media-endpoint.js';
import { DEFAULT_SERVICE_NUMBERS, serviceNumbersWithDefaults } from '../../src/services/default-service-numbers.js';
import type { CallInfo, HostValue } from '../../src/services/engine/protocol.js';
import type { ServiceOutcome } from '../../src/services/engine/service-status.js';
import { LuaServices, type ExtensionSettingsReader, type ServiceNumber, type ServiceNumberLookup, type ServiceRunner } from '../../src/services/lua-services.js';
import { openTempStore, type TempStore } from '../store/temp-store.js';
import { FakeClock } from '../support/fake-clock.js';

const GRACE_MS = 30_000;

/** The services here never play or dial: the context is only handed along. */
const SERVICES = {} as ServiceContext;

/** The call's side a service holds, keeping what was done to it. */
class FakeCall implements LocalCallHandle {
  static count = 0;
  readonly id = `call-${++FakeCall.count}`;
  readonly domain = 'example.com';
  readonly caller = '100';
  readonly callerName = 'Alice';
  readonly referredBy = undefined;
  readonly ended: Promise<void>;
  isEnded = false;
  answered = false;
  dialling = false;
  readonly rejects: { status: number; reason: string | undefined }[] = [];
  readonly routes: { number: string; options: RouteOptions | undefined }[] = [];
  hangups = 0;
  private resolveEnded!: () => void;

  constructor(readonly dialled: string) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  answer(): Promise<MediaEndpoint> {
    this.answered = true;
    return Promise.resolve({} as MediaEndpoint);
  }

  earlyMedia(): Promise<MediaEndpoint> {
    return Promise.resolve({} as MediaEndpoint);
  }

  ringing(): void {}

  progress(): void {}

  reject(status: number, reason?: string): void {
    this.rejects.push({ status, reason });
    this.end();
  }

  route(number: string, options?: RouteOptions): void {
    this.routes.push({ number, options });
    this.end();
  }

  dial(): Promise<DialOutcome> {
    return Promise.resolve({ status: 'unavailable', code: 480 });
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
    this.resolveEnded();
  }
}

interface Run {
  service: string;
  call: CallInfo;
  args: HostValue;
  /** what the script does before it finishes, on the host's ServiceCall */
  finish(outcome: ServiceOutcome): void;
}

/** Scripts that run until the test finishes them. */
class FakeRunner implements ServiceRunner {
  readonly running = new Set<string>();
  readonly runs: Run[] = [];
  readonly ends: string[] = [];
  readonly hungUp: string[] = [];

  isRunning(service: string): boolean {
    return this.running.has(service);
  }

  run(service: string, call: CallInfo, args: HostValue): Promise<ServiceOutcome> {
    return new Promise((finish) => this.runs.push({ service, call, args, finish }));
  }

  callEnded(callId: string): void {
    this.hungUp.push(callId);
  }

  end(callId: string): void {
    this.ends.push(callId);
  }

  /** the only run so far */
  sole(): Run {
    assert.equal(this.runs.length, 1, 'one script started');
    return this.runs[0]!;
  }
}

const FAILED: ServiceOutcome = { ok: false, kind: 'error', error: 'script.lua:3: attempt to index a nil value' };
const DONE: ServiceOutcome = { ok: true, result: null };

function lookupOf(entries: Record<string, ServiceNumber>, domain = 'example.com'): ServiceNumberLookup {
  return { find: (d, number) => (d === domain ? entries[number] : undefined) };
}

const entry = (service: string, fallback: string | null = null): ServiceNumber => ({ service, args: { from: service }, fallback });

let clock: FakeClock;
let runner: FakeRunner;

beforeEach(() => {
  clock = new FakeClock(1_700_000_000_000);
  runner = new FakeRunner();
});

function services(numbers: ServiceNumberLookup, extensionSettings?: ExtensionSettingsReader): LuaServices {
  return new LuaServices(numbers, runner, clock, pino({ level: 'silent' }), extensionSettings);
}

/** Lets the service's promise chain run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs the application for a call to `dialled`; returns the call and the application's promise. */
async function start(app: Application | undefined, dialled: string): Promise<{ call: FakeCall; done: Promise<void> }> {
  assert.ok(app, `a service for ${dialled}`);
  const call = new FakeCall(dialled);
  const done = Promise.resolve(app(call, SERVICES));
  await settle();
  return { call, done };
}

/** The service a number reaches, by running its application once. */
async function serviceOf(lua: LuaServices, number: string, domain = 'example.com'): Promise<string | undefined> {
  const app = lua.find(domain, number);
  if (!app) return undefined;
  const before = runner.runs.length;
  await start(app, number);
  const run = runner.runs[before];
  assert.ok(run);
  assert.equal(run.call.dialled, number, 'the script reads the whole number');
  run.finish(DONE);
  return run.service;
}

describe('find', () => {
  it('takes the number\'s own entry before any prefix', async () => {
    const lua = services(lookupOf({ '*6*': entry('conference'), '*6*500': entry('room-500') }));
    assert.equal(await serviceOf(lua, '*6*500'), 'room-500');
    assert.equal(await serviceOf(lua, '*6*5001'), 'conference');
  });

  it('takes the longest entry ending in * that starts the number', async () => {
    const lua = services(lookupOf({ '*': entry('star'), '*6*': entry('conference'), '*6*500*': entry('room-500') }));
    assert.equal(await serviceOf(lua, '*6*500*1234'), 'room-500');
    assert.equal(await serviceOf(lua, '*6*77'), 'conference');
    assert.equal(await serviceOf(lua, '*7'), 'star');
  });

  it('a prefix must end in *, and a number nobody claims is no service', async () => {
    const lua = services(lookupOf({ '*6': entry('six'), '20': entry('twenty') }));
    assert.equal(lua.find('example.com', '*65'), undefined);
    assert.equal(lua.find('example.com', '200'), undefined);
    assert.equal(await serviceOf(lua, '*6'), 'six');
  });

  it('looks only in the caller\'s domain', async () => {
    const lua = services(lookupOf({ '*6*': entry('conference') }, 'other.com'));
    assert.equal(lua.find('example.com', '*6*1'), undefined);
    assert.equal(await serviceOf(lua, '*6*1', 'other.com'), 'conference');
  });

  it('starts the script with the call and the entry\'s arguments', async () => {
    const lua = services(lookupOf({ '*97': { service: 'voicemail-main', args: { own: true }, fallback: null } }));
    await start(lua.find('example.com', '*97'), '*97');
    const run = runner.sole();
    assert.deepEqual({ ...run.call, id: '' }, { id: '', domain: 'example.com', caller: '100', callerName: 'Alice', dialled: '*97' });
    assert.deepEqual(run.args, { own: true });
  });
});

describe('default service numbers', () => {
  let temp: TempStore;
  beforeEach(() => {
    temp = openTempStore();
    temp.store.domains.create('example.com');
    temp.store.domains.create('other.com');
  });
  afterEach(() => temp.cleanup());

  it('every default number reaches its service, also behind a * prefix', async () => {
    const lua = services(serviceNumbersWithDefaults(temp.store.serviceNumbers));
    for (const [number, expected] of DEFAULT_SERVICE_NUMBERS) {
      assert.equal(await serviceOf(lua, number), expected.service, number);
    }
    assert.equal(await serviceOf(lua, '*90*201'), 'call-forward');
    assert.deepEqual(runner.runs.at(-1)?.args, { type: 'always', code: '*90*' });
    assert.equal(await serviceOf(lua, '*6*500*1234'), 'conference');
    assert.equal(lua.find('example.com', '200'), undefined);
  });

  it('a stored number overrides the default of the same number, in its own domain only', async () => {
    temp.store.serviceNumbers.create({ domain: 'example.com', number: '*97', service: 'my-voicemail', args: { greeting: 'short' }, fallback: '200' });
    temp.store.serviceNumbers.create({ domain: 'example.com', number: '*6*', service: 'my-conference' });
    const lua = services(serviceNumbersWithDefaults(temp.store.serviceNumbers));
    assert.equal(await serviceOf(lua, '*97'), 'my-voicemail');
    assert.deepEqual(runner.runs.at(-1)?.args, { greeting: 'short' });
    assert.equal(await serviceOf(lua, '*6*500*1234'), 'my-conference');
    assert.equal(await serviceOf(lua, '*97', 'other.com'), 'voicemail-main');
    assert.equal(await serviceOf(lua, '*98'), 'voicemail-main');
  });
});

describe('a failed script', () => {
  it('hands the unanswered call to the fallback number, through its services', async () => {
    const lua = services(lookupOf({ '*5': entry('broken', '200') }));
    const { call, done } = await start(lua.find('example.com', '*5'), '*5');
    runner.sole().finish(FAILED);
    await done;
    assert.deepEqual(call.routes, [{ number: '200', options: { bypassServices: false } }]);
    assert.deepEqual(call.rejects, []);
  });

  it('never falls back to the number that failed: 500 instead', async () => {
    const lua = services(lookupOf({ '*5': entry('broken', '*5') }));
    const { call, done } = await start(lua.find('example.com', '*5'), '*5');
    runner.sole().finish(FAILED);
    await done;
    assert.deepEqual(call.routes, []);
    assert.deepEqual(call.rejects.map((r) => r.status), [500]);
  });

  it('answers 500 without a fallback', async () => {
    const lua = services(lookupOf({ '*5': entry('broken') }));
    const { call, done } = await start(lua.find('example.com', '*5'), '*5');
    runner.sole().finish({ ok: false, kind: 'crashed', error: 'the worker died' });
    await done;
    assert.deepEqual(call.rejects, [{ status: 500, reason: 'Server Internal Error - service failed' }]);
  });

  it('routes an answered call to the fallback too: it goes on, answered, in the service of that number', async () => {
    const lua = services(lookupOf({ '*5': entry('broken', '200') }));
    const { call, done } = await start(lua.find('example.com', '*5'), '*5');
    const run = runner.sole();
    const session = lua.lookup(run.call.id);
    assert.ok(session);
    await session.answer();
    run.finish(FAILED);
    await done;
    assert.deepEqual([call.routes, call.rejects, call.hangups], [[{ number: '200', options: { bypassServices: false } }], [], 0]);
  });

  it('hangs up an answered call whose service failed without a fallback', async () => {
    const lua = services(lookupOf({ '*5': entry('broken', null) }));
    const { call, done } = await start(lua.find('example.com', '*5'), '*5');
    const run = runner.sole();
    await lua.lookup(run.call.id)!.answer();
    run.finish(FAILED);
    await done;
    assert.deepEqual([call.routes, call.rejects, call.hangups], [[], [], 1]);
  });

  it('does nothing to a call that has ended', async () => {
    const lua = services(lookupOf({ '*5': entry('broken', '200') }));
    const { call, done } = await start(lua.find('example.com', '*5'), '*5');
    call.end();
    runner.sole().finish(FAILED);
    await done;
    assert.deepEqual([call.routes, call.rejects], [[], []]);
  });

  it('a script that finished leaves the call as it is', async () => {
    const lua = services(lookupOf({ '*5': entry('fine', '200') }));
    const { call, done } = await start(lua.find('example.com', '*5'), '*5');
    runner.sole().finish(DONE);
    await done;
    assert.deepEqual([call.routes, call.rejects, call.isEnded], [[], [], false]);
  });
});

describe('the host\'s ServiceCall and the grace after the hang-up', () => {
  it('lookup finds the ServiceCall by the id the script was given while it runs, and not after', async () => {
    const lua = services(lookupOf({ '*5': entry('svc') }));
    const { call, done } = await start(lua.find('example.com', '*5'), '*5');
    const run = runner.sole();
    assert.equal(lua.lookup(run.call.id)?.call, call);
    assert.equal(lua.lookup('another-call'), undefined);
    run.finish(DONE);
    await done;
    assert.equal(lua.lookup(run.call.id), undefined);
  });

  it('gives each run of a service on the same call an id of its own', async () => {
    const lua = services(lookupOf({ '*5': entry('first'), '*6': entry('second') }));
    const call = new FakeCall('*5');
    void lua.find('example.com', '*5')?.(call, SERVICES);
    void lua.find('example.com', '*6')?.(call, SERVICES);
    await settle();
    const [first, second] = runner.runs;
    assert.ok(first && second);
    assert.notEqual(first.call.id, second.call.id);
    assert.equal(lua.lookup(first.call.id)?.call, call);
    assert.equal(lua.lookup(second.call.id)?.call, call);
    first.finish(DONE);
    await settle();
    assert.equal(lua.lookup(first.call.id), undefined);
    assert.equal(lua.lookup(second.call.id)?.call, call, 'the second run goes on');
  });

  it('drops a script still running 30 s after its call ended', async () => {
    const lua = services(lookupOf({ '*5': entry('svc') }));
    const { call } = await start(lua.find('example.com', '*5'), '*5');
    call.end();
    await settle();
    assert.deepEqual(runner.hungUp, [runner.sole().call.id], 'the runner knows the caller is gone');
    clock.advance(GRACE_MS - 1);
    assert.deepEqual(runner.ends, []);
    clock.advance(1);
    assert.deepEqual(runner.ends, [runner.sole().call.id]);
  });

  it('does not drop a script that finished, before or during the grace', async () => {
    const lua = services(lookupOf({ '*5': entry('svc') }));
    const first = await start(lua.find('example.com', '*5'), '*5');
    runner.runs[0]!.finish(DONE);
    await first.done;
    first.call.end();
    await settle();

    const second = await start(lua.find('example.com', '*5'), '*5');
    second.call.end();
    await settle();
    clock.advance(GRACE_MS / 2);
    runner.runs[1]!.finish(DONE);
    await second.done;
    clock.advance(GRACE_MS);
    assert.deepEqual(runner.ends, []);
    assert.deepEqual(runner.hungUp, [runner.runs[1]!.call.id], 'only a call that ended while its script ran');
  });
});

describe('the extension service', () => {
  it('takes calls to extensions only while its script is running', async () => {
    const lua = services(lookupOf({}));
    assert.equal(lua.extensions.find('example.com', '200'), undefined);
    runner.running.add('extension');
    await start(lua.extensions.find('example.com', '200'), '200');
    const run = runner.sole();
    assert.equal(run.service, 'extension');
    assert.deepEqual(run.args, { extension: '200' });
  });

  it('hands the script the extension\'s settings, read as the call starts', async () => {
    runner.running.add('extension');
    const reads: string[] = [];
    const lua = services(lookupOf({}), (domain, number) => {
      reads.push(`${number}@${domain}`);
      return number === '200' ? { number, dnd: true } : null;
    });
    const app = lua.extensions.find('example.com', '200');
    assert.deepEqual(reads, [], 'not read before the call runs');
    await start(app, '200');
    await start(lua.extensions.find('example.com', '299'), '299');
    assert.deepEqual(reads, ['200@example.com', '299@example.com']);
    assert.deepEqual(runner.runs.map((r) => r.args), [
      { extension: '200', settings: { number: '200', dnd: true } },
      { extension: '299', settings: null },
    ]);
  });

  it('failing before the answer, it lets the extension\'s phones ring directly', async () => {
    runner.running.add('extension');
    const lua = services(lookupOf({}));
    const { call, done } = await start(lua.extensions.find('example.com', '200'), '200');
    runner.sole().finish(FAILED);
    await done;
    assert.deepEqual(call.routes, [{ number: '200', options: { bypassServices: true } }]);
  });
});

describe('a restricted call', () => {
  it('runs call-restricted when it is running, and a failure there still refuses with 403', async () => {
    runner.running.add('call-restricted');
    const lua = services(lookupOf({}));
    const { call, done } = await start(lua.restricted(), '0049301234');
    assert.equal(runner.sole().service, 'call-restricted');
    runner.sole().finish(FAILED);
    await done;
    assert.deepEqual(call.rejects.map((r) => r.status), [403]);
    assert.deepEqual(call.routes, []);
  });

  it('is a plain 403 without the service', async () => {
    const lua = services(lookupOf({}));
    const { call } = await start(lua.restricted(), '0049301234');
    assert.deepEqual(runner.runs, []);
    assert.deepEqual(call.rejects, [{ status: 403, reason: 'Forbidden - call restricted' }]);
  });
});
