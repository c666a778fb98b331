import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { OutgoingMail, QueuedMail } from '../../src/store/sqlite-mail-outbox.js';
import { SqliteMailOutbox } from '../../src/store/sqlite-mail-outbox.js';
import { Mailer } from '../../src/mail/mailer.js';
import { encodeWav } from '../../src/media/wav.js';
import { composeVoicemailEmail, emailNewMessage } from '../../src/voicemail/voicemail-email.js';
import type { VoicemailMessage } from '../../src/store/sqlite-voicemail.js';
import { SqliteVoicemailRepository } from '../../src/store/sqlite-voicemail.js';
import { VoicemailBox } from '../../src/voicemail/voicemail-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { freePort } from '../support/ports.js';
import { leaves, parameter, parseMime, textOf } from '../mail/mime.js';
import { SmtpTestServer, testIdentity } from '../mail/smtp-test-server.js';
import { captureLog, openTempDataDir } from './temp-data-dir.js';

/** 2025-01-02 23:04:05 UTC, already the 3rd in Shanghai */
const RECEIVED = Date.UTC(2025, 0, 2, 23, 4, 5);

const MESSAGE: VoicemailMessage = {
  id: 7, domain: 'example.com', mailbox: '1001', caller: '1002', callerName: 'Alice',
  receivedAt: RECEIVED, durationMs: 12_400, file: 'voicemail/example.com/1001/20250102-230405-000.wav', folder: 'new',
};

describe('composeVoicemailEmail', () => {
  test('English, with the recording attached', () => {
    assert.deepEqual(composeVoicemailEmail(MESSAGE, 'alice@example.com', true, { language: 'en', timeZone: 'UTC' }), {
      recipient: 'alice@example.com',
      subject: 'New voicemail from Alice 1002 (12 s)',
      body: [
        'You have a new voicemail in mailbox 1001 (example.com).',
        '',
        'From: Alice 1002',
        'Received: 2025-01-02 23:04:05 UTC',
        'Duration: 12 s',
        '',
        'The recording is attached.',
      ].join('\n'),
      attachmentFile: MESSAGE.file,
      attachmentName: 'voicemail-1001-20250102-230405.wav',
    });
  });

  test('Chinese, without the recording, in the server\'s time zone', () => {
    const mail = composeVoicemailEmail(MESSAGE, 'alice@example.com', false, { language: 'zh', timeZone: 'Asia/Shanghai' });
    assert.equal(mail.subject, '来自 Alice 1002 的新语音留言（12 秒）');
    assert.equal(mail.body, [
      '您的语音信箱 1001（example.com）有一条新留言。',
      '',
      '来电：Alice 1002',
      '时间：2025-01-03 07:04:05 GMT+8',
      '时长：12 秒',
      '',
      '请拨打语音信箱收听。',
    ].join('\n'));
    assert.equal(mail.attachmentFile, undefined);
    assert.equal(mail.attachmentName, undefined);
  });

  test('the attachment is named by the local date', () => {
    const mail = composeVoicemailEmail(MESSAGE, 'alice@example.com', true, { language: 'en', timeZone: 'Asia/Shanghai' });
    assert.equal(mail.attachmentName, 'voicemail-1001-20250103-070405.wav');
  });

  test('a caller without a name, a short message, and control characters kept out of the subject', () => {
    const bare = composeVoicemailEmail({ ...MESSAGE, callerName: '', durationMs: 300 }, 'a@example.com', false, { language: 'en', timeZone: 'UTC' });
    assert.equal(bare.subject, 'New voicemail from 1002 (1 s)');
    const sameAsNumber = composeVoicemailEmail({ ...MESSAGE, callerName: '1002' }, 'a@example.com', false, { language: 'en', timeZone: 'UTC' });
    assert.equal(sameAsNumber.subject, 'New voicemail from 1002 (12 s)');
    const hostile = composeVoicemailEmail({ ...MESSAGE, callerName: 'Eve\r\nBcc: x@evil.test' }, 'a@example.com', false, { language: 'en', timeZone: 'UTC' });
    assert.equal(hostile.subject, 'New voicemail from Eve Bcc: x@evil.test 1002 (12 s)');
  });
});

describe('emailNewMessage', () => {
  function recordingQueue() {
    const queued: OutgoingMail[] = [];
    return {
      queued,
      queue(mail: OutgoingMail): QueuedMail {
        queued.push(mail);
        return { id: queued.length, createdAt: 0, attachmentFile: null, attachmentName: null, attempts: 0, nextAttemptAt: 0, lastError: null, sentAt: null, ...mail };
      },
    };
  }

  test('no address, no mail', () => {
    const mailer = recordingQueue();
    assert.equal(emailNewMessage(mailer, MESSAGE, { email: null, attachAudio: true }, { language: 'en' }), undefined);
    assert.equal(emailNewMessage(mailer, MESSAGE, { email: '  ', attachAudio: true }, { language: 'en' }), undefined);
    assert.deepEqual(mailer.queued, []);
  });

  test('queues the composed mail to the trimmed address', () => {
    const mailer = recordingQueue();
    const queued = emailNewMessage(mailer, MESSAGE, { email: ' alice@example.com ', attachAudio: true }, { language: 'en', timeZone: 'UTC' });
    assert.deepEqual(mailer.queued, [composeVoicemailEmail(MESSAGE, 'alice@example.com', true, { language: 'en', timeZone: 'UTC' })]);
    assert.equal(queued?.recipient, 'alice@example.com');
  });

  test('end to end: a deposited message reaches a real SMTP server with its WAV', async () => {
    const temp = openTempDataDir();
    const port = await freePort();
    const server = await SmtpTestServer.start({ port, security: 'none', user: 'pbx', password: 'pw-1234', identity: await testIdentity() });
    const clock = new FakeClock(RECEIVED);
    const log = captureLog();
    const mailer = new Mailer({
      outbox: new SqliteMailOutbox(temp.db),
      smtp: { host: '127.0.0.1', port, security: 'none', verify_certificate: true, user: 'pbx', password: 'pw-1234', from: 'PBX <vm@example.com>', timeout_seconds: 5 },
      dataDir: temp.dir,
      log: log.logger,
      clock,
    });
    try {
      mailer.start();
      const box = new VoicemailBox({ repository: new SqliteVoicemailRepository(temp.db), dataDir: temp.dir, log: log.logger, clock });
      const recording = path.join(temp.dir, 'recordings', 'call-1.wav');
      fs.mkdirSync(path.dirname(recording), { recursive: true });
      const samples = new Int16Array(16000).map((_v, i) => Math.round(5000 * Math.sin(i / 3)));
      fs.writeFileSync(recording, encodeWav(samples, 8000));

      const message = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', callerName: '王 Wang', recordingFile: recording, durationMs: 2000 });
      emailNewMessage(mailer, message, { email: 'owner@example.com', attachAudio: true }, { language: 'zh', timeZone: 'UTC' });
      await mailer.idle();

      assert.equal(server.received.length, 1);
      assert.deepEqual(server.received[0].recipients, ['owner@example.com']);
      const mime = parseMime(server.received[0].raw);
      assert.equal(mime.headers.get('subject'), '来自 王 Wang 1002 的新语音留言（2 秒）');
      const [text, attachment] = leaves(mime);
      assert.match(textOf(text), /^您的语音信箱 1001（example\.com）有一条新留言。\n/);
      assert.equal(parameter(attachment.headers.get('content-disposition')!, 'filename'), 'voicemail-1001-20250102-230405.wav');
      assert.deepEqual(attachment.body, fs.readFileSync(box.filePath(message)));
    } finally {
      await mailer.close();
      await server.close();
      temp.cleanup();
    }
  });
});
