// The voicemail services (lua/services/voicemail.lua and voicemail-main.lua) end to end: a Switchboard
// process, SIPp callers whose audio and key presses the test makes, a SIPp phone watching its message
// lamp (MWI), a real SMTP server, and the messages as they land in the data directory and SQLite.
// The tests build on each other: the message left in the first is listened to in the third.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { readWav } from '../../src/media/wav.js';
import { leaves, parameter, parseMime } from '../mail/mime.js';
import { SmtpTestServer, testIdentity } from '../mail/smtp-test-server.js';
import { sine } from '../support/pcm-signals.js';
import { freePorts } from '../support/ports.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { hasTone, hearInOrder, loudSpan, prompt, toneFrames } from '../support/service-audio.js';
import { callService, type ServiceCall } from '../support/service-caller.js';
import { explainSipp, serverProblems, until } from '../support/sip-test-helpers.js';
import { sippInjection, sippScenario, startSipp, type SippHandle, type SippUser } from '../support/sipp.js';

const HOST = '127.0.0.1';
const SAMPLE_RATE = 8000;
const OWNER = '200';
const CALLER = '201';
/** a second mailbox, so the first keeps exactly one message for the *97 test */
const OTHER_BOX = '202';
const OWNER_EMAIL = 'owner200@example.com';
const PIN = '4321';
const SMTP_USER = 'switchboard';
const SMTP_PASSWORD = 'Smtp-Test-Pw-1';
/** what the callers say into the mailbox: a tone, so its share of the recording can be measured */
const MESSAGE_HZ = 440;
const MESSAGE_SECONDS = 3;
const BEEP_HZ = 1000;

const user = (number: string): SippUser => ({ number, password: `Pw-${number}-Lua7` });

interface MessageRow {
  id: number;
  caller: string;
  duration_ms: number;
  file: string;
  folder: string;
}

describe('Lua voicemail services over SIP (Switchboard process, SIPp, SMTP, SQLite)', { timeout: 120_000 }, () => {
  let server: Switchboard;
  let dataDir: string;
  let smtp: SmtpTestServer;
  let target: string;
  const started: SippHandle[] = [];

  before(async () => {
    const [smtpPort] = (await freePorts(1)) as [number];
    smtp = await SmtpTestServer.start({ port: smtpPort, security: 'none', user: SMTP_USER, password: SMTP_PASSWORD, identity: await testIdentity() });
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'sb-lua-vm-'));
    await writeFile(path.join(dataDir, 'mss_var_param.ini'), [
      '[smtp]',
      `host = ${HOST}`,
      `port = ${smtpPort}`,
      'security = none',
      `user = ${SMTP_USER}`,
      `password = ${SMTP_PASSWORD}`,
      'from = Switchboard <voicemail@switchboard.test>',
      '',
    ].join('\n'));
    server = await startSwitchboard({ dataDir });
    target = `${HOST}:${server.sipPort}`;
    for (const number of [OWNER, CALLER, OTHER_BOX]) await server.createExtension(number, user(number).password);
    await api('POST', '/api/v1/mailboxes', { number: OWNER, email: OWNER_EMAIL }, 201);
    await api('POST', '/api/v1/mailboxes', { number: OTHER_BOX }, 201);
    await api('POST', '/api/v1/service-numbers', { number: '8200', service: 'voicemail', args: { mailbox: OWNER } }, 201);
    await api('POST', '/api/v1/service-numbers', { number: '8202', service: 'voicemail', args: { mailbox: OTHER_BOX } }, 201);
  });

  after(async () => {
    await Promise.all(started.map((s) => s.kill()));
    await server?.stop();
    await smtp?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function api<T = unknown>(method: string, url: string, body: unknown, status: number): Promise<T> {
    const response = await server.api<T>(method, url, body);
    assert.equal(response.status, status, `${method} ${url}: ${JSON.stringify(response.body)}${serverProblems(server)}`);
    return response.body;
  }

  async function dial(caller: string, callee: string, holdMs: number): Promise<ServiceCall> {
    const call = await callService({ target, caller: user(caller), callee, holdMs });
    started.push(call.sipp);
    await call.answered();
    return call;
  }

  function messages(mailbox: string): MessageRow[] {
    const db = new Database(path.join(dataDir, 'switchboard.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT id, caller, duration_ms, file, folder FROM voicemail_messages WHERE mailbox = ? ORDER BY id').all(mailbox) as MessageRow[];
    } finally {
      db.close();
    }
  }

  async function messageFiles(mailbox: string): Promise<string[]> {
    const dir = path.join(dataDir, 'voicemail', HOST, mailbox);
    return (await readdir(dir)).filter((f) => f.endsWith('.wav') && f !== 'greeting.wav').map((f) => path.join(dir, f));
  }

  /** A SIPp phone of the owner subscribed to its message summary for `notifies` NOTIFYs; resolves at the first. */
  async function watchLamp(notifies: number): Promise<SippHandle> {
    const phone = await startSipp({
      scenario: sippScenario('lua/subscribe-mwi-watch'),
      target,
      injection: sippInjection([user(OWNER)]),
      keys: { expires: '300', notifies: String(notifies) },
      timeoutMs: 40_000,
    });
    started.push(phone);
    await phone.waitForLog('notify ', 5_000);
    return phone;
  }

  /** hearInOrder, failing with what the server logged: a service that failed says why there. */
  async function hear(call: ServiceCall, names: readonly string[], after = 0): Promise<number> {
    try {
      return await hearInOrder(call.rtp, names, after);
    } catch (err) {
      throw new Error(`${(err as Error).message}${serverProblems(server)}`, { cause: err });
    }
  }

  /** Waits for the beep after sample `from`; false when none came. */
  async function beepAfter(call: ServiceCall, from: number): Promise<boolean> {
    const window = SAMPLE_RATE / 4;
    return call.rtp.waitForSamples(from + window, 3_000).then(() => hasTone(call.rtp.audio(from, from + window), BEEP_HZ), () => false);
  }

  it('takes a message on 8200: greeting, beep, the audio until #, goodbye; stores, mails and signals it', async () => {
    const lamp = await watchLamp(2);
    const call = await dial(CALLER, '8200', 20_000);
    const promptsEnd = await hear(call, ['vm-greeting-unavailable', 'vm-leave-message']);
    assert.ok(await beepAfter(call, promptsEnd), `a ${BEEP_HZ} Hz beep right after "leave a message"${serverProblems(server)}`);

    await call.rtp.sendAudio(sine(MESSAGE_HZ, SAMPLE_RATE, MESSAGE_SECONDS * SAMPLE_RATE, 8000));
    await call.rtp.pressKeys('#');
    await hear(call, ['goodbye'], promptsEnd);
    const result = await call.done;
    assert.equal(result.code, 0, explainSipp('caller', result) + serverProblems(server));
    assert.match(result.log, /far end hung up/, 'the server hangs up after goodbye');

    const [file, ...others] = await messageFiles(OWNER);
    assert.ok(file, 'one message file in the mailbox');
    assert.deepEqual(others, []);
    const wav = readWav(await readFile(file));
    assert.equal(wav.sampleRate, SAMPLE_RATE);
    const seconds = wav.samples.length / wav.sampleRate;
    assert.ok(Math.abs(seconds - MESSAGE_SECONDS) < 0.5, `the message is the ${MESSAGE_SECONDS} s sent (${seconds.toFixed(2)} s)`);
    const span = loudSpan(wav.samples);
    assert.ok(span.last - span.first > (MESSAGE_SECONDS - 0.3) * SAMPLE_RATE, `not silence: sound spans ${((span.last - span.first) / SAMPLE_RATE).toFixed(2)} s`);
    const tone = toneFrames(wav.samples, MESSAGE_HZ);
    assert.ok(tone > 0.8, `the message is the ${MESSAGE_HZ} Hz tone sent (${(tone * 100).toFixed(1)}% of its frames)`);

    const [row, ...moreRows] = messages(OWNER);
    assert.ok(row, 'one row in voicemail_messages');
    assert.deepEqual(moreRows, []);
    assert.equal(row.caller, CALLER);
    assert.equal(row.folder, 'new');
    assert.equal(path.resolve(dataDir, row.file), file, 'the row names the file');
    assert.ok(Math.abs(row.duration_ms - seconds * 1000) < 100, `duration ${row.duration_ms} ms for ${seconds.toFixed(2)} s of audio`);

    const mail = await until('the mail to the owner', () => smtp.received[0]);
    assert.deepEqual(mail.recipients, [OWNER_EMAIL]);
    const attachment = leaves(parseMime(mail.raw)).find((part) => (parameter(part.headers.get('content-disposition') ?? '', 'filename') ?? '').endsWith('.wav'));
    assert.ok(attachment, 'a WAV attachment');
    assert.ok(attachment.body.equals(await readFile(file)), 'the attachment is the stored message, byte for byte');

    const watched = await lamp.done;
    assert.equal(watched.code, 0, explainSipp('MWI phone', watched) + serverProblems(server));
    assert.deepEqual(watched.log.match(/^notify .*$/gm), ['notify no 0/0 (0/0)', 'notify yes 1/0 (0/0)']);
  });

  it('keeps the message when the caller hangs up instead of pressing #', async () => {
    // the greeting and "leave a message" take 4.3 s and the beep 0.25 s: the caller then talks for 2 s or so
    const call = await dial(CALLER, '8202', 7_000);
    const promptsEnd = await hear(call, ['vm-greeting-unavailable', 'vm-leave-message']);
    assert.ok(await beepAfter(call, promptsEnd), `a beep before the recording${serverProblems(server)}`);
    let talking = true;
    const hungUp = call.done.finally(() => (talking = false));
    while (talking) await call.rtp.sendAudio(sine(MESSAGE_HZ, SAMPLE_RATE, SAMPLE_RATE / 10, 8000));
    const result = await hungUp;
    assert.equal(result.code, 0, explainSipp('caller', result) + serverProblems(server));
    assert.match(result.log, /^hung up/m, 'the caller ended the call');

    const [row, ...moreRows] = await until('the message row', () => (messages(OTHER_BOX).length > 0 ? messages(OTHER_BOX) : undefined));
    assert.deepEqual(moreRows, []);
    assert.equal(row!.folder, 'new');
    const wav = readWav(await readFile(path.resolve(dataDir, row!.file)));
    const seconds = wav.samples.length / wav.sampleRate;
    assert.ok(seconds > 1 && seconds < 3.5, `what was said before the hang-up is kept (${seconds.toFixed(2)} s)`);
    const tone = toneFrames(wav.samples, MESSAGE_HZ);
    assert.ok(tone > 0.8, `the message is the tone sent (${(tone * 100).toFixed(1)}% of its frames)`);
  });

  it('plays the new message on *97 after the PIN, saves it with 9, and the lamp goes out', async () => {
    await api('PATCH', `/api/v1/mailboxes/${OWNER}`, { pin: PIN }, 200);
    const [message] = messages(OWNER);
    assert.ok(message, 'the message of the first test');
    const stored = readWav(await readFile(path.resolve(dataDir, message.file))).samples;
    const lamp = await watchLamp(2);

    const call = await dial(OWNER, '*97', 30_000);
    await hear(call, ['vm-enter-pin']);
    await call.rtp.pressKeys(`${PIN}#`);
    const counted = await hear(call, ['vm-you-have', 'digit-1', 'vm-new-message', 'digit-0', 'vm-saved-messages']);
    await call.rtp.pressKeys('1');
    const played = await call.rtp.waitForSound(stored, 'the message', { after: counted, timeoutMs: 10_000 });
    assert.ok(played.end - played.start >= (MESSAGE_SECONDS - 0.5) * SAMPLE_RATE, 'the whole message plays');
    const menuStart = (await prompt('vm-message-menu')).subarray(0, SAMPLE_RATE);
    await call.rtp.waitForSound(menuStart, 'the start of the message menu', { after: played.end });
    await call.rtp.pressKeys('9');
    await hear(call, ['vm-saved', 'vm-no-more-messages'], played.end);

    const watched = await lamp.done;
    assert.equal(watched.code, 0, explainSipp('MWI phone', watched) + serverProblems(server));
    assert.deepEqual(watched.log.match(/^notify .*$/gm), ['notify yes 1/0 (0/0)', 'notify no 0/1 (0/0)']);
    assert.equal(messages(OWNER)[0]!.folder, 'saved');

    const active = (await api<Array<{ id: string; callee: string }>>('GET', '/api/v1/calls', undefined, 200)).find((c) => c.callee === '*97');
    assert.ok(active, 'the *97 call is still up, in the main menu');
    await api('DELETE', `/api/v1/calls/${encodeURIComponent(active.id)}`, undefined, 204);
    const result = await call.done;
    assert.equal(result.code, 0, explainSipp('caller', result) + serverProblems(server));
  });

  it('says goodbye and hangs up after three wrong PINs on *97', async () => {
    const before = messages(OWNER);
    const call = await dial(OWNER, '*97', 30_000);
    let heard = await hear(call, ['vm-enter-pin']);
    for (let attempt = 1; attempt <= 3; attempt++) {
      await call.rtp.pressKeys('9999#');
      heard = await hear(call, ['vm-wrong-pin'], heard);
    }
    await hear(call, ['goodbye'], heard);
    const result = await call.done;
    assert.equal(result.code, 0, explainSipp('caller', result) + serverProblems(server));
    assert.match(result.log, /far end hung up/, 'the server hangs up');
    assert.deepEqual(messages(OWNER), before, 'the mailbox is untouched');
  });
});
