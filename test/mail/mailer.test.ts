import { test, describe, before, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SqliteMailOutbox, type OutgoingMail } from '../../src/store/sqlite-mail-outbox.js';
import { Mailer, SENT_MAIL_KEPT_MS, type SmtpSettings } from '../../src/mail/mailer.js';
import { encodeWav } from '../../src/media/wav.js';
import type { TlsIdentity } from '../../src/transport/certificate.js';
import { FakeClock } from '../support/fake-clock.js';
import { freePort } from '../support/ports.js';
import { captureLog, openTempDataDir, type CapturedLog, type TempDataDir } from '../voicemail/temp-data-dir.js';
import { leaves, parameter, parseMime, textOf } from './mime.js';
import { SmtpTestServer, testIdentity, type TestServerSecurity } from './smtp-test-server.js';

const START = Date.UTC(2025, 0, 2, 3, 4, 5);
const USER = 'pbx@example.com';
const PASSWORD = 'Secr3t;Pa55#word';
const MINUTE = 60_000;

let identity: TlsIdentity;
let temp: TempDataDir;
let outbox: SqliteMailOutbox;
let clock: FakeClock;
let log: CapturedLog;
let port: number;
const servers: SmtpTestServer[] = [];
const mailers: Mailer[] = [];

before(async () => {
  identity = await testIdentity();
});

beforeEach(async () => {
  temp = openTempDataDir();
  outbox = new SqliteMailOutbox(temp.db);
  clock = new FakeClock(START);
  log = captureLog();
  port = await freePort();
});

afterEach(async () => {
  await Promise.all(mailers.splice(0).map((m) => m.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  temp.cleanup();
});

function settings(overrides: Partial<SmtpSettings> = {}): SmtpSettings {
  return {
    host: '127.0.0.1', port, security: 'starttls', verify_certificate: false,
    user: USER, password: PASSWORD, from: 'Switchboard <voicemail@pbx.test>', timeout_seconds: 5,
    ...overrides,
  };
}

function startMailer(overrides: Partial<SmtpSettings> = {}): Mailer {
  const mailer = new Mailer({ outbox, smtp: settings(overrides), dataDir: temp.dir, log: log.logger, clock });
  mailers.push(mailer);
  mailer.start();
  return mailer;
}

async function startServer(security: TestServerSecurity, password = PASSWORD): Promise<SmtpTestServer> {
  const server = await SmtpTestServer.start({ port, security, user: USER, password, identity });
  servers.push(server);
  return server;
}

function simpleMail(n = 1): OutgoingMail {
  return { recipient: `owner${n}@example.com`, subject: `New voicemail ${n}`, body: `Message ${n}` };
}

function wavInDataDir(relative: string): Buffer {
  const samples = new Int16Array(4000);
  for (let i = 0; i < samples.length; i++) samples[i] = (i * 37) % 20000 - 10000;
  const bytes = encodeWav(samples, 8000);
  fs.mkdirSync(path.dirname(path.join(temp.dir, relative)), { recursive: true });
  fs.writeFileSync(path.join(temp.dir, relative), bytes);
  return bytes;
}

function warnings(): Record<string, unknown>[] {
  return log.lines.filter((l) => l.level === 40);
}

describe('delivery', () => {
  test('STARTTLS with AUTH: the server gets the mail and its WAV attachment intact', async () => {
    const server = await startServer('starttls');
    const mailer = startMailer();
    const wav = wavInDataDir('voicemail/example.com/1001/20250102-030405-000.wav');
    const queued = mailer.queue({
      ...simpleMail(), attachmentFile: 'voicemail/example.com/1001/20250102-030405-000.wav', attachmentName: 'voicemail-1001-20250102-030405.wav',
    });
    await mailer.idle();

    assert.equal(server.received.length, 1);
    const received = server.received[0];
    assert.deepEqual(received.recipients, ['owner1@example.com']);
    assert.equal(received.from, 'voicemail@pbx.test');
    assert.equal(received.user, USER);
    assert.equal(received.secure, true, 'upgraded with STARTTLS before sending');

    const mime = parseMime(received.raw);
    assert.equal(mime.headers.get('subject'), 'New voicemail 1');
    assert.equal(mime.headers.get('to'), 'owner1@example.com');
    const [text, attachment] = leaves(mime);
    assert.equal(textOf(text), 'Message 1');
    assert.match(attachment.headers.get('content-type')!, /^audio\/wav/);
    assert.equal(parameter(attachment.headers.get('content-disposition')!, 'filename'), 'voicemail-1001-20250102-030405.wav');
    assert.deepEqual(attachment.body, wav);

    const sent = outbox.get(queued.id)!;
    assert.equal(sent.sentAt, START);
    assert.equal(outbox.pendingCount(), 0);
    const info = log.lines.find((l) => l.msg === 'mail sent')!;
    assert.equal(info.level, 30);
    assert.equal(info.recipient, 'owner1@example.com');
    assert.equal(info.subject, 'New voicemail 1');
    assert.equal(info.messageId, mime.headers.get('message-id'));
    assert.equal(clock.pending(), 0, 'nothing left to retry');
  });

  test('sending a mail deletes mail sent more than 30 days before', async () => {
    const old = outbox.enqueue(simpleMail(), START - SENT_MAIL_KEPT_MS - 2000);
    outbox.markSent(old.id, START - SENT_MAIL_KEPT_MS - 1000);
    const kept = outbox.enqueue(simpleMail(), START - SENT_MAIL_KEPT_MS);
    outbox.markSent(kept.id, START - SENT_MAIL_KEPT_MS + 1000);
    await startServer('tls');
    const mailer = startMailer({ security: 'tls' });
    const queued = mailer.queue(simpleMail());
    await mailer.idle();
    assert.equal(outbox.get(queued.id)!.sentAt, START);
    assert.equal(outbox.get(old.id), undefined, 'sent 30 days and a second ago: gone');
    assert.ok(outbox.get(kept.id), 'sent less than 30 days ago: kept');
  });

  test('implicit TLS', async () => {
    const server = await startServer('tls');
    const mailer = startMailer({ security: 'tls' });
    mailer.queue(simpleMail());
    await mailer.idle();
    assert.equal(server.received.length, 1);
    assert.equal(server.received[0].secure, true);
    assert.equal(server.received[0].user, USER);
  });

  test('security none: plain text with AUTH', async () => {
    const server = await startServer('none');
    const mailer = startMailer({ security: 'none' });
    mailer.queue(simpleMail());
    await mailer.idle();
    assert.equal(server.received.length, 1);
    assert.equal(server.received[0].secure, false);
    assert.equal(server.received[0].user, USER);
  });

  test('several queued mails go out in order', async () => {
    const server = await startServer('starttls');
    const mailer = startMailer();
    for (const n of [1, 2, 3]) mailer.queue(simpleMail(n));
    await mailer.idle();
    assert.deepEqual(server.received.map((m) => m.recipients[0]), ['owner1@example.com', 'owner2@example.com', 'owner3@example.com']);
    assert.equal(outbox.pendingCount(), 0);
  });

  test('an attachment removed before sending: the text still goes out, with a note', async () => {
    const server = await startServer('starttls');
    const mailer = startMailer();
    mailer.queue({ ...simpleMail(), attachmentFile: 'voicemail/example.com/1001/gone.wav', attachmentName: 'voicemail-1001.wav' });
    await mailer.idle();
    assert.equal(server.received.length, 1);
    const parts = leaves(parseMime(server.received[0].raw));
    assert.equal(parts.length, 1);
    assert.match(textOf(parts[0]), /^Message 1\n\n\(The recording was removed before this mail could be sent\.\)$/);
    assert.ok(warnings().some((l) => l.msg === 'mail attachment is gone; sending without it'));
  });

  test('close waits for the mail being sent', async () => {
    const server = await startServer('starttls');
    const mailer = startMailer();
    await mailer.idle();
    const queued = mailer.queue(simpleMail());
    await mailer.close();
    assert.equal(server.received.length, 1);
    assert.equal(outbox.get(queued.id)!.sentAt, START);
    mailer.queue(simpleMail(2));
    await mailer.idle();
    assert.equal(server.received.length, 1, 'a closed mailer sends nothing');
    assert.equal(outbox.pendingCount(), 1);
  });
});

describe('failures are retried, never dropped', () => {
  test('server down: the mail stays queued and goes out at the next attempt once the server is up', async () => {
    const mailer = startMailer();
    const queued = mailer.queue(simpleMail());
    await mailer.idle();

    const failed = outbox.get(queued.id)!;
    assert.equal(failed.attempts, 1);
    assert.match(failed.lastError!, /ECONNREFUSED/);
    assert.equal(failed.nextAttemptAt, START + MINUTE);
    assert.equal(failed.sentAt, null);
    const [warning] = warnings();
    assert.equal(warning.msg, 'mail not sent; will retry');
    assert.equal(warning.mailId, queued.id);
    assert.equal(warning.attempts, 1);
    assert.match(String(warning.err), /ECONNREFUSED/);
    assert.equal(warning.nextAttemptAt, new Date(START + MINUTE).toISOString());

    const server = await startServer('starttls');
    clock.advance(MINUTE - 1);
    await mailer.idle();
    assert.equal(server.received.length, 0, 'not before its time');
    clock.advance(1);
    await mailer.idle();
    assert.equal(server.received.length, 1);
    assert.equal(outbox.get(queued.id)!.sentAt, START + MINUTE);
  });

  test('the retry schedule: 1, 5, 15 minutes, then hourly', async () => {
    const mailer = startMailer();
    const queued = mailer.queue(simpleMail());
    await mailer.idle();
    const gaps: number[] = [];
    let last = START;
    for (let attempt = 1; attempt <= 6; attempt++) {
      const row = outbox.get(queued.id)!;
      assert.equal(row.attempts, attempt);
      gaps.push(row.nextAttemptAt - last);
      clock.advance(row.nextAttemptAt - clock.now() - 1);
      await mailer.idle();
      assert.equal(outbox.get(queued.id)!.attempts, attempt, 'no attempt before it is due');
      clock.advance(1);
      await mailer.idle();
      last = row.nextAttemptAt;
    }
    assert.deepEqual(gaps, [MINUTE, 5 * MINUTE, 15 * MINUTE, 60 * MINUTE, 60 * MINUTE, 60 * MINUTE]);
    assert.equal(outbox.pendingCount(), 1);
  });

  test('a 5xx answer is retried too', async () => {
    const server = await startServer('starttls');
    server.rejectWith = 554;
    const mailer = startMailer();
    const queued = mailer.queue(simpleMail());
    await mailer.idle();
    const failed = outbox.get(queued.id)!;
    assert.equal(failed.attempts, 1);
    assert.match(failed.lastError!, /554/);

    server.rejectWith = undefined;
    clock.advance(MINUTE);
    await mailer.idle();
    assert.equal(server.received.length, 1);
    assert.equal(outbox.get(queued.id)!.sentAt, START + MINUTE);
  });

  test('a wrong password is retried and the password never reaches the log or the queue', async () => {
    await startServer('starttls', 'the-right-one');
    const mailer = startMailer();
    const queued = mailer.queue(simpleMail());
    await mailer.idle();
    const failed = outbox.get(queued.id)!;
    assert.equal(failed.attempts, 1);
    assert.match(failed.lastError!, /535|login|auth/i);
    assert.equal(warnings().length, 1);
    assert.equal(log.text().includes(PASSWORD), false);
    assert.equal(log.text().includes(Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')), false);
    assert.equal(failed.lastError!.includes(PASSWORD), false);
  });

  test('starttls is required: a server without it gets nothing', async () => {
    const server = await startServer('none');
    const mailer = startMailer({ security: 'starttls' });
    const queued = mailer.queue(simpleMail());
    await mailer.idle();
    assert.equal(server.received.length, 0);
    assert.equal(outbox.get(queued.id)!.attempts, 1);
    assert.match(outbox.get(queued.id)!.lastError!, /STARTTLS/i);
  });

  test('verify_certificate refuses a self-signed certificate', async () => {
    const server = await startServer('starttls');
    const mailer = startMailer({ verify_certificate: true });
    const queued = mailer.queue(simpleMail());
    await mailer.idle();
    assert.equal(server.received.length, 0);
    assert.match(outbox.get(queued.id)!.lastError!, /certificate/i);
  });

  test('a new Mailer on the same database picks up the queue', async () => {
    const first = startMailer();
    const queued = first.queue(simpleMail());
    await first.idle();
    await first.close();
    assert.equal(clock.pending(), 0, 'a closed mailer leaves no timer');
    assert.equal(outbox.get(queued.id)!.attempts, 1);

    outbox = new SqliteMailOutbox(temp.reopen());
    const server = await startServer('starttls');
    const second = startMailer();
    await second.idle();
    assert.equal(server.received.length, 0, 'waits for the attempt that was scheduled');
    clock.advance(MINUTE);
    await second.idle();
    assert.equal(server.received.length, 1);
    assert.equal(outbox.get(queued.id)!.sentAt, START + MINUTE);
    assert.ok(log.lines.some((l) => l.msg === 'mailer started' && l.pending === 1));
  });
});

describe('email off', () => {
  test('an empty host sends nothing, keeps mail queued and says so once', async () => {
    const mailer = startMailer({ host: '' });
    const queued = mailer.queue(simpleMail());
    mailer.kick();
    await mailer.idle();
    clock.advance(24 * 60 * MINUTE);
    assert.equal(clock.pending(), 0);
    assert.deepEqual(outbox.get(queued.id), { ...queued });
    assert.equal(outbox.get(queued.id)!.attempts, 0);
    assert.equal(log.lines.filter((l) => l.msg === 'voicemail email is off: [smtp] host is empty; mail stays queued').length, 1);
  });
});
