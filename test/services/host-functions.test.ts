// The host functions a Lua service calls (call.*, voicemail.*, mailbox.*, extension.*, data.*, log.*):
// their argument checks, and what they do to a real SQLite store and a real voicemail box in a temp
// directory, always within the domain of the call the script runs for.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { DialOutcome } from '../../src/call/call.js';
import type { LocalCallHandle, ServiceContext } from '../../src/call/local-call.js';
import type { MediaEndpoint } from '../../src/media/endpoint/media-endpoint.js';
import { encodeWav } from '../../src/media/wav.js';
import type { HostValue } from '../../src/services/engine/protocol.js';
import { callFunctions, type HostFunction } from '../../src/services/host/call-functions.js';
import { HostArgs } from '../../src/services/host/host-args.js';
import { pbxFunctions } from '../../src/services/host/pbx-functions.js';
import { PENDING_RECORDINGS_DIR, ServiceCall } from '../../src/services/host/service-call.js';
import type { VoicemailMessage } from '../../src/store/sqlite-voicemail.js';
import { VoicemailBox } from '../../src/voicemail/voicemail-store.js';
import { openTempStore, type TempStore } from '../store/temp-store.js';
import { FakeClock } from '../support/fake-clock.js';

const SERVICE = 'test-service';
const CALL_HERE = 'call-example';
const CALL_THERE = 'call-other';

/** A call from 100 (Alice) in `domain`: the host functions read only who and where. */
function callIn(domain: string, id: string): LocalCallHandle {
  return {
    id, domain, caller: '100', callerName: 'Alice', dialled: '*96*200', referredBy: undefined, answered: false, dialling: false, isEnded: false,
    ended: new Promise<void>(() => undefined),
    answer: () => Promise.resolve({} as MediaEndpoint),
    earlyMedia: () => Promise.resolve({} as MediaEndpoint),
    ringing: () => undefined,
    progress: () => undefined,
    reject: () => undefined,
    route: () => undefined,
    dial: (): Promise<DialOutcome> => Promise.resolve({ status: 'unavailable', code: 480 }),
    hangup: () => undefined,
    park: () => undefined,
    retrieve: () => Promise.resolve(false),
    pickUp: () => Promise.resolve(false),
  };
}

let temp: TempStore;
let clock: FakeClock;
let box: VoicemailBox;
let logLines: Record<string, unknown>[];
let emails: { message: VoicemailMessage; mailbox: { email: string | null; attachAudio: boolean } }[];
let busy: Set<string>;
let host: Map<string, HostFunction>;

beforeEach(() => {
  temp = openTempStore();
  const { store } = temp;
  store.domains.create('example.com');
  store.domains.create('other.com');
  for (const number of ['100', '200', '201']) store.extensions.create({ domain: 'example.com', number, ha1Md5: 'x', ha1Sha256: 'y' });
  store.extensions.create({ domain: 'other.com', number: '200', ha1Md5: 'x', ha1Sha256: 'y' });
  clock = new FakeClock(1_700_000_000_000);
  logLines = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  box = new VoicemailBox({ repository: store.voicemail, dataDir: temp.dir, log: logger, clock });
  emails = [];
  busy = new Set();
  const services = {} as ServiceContext;
  const calls = new Map([
    [CALL_HERE, new ServiceCall(callIn('example.com', CALL_HERE), services, clock, () => undefined)],
    [CALL_THERE, new ServiceCall(callIn('other.com', CALL_THERE), services, clock, () => undefined)],
  ]);
  const lookup = (id: string) => calls.get(id);
  host = new Map([
    ...callFunctions(lookup),
    ...pbxFunctions({
      store,
      voicemail: box,
      logger,
      lookup,
      isBusy: (domain, number) => busy.has(`${number}@${domain}`),
      emailNewMessage: (message, mailbox) => void emails.push({ message, mailbox }),
    }),
  ]);
});
afterEach(() => temp.cleanup());

/** Calls host function `name` as the script of call `callId` would; a throw becomes a rejection. */
async function invoke(name: string, args: HostValue[], callId = CALL_HERE): Promise<HostValue> {
  const fn = host.get(name);
  assert.ok(fn, `host function ${name}`);
  return fn({ service: SERVICE, callId }, args);
}

/** A recording as call:record leaves it: a WAV in recordings/pending, named by a UUID. */
function pendingRecording(): { file: string; seconds: number } {
  const file = path.join(PENDING_RECORDINGS_DIR, `${randomUUID()}.wav`);
  fs.mkdirSync(path.join(temp.dir, PENDING_RECORDINGS_DIR), { recursive: true });
  fs.writeFileSync(path.join(temp.dir, file), encodeWav(new Int16Array(8000), 8000));
  return { file, seconds: 2.5 };
}

function stored(kind: string, key: string, domain = 'example.com'): Record<string, unknown> | undefined {
  return temp.store.serviceData.get(domain, kind, key)?.body;
}

describe('HostArgs', () => {
  it('names the function and the argument in every message', () => {
    assert.throws(() => new HostArgs('call.play', [42]).names(0, 'sound'), { message: 'call.play: argument 1 (sound) must be a name or a list of names, not 42' });
    assert.throws(() => new HostArgs('call.reject', [486, {}]).string(1, 'reason'), { message: 'call.reject: argument 2 (reason) must be a string, not a table' });
    assert.throws(() => new HostArgs('call.reject', [200]).integer(0, 'status code', 300, 699), { message: 'call.reject: argument 1 (status code) must be a whole number from 300 to 699, not 200' });
    assert.throws(() => new HostArgs('call.wait', [true]).number(0, 'seconds', 1, 0, 3600), { message: 'call.wait: argument 1 (seconds) must be a number from 0 to 3600, not true' });
    assert.throws(() => new HostArgs('call.play', ['hello', 'x']).options(1), { message: 'call.play: argument 2 must be a table of options, not "x"' });
    assert.throws(() => new HostArgs('call.play', ['hello', { interrupt: '12x' }]).options(1).keys('interrupt', ''), {
      message: 'call.play: option interrupt must be a string of keys (0-9 * # A-D), not "12x"',
    });
    assert.throws(() => new HostArgs('call.collect', [{ max: 0 }]).options(0).number('max', 1, 1, 64), { message: 'call.collect: option max must be a number from 1 to 64, not 0' });
    assert.throws(() => new HostArgs('call.record', [{ beep: 'yes' }]).options(0).boolean('beep', true), { message: 'call.record: option beep must be true or false, not "yes"' });
    assert.throws(() => new HostArgs('call.play', [[]]).names(0, 'sound'), /not a list/);
    assert.throws(() => new HostArgs('log.info', [null]).string(0, 'message'), /not nil$/);
  });

  it('shortens a long value it quotes', () => {
    const long = 'x'.repeat(100);
    assert.throws(() => new HostArgs('call.play', ['a', { interrupt: long }]).options(1).keys('interrupt', ''), (err: Error) => {
      assert.ok(err.message.endsWith(`not "${'x'.repeat(40)}..."`), err.message);
      return true;
    });
  });

  it('takes the fallback for an absent argument or option, and numbers as strings', () => {
    const args = new HostArgs('call.collect', [{ max: 4 }, null]);
    assert.equal(args.options(0).number('max', 1, 1, 64), 4);
    assert.equal(args.options(0).number('timeout', 5, 0, 3600), 5);
    assert.equal(args.options(1).keys('terminator', '#'), '#');
    assert.equal(args.options(0).optionalNumber('timeout', 1, 600), undefined);
    assert.equal(args.optionalString(1, 'reason'), undefined);
    assert.deepEqual(args.options(0).names('prompt'), []);
    assert.equal(new HostArgs('extension.exists', [201]).string(0, 'number'), '201');
  });

  it('reaches the script through the host functions', async () => {
    await assert.rejects(invoke('call.collect', [{ max: 0 }]), { message: 'call.collect: option max must be a number from 1 to 64, not 0' });
    await assert.rejects(invoke('call.tone', ['siren']), { message: 'call.tone: argument 1 must be ringback, busy, congestion or beep, not "siren"' });
    await assert.rejects(invoke('call.reject', [200]), { message: /^call\.reject: argument 1 \(status code\)/ });
    await assert.rejects(invoke('call.say_digits', ['12a']), { message: /^call\.say_digits: argument 1 must hold only 0-9 \* #/ });
    await assert.rejects(invoke('call.answer', [], 'gone'), { message: 'the call has ended' });
    await assert.rejects(invoke('voicemail.counts', ['200'], 'gone'), { message: 'voicemail.counts: the call has ended' });
  });
});

describe('voicemail.save', () => {
  beforeEach(() => {
    temp.store.serviceData.put('example.com', 'mailboxes', '200', { email: 'bob@example.com', maxMessages: 2 });
  });

  it('keeps a pending recording as a new message and queues its e-mail', async () => {
    const recording = pendingRecording();
    const id = await invoke('voicemail.save', ['200', recording]);
    assert.equal(typeof id, 'number');
    const message = box.get(id as number);
    assert.ok(message);
    assert.deepEqual(
      [message.domain, message.mailbox, message.caller, message.callerName, message.durationMs, message.folder],
      ['example.com', '200', '100', 'Alice', 2500, 'new'],
    );
    assert.equal(fs.existsSync(path.join(temp.dir, recording.file)), false, 'the recording moved into the mailbox');
    assert.ok(fs.existsSync(box.filePath(message)));
    assert.deepEqual(emails.map((e) => [e.message.id, e.mailbox.email]), [[id, 'bob@example.com']]);
    assert.deepEqual(await invoke('voicemail.counts', ['200']), { new: 1, saved: 0 });
  });

  it('refuses any file that is not a recording in recordings/pending', async () => {
    const outside = path.join(temp.dir, 'secret.wav');
    fs.writeFileSync(outside, encodeWav(new Int16Array(800), 8000));
    const uuid = randomUUID();
    for (const file of [
      '../../etc/passwd',
      '/etc/passwd',
      outside,
      path.join(temp.dir, PENDING_RECORDINGS_DIR, `${uuid}.wav`),
      `recordings/pending/../../../etc/${uuid}.wav`,
      `recordings/pending/../${uuid}.wav`,
      `recordings/${uuid}.wav`,
      'recordings/pending/message.wav',
      `recordings/pending/${uuid}.wav.exe`,
      `voicemail/example.com/200/${uuid}.wav`,
    ]) {
      await assert.rejects(invoke('voicemail.save', ['200', { file, seconds: 3 }]), { message: 'voicemail.save: argument 2 must be the recording call:record returned' }, file);
    }
    await assert.rejects(invoke('voicemail.save', ['200', { file: pendingRecording().file }]), /must be the recording call:record returned/, 'without its seconds');
    await assert.rejects(invoke('voicemail.save', ['200', 'recordings/pending/x.wav']), /argument 2 must be a table/);
    assert.ok(fs.existsSync(outside));
    assert.deepEqual(box.counts('example.com', '200'), { newCount: 0, savedCount: 0 });
  });

  it('refuses a full mailbox and leaves the recording where it was', async () => {
    await invoke('voicemail.save', ['200', pendingRecording()]);
    assert.equal(await invoke('voicemail.is_full', ['200']), false);
    await invoke('voicemail.save', ['200', pendingRecording()]);
    assert.equal(await invoke('voicemail.is_full', ['200']), true);
    const third = pendingRecording();
    await assert.rejects(invoke('voicemail.save', ['200', third]), { message: 'voicemail.save: mailbox 200 is full (2 messages)' });
    assert.ok(fs.existsSync(path.join(temp.dir, third.file)));
    assert.deepEqual(box.counts('example.com', '200'), { newCount: 2, savedCount: 0 });
  });

  it('knows only the mailboxes of the call\'s domain', async () => {
    await assert.rejects(invoke('voicemail.save', ['200', pendingRecording()], CALL_THERE), { message: 'voicemail.save: no mailbox 200' });
    await assert.rejects(invoke('voicemail.save', ['201', pendingRecording()]), { message: 'voicemail.save: no mailbox 201' });
  });
});

describe('mailbox PINs', () => {
  beforeEach(() => {
    temp.store.serviceData.put('example.com', 'mailboxes', '200', { email: 'bob@example.com' });
  });

  it('set_pin stores a hash, never the PIN, and check_pin verifies against it', async () => {
    assert.equal(await invoke('mailbox.check_pin', ['200', '4321']), false, 'no PIN set: nothing matches');
    assert.equal(await invoke('mailbox.set_pin', ['200', '4321']), null);
    const body = stored('mailboxes', '200');
    assert.ok(body);
    assert.equal(typeof body.pinHash, 'string');
    assert.equal(body.pin, undefined);
    assert.ok(!JSON.stringify(body).includes('4321'), 'the PIN is not stored');
    assert.equal(body.email, 'bob@example.com', 'the rest of the mailbox is kept');
    assert.equal(await invoke('mailbox.check_pin', ['200', '4321']), true);
    assert.equal(await invoke('mailbox.check_pin', ['200', '1234']), false);
  });

  it('set_pin takes 4-12 digits only', async () => {
    for (const pin of ['12', '1234567890123', '12a4', '']) {
      await assert.rejects(invoke('mailbox.set_pin', ['200', pin]), { message: 'mailbox.set_pin: a PIN is 4 to 12 digits' }, pin);
    }
    assert.equal(stored('mailboxes', '200')?.pinHash, undefined);
  });

  it('mailbox.get shows whether a PIN is set, not its hash', async () => {
    assert.equal((await invoke('mailbox.get', ['200']) as Record<string, HostValue>).pinSet, false);
    await invoke('mailbox.set_pin', ['200', '4321']);
    const mailbox = await invoke('mailbox.get', ['200']) as Record<string, HostValue>;
    assert.equal(mailbox.pinSet, true);
    assert.ok(!('pinHash' in mailbox));
    assert.equal(await invoke('mailbox.get', ['200'], CALL_THERE), null, 'another domain\'s 200 has no mailbox');
  });
});

describe('extension.set_forward', () => {
  it('sets one forward at a time and keeps the others', async () => {
    const first = await invoke('extension.set_forward', ['200', 'busy', '300']) as { forward: Record<string, HostValue> };
    assert.equal(first.forward.busy, '300');
    const second = await invoke('extension.set_forward', ['200', 'always', '*96*200']) as { forward: Record<string, HostValue> };
    assert.deepEqual([second.forward.always, second.forward.busy], ['*96*200', '300']);
    assert.deepEqual(stored('call-settings', '200')?.forward, { busy: '300', always: '*96*200' });
  });

  it('clears a forward with nil', async () => {
    await invoke('extension.set_forward', ['200', 'busy', '300']);
    await invoke('extension.set_forward', ['200', 'noAnswer', '301']);
    const cleared = await invoke('extension.set_forward', ['200', 'busy', null]) as { forward: Record<string, HostValue> };
    assert.deepEqual([cleared.forward.busy, cleared.forward.noAnswer], [null, '301']);
    const again = await invoke('extension.set_forward', ['200', 'noAnswer']) as { forward: Record<string, HostValue> };
    assert.equal(again.forward.noAnswer, null);
  });

  it('refuses an unknown forward, a bad number and an extension of another domain', async () => {
    await assert.rejects(invoke('extension.set_forward', ['200', 'sometimes', '300']), {
      message: 'extension.set_forward: argument 2 must be one of always, busy, noAnswer, unreachable, not "sometimes"',
    });
    await assert.rejects(invoke('extension.set_forward', ['200', 'busy', 'not a number']), { message: /^extension\.set_forward: forward\.busy: / });
    await assert.rejects(invoke('extension.set_forward', ['999', 'busy', '300']), { message: 'extension.set_forward: no extension 999' });
    await assert.rejects(invoke('extension.set_forward', ['201', 'busy', '300'], CALL_THERE), { message: 'extension.set_forward: no extension 201' });
    assert.equal(stored('call-settings', '200'), undefined);
  });
});

describe('extension.update_settings', () => {
  it('stores valid changes and answers the settings with their defaults', async () => {
    const settings = await invoke('extension.update_settings', ['200', { dnd: true, ringSeconds: 20 }]) as Record<string, HostValue>;
    assert.deepEqual([settings.dnd, settings.ringSeconds, settings.callWaiting], [true, 20, true]);
    assert.deepEqual(stored('call-settings', '200'), { dnd: true, ringSeconds: 20 });
    assert.deepEqual(await invoke('extension.settings', ['200']), settings);
  });

  it('merges the forward table field by field', async () => {
    await invoke('extension.update_settings', ['200', { forward: { busy: '300' } }]);
    await invoke('extension.update_settings', ['200', { forward: { noAnswer: '301' } }]);
    assert.deepEqual(stored('call-settings', '200')?.forward, { busy: '300', noAnswer: '301' });
  });

  for (const { field, change } of [
    { field: 'dnd', change: { dnd: 'yes' } },
    { field: 'ringSeconds', change: { ringSeconds: 3 } },
    { field: 'forward.busy', change: { forward: { busy: 'not a number' } } },
    { field: 'restrictionLevel', change: { restrictionLevel: 12 } },
    { field: 'colour', change: { colour: 'blue' } },
  ]) {
    it(`refuses an invalid ${field}, naming it, and keeps what was stored`, async () => {
      await invoke('extension.update_settings', ['200', { dnd: true }]);
      await assert.rejects(invoke('extension.update_settings', ['200', change]), (err: Error) => {
        assert.ok(err.message.startsWith('extension.update_settings: '), err.message);
        assert.ok(err.message.includes(field), `"${err.message}" names ${field}`);
        return true;
      });
      assert.deepEqual(stored('call-settings', '200'), { dnd: true });
    });
  }

  it('refuses pickup groups that do not exist, as the API does', async () => {
    await assert.rejects(invoke('extension.update_settings', ['200', { pickupGroups: ['nowhere'] }]), /pickupGroups/);
    assert.equal(stored('call-settings', '200'), undefined);
  });
});

describe('data.get', () => {
  it('shows pinSet instead of a PIN hash', async () => {
    temp.store.serviceData.put('example.com', 'conference-rooms', '500', { name: 'Sales' });
    const room = await invoke('data.get', ['conference-rooms', '500']) as Record<string, HostValue>;
    assert.deepEqual([room.number, room.name, room.pinSet, room.maxMembers], ['500', 'Sales', false, 20]);
    temp.store.serviceData.put('example.com', 'mailboxes', '200', {});
    await invoke('mailbox.set_pin', ['200', '4321']);
    const mailbox = await invoke('data.get', ['mailboxes', '200']) as Record<string, HostValue>;
    assert.equal(mailbox.pinSet, true);
    assert.ok(!('pinHash' in mailbox));
    assert.ok(!JSON.stringify(mailbox).includes('scrypt'));
  });

  it('reads the call\'s domain only', async () => {
    temp.store.serviceData.put('other.com', 'ring-groups', '600', { members: ['200'] });
    assert.equal(await invoke('data.get', ['ring-groups', '600']), null);
    const group = await invoke('data.get', ['ring-groups', '600'], CALL_THERE) as Record<string, HostValue>;
    assert.deepEqual(group.members, ['200']);
  });

  it('names the kinds there are when asked for another', async () => {
    await assert.rejects(invoke('data.get', ['queues', 'x']), { message: /^data\.get: no data kind "queues" \(kinds: ring-groups, .*mailboxes.*\)$/ });
  });
});

describe('extension.is_busy and log', () => {
  it('asks about the number in the call\'s domain', async () => {
    busy.add('200@example.com');
    assert.equal(await invoke('extension.is_busy', ['200']), true);
    assert.equal(await invoke('extension.is_busy', ['200'], CALL_THERE), false);
  });

  it('logs at the level asked, with the service and the call, and cuts a long message', async () => {
    await invoke('log.warn', ['x'.repeat(5000)]);
    await invoke('log.info', ['short']);
    await invoke('log.error', [42]);
    const lines = logLines.filter((l) => l.service === SERVICE);
    assert.deepEqual(lines.map((l) => [l.level, l.call, (l.msg as string).length]), [[40, CALL_HERE, 2000], [30, CALL_HERE, 5], [50, CALL_HERE, 2]]);
    await assert.rejects(invoke('log.info', [{}]), { message: 'log.info: argument 1 (message) must be a string, not a table' });
  });
});
