import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { encodeWav, readWav } from '../../src/media/wav.js';
import { SqliteVoicemailRepository } from '../../src/store/sqlite-voicemail.js';
import { VoicemailBox } from '../../src/voicemail/voicemail-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLog, openTempDataDir, type CapturedLog, type TempDataDir } from './temp-data-dir.js';

/** 2025-03-04 05:06:07.089 UTC */
const START = Date.UTC(2025, 2, 4, 5, 6, 7, 89);

let temp: TempDataDir;
let clock: FakeClock;
let log: CapturedLog;
let box: VoicemailBox;

function openBox(): VoicemailBox {
  return new VoicemailBox({ repository: new SqliteVoicemailRepository(temp.db), dataDir: temp.dir, log: log.logger, clock });
}

/** A real WAV where the media layer leaves recordings; each call a different tone so files differ. */
let recordings = 0;
function recordWav(seconds = 1): string {
  recordings++;
  const samples = new Int16Array(8000 * seconds);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 100 * recordings * i) / 8000));
  const file = path.join(temp.dir, 'recordings', `rec-${recordings}.wav`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encodeWav(samples, 8000));
  return file;
}

function wavFilesIn(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.wav')).sort() : [];
}

beforeEach(() => {
  temp = openTempDataDir(['example.com', 'other.org']);
  clock = new FakeClock(START);
  log = captureLog();
  box = openBox();
});
afterEach(() => temp.cleanup());

describe('deposit', () => {
  test('moves the WAV into the mailbox and records a new message', async () => {
    const recording = recordWav();
    const bytes = fs.readFileSync(recording);
    const message = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', callerName: 'Alice', recordingFile: recording, durationMs: 1000 });

    assert.equal(message.file, 'voicemail/example.com/1001/20250304-050607-089.wav');
    assert.equal(box.filePath(message), path.join(temp.dir, 'voicemail', 'example.com', '1001', '20250304-050607-089.wav'));
    assert.deepEqual(fs.readFileSync(box.filePath(message)), bytes);
    assert.equal(readWav(fs.readFileSync(box.filePath(message))).samples.length, 8000);
    assert.equal(fs.existsSync(recording), false, 'the recording was moved, not copied');
    assert.deepEqual(message, {
      id: message.id, domain: 'example.com', mailbox: '1001', caller: '1002', callerName: 'Alice',
      receivedAt: START, durationMs: 1000, file: message.file, folder: 'new',
    });
    assert.deepEqual(box.get(message.id), message);
    assert.deepEqual(box.counts('example.com', '1001'), { newCount: 1, savedCount: 0 });
    assert.ok(log.lines.some((l) => l.msg === 'voicemail message stored' && l.messageId === message.id));
  });

  test('a recording given relative to the data directory is found there', async () => {
    const recording = recordWav();
    const message = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: path.relative(temp.dir, recording), durationMs: 1000 });
    assert.equal(message.callerName, '');
    assert.ok(fs.existsSync(box.filePath(message)));
    assert.equal(fs.existsSync(recording), false);
  });

  test('two messages in the same millisecond keep both recordings', async () => {
    const first = recordWav();
    const second = recordWav();
    const firstBytes = fs.readFileSync(first);
    const secondBytes = fs.readFileSync(second);
    const a = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: first, durationMs: 1000 });
    const b = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1003', recordingFile: second, durationMs: 1000 });
    assert.equal(b.file, 'voicemail/example.com/1001/20250304-050607-089-2.wav');
    assert.deepEqual(fs.readFileSync(box.filePath(a)), firstBytes);
    assert.deepEqual(fs.readFileSync(box.filePath(b)), secondBytes);
  });

  test('a row that cannot be written leaves the recording where it was and no message', async () => {
    const recording = recordWav();
    const bytes = fs.readFileSync(recording);
    await assert.rejects(
      box.deposit({ domain: 'unknown.net', mailbox: '1001', caller: '1002', recordingFile: recording, durationMs: 1000 }),
      /FOREIGN KEY/,
    );
    assert.deepEqual(fs.readFileSync(recording), bytes);
    assert.deepEqual(wavFilesIn(path.join(temp.dir, 'voicemail', 'unknown.net', '1001')), []);
    assert.deepEqual(box.list('unknown.net', '1001'), []);
  });

  test('a missing recording is an error and stores nothing', async () => {
    await assert.rejects(
      box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: path.join(temp.dir, 'nope.wav'), durationMs: 1000 }),
      { code: 'ENOENT' },
    );
    assert.deepEqual(box.counts('example.com', '1001'), { newCount: 0, savedCount: 0 });
  });

  test('names that could leave the voicemail directory are refused before anything moves', async () => {
    const recording = recordWav();
    for (const [domain, mailbox] of [['example.com', '..'], ['..', '1001'], ['example.com', 'a/b'], ['example.com', ''], ['example.com', '.hidden']]) {
      await assert.rejects(box.deposit({ domain, mailbox, caller: '1002', recordingFile: recording, durationMs: 1000 }), RangeError, `${domain} ${mailbox}`);
    }
    assert.ok(fs.existsSync(recording));
    assert.equal(fs.existsSync(path.join(temp.dir, 'voicemail')), false);
  });

  test('a duration that is not a whole number of milliseconds is refused', async () => {
    const recording = recordWav();
    for (const durationMs of [-1, 1.5, Number.NaN]) {
      await assert.rejects(box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: recording, durationMs }), RangeError);
    }
    assert.ok(fs.existsSync(recording));
  });
});

describe('folders, counts and deletion', () => {
  test('list is oldest first and filters by folder; markSaved moves a message', async () => {
    const ids: number[] = [];
    for (const caller of ['1002', '1003', '1004']) {
      ids.push((await box.deposit({ domain: 'example.com', mailbox: '1001', caller, recordingFile: recordWav(), durationMs: 1000 })).id);
      clock.advance(1000);
    }
    assert.equal(box.markSaved(ids[1]), true);
    assert.deepEqual(box.list('example.com', '1001').map((m) => m.caller), ['1002', '1003', '1004']);
    assert.deepEqual(box.list('example.com', '1001', 'new').map((m) => m.id), [ids[0], ids[2]]);
    assert.deepEqual(box.list('example.com', '1001', 'saved').map((m) => m.id), [ids[1]]);
    assert.deepEqual(box.counts('example.com', '1001'), { newCount: 2, savedCount: 1 });
    assert.equal(box.markSaved(9999), false);
  });

  test('delete removes the row and the file', async () => {
    const message = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: recordWav(), durationMs: 1000 });
    assert.equal(await box.delete(message.id), true);
    assert.equal(box.get(message.id), undefined);
    assert.equal(fs.existsSync(box.filePath(message)), false);
    assert.deepEqual(box.counts('example.com', '1001'), { newCount: 0, savedCount: 0 });
    assert.equal(await box.delete(message.id), false);
  });

  test('mailboxes and domains are kept apart', async () => {
    await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: recordWav(), durationMs: 1000 });
    await box.deposit({ domain: 'other.org', mailbox: '1001', caller: '1002', recordingFile: recordWav(), durationMs: 1000 });
    await box.deposit({ domain: 'example.com', mailbox: '1005', caller: '1002', recordingFile: recordWav(), durationMs: 1000 });
    assert.equal(box.list('example.com', '1001').length, 1);
    assert.equal(box.list('other.org', '1001').length, 1);
    assert.deepEqual(box.counts('example.com', '1005'), { newCount: 1, savedCount: 0 });
  });

  test('deleteMailbox removes its messages, files and greeting, and nothing else', async () => {
    const kept = await box.deposit({ domain: 'example.com', mailbox: '1005', caller: '1002', recordingFile: recordWav(), durationMs: 1000 });
    await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: recordWav(), durationMs: 1000 });
    await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1003', recordingFile: recordWav(), durationMs: 1000 });
    await box.saveGreeting('example.com', '1001', recordWav());

    assert.equal(await box.deleteMailbox('example.com', '1001'), 2);
    assert.deepEqual(box.list('example.com', '1001'), []);
    assert.equal(fs.existsSync(path.join(temp.dir, 'voicemail', 'example.com', '1001')), false);
    assert.equal(await box.greetingFile('example.com', '1001'), undefined);
    assert.deepEqual(box.list('example.com', '1005').map((m) => m.id), [kept.id]);
    assert.ok(fs.existsSync(box.filePath(kept)));
  });

  test('messages and their files survive a restart', async () => {
    const message = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: recordWav(), durationMs: 2500 });
    box.markSaved(message.id);
    temp.reopen();
    box = openBox();
    const [again] = box.list('example.com', '1001');
    assert.deepEqual(again, { ...message, folder: 'saved' });
    assert.ok(fs.existsSync(box.filePath(again)));
  });
});

describe('greetings', () => {
  test('none until saved; a new one replaces the old', async () => {
    assert.equal(await box.greetingFile('example.com', '1001'), undefined);
    const first = recordWav();
    const firstBytes = fs.readFileSync(first);
    await box.saveGreeting('example.com', '1001', first);
    const greeting = path.join(temp.dir, 'voicemail', 'example.com', '1001', 'greeting.wav');
    assert.equal(await box.greetingFile('example.com', '1001'), greeting);
    assert.deepEqual(fs.readFileSync(greeting), firstBytes);
    assert.equal(fs.existsSync(first), false);

    const second = recordWav(2);
    const secondBytes = fs.readFileSync(second);
    await box.saveGreeting('example.com', '1001', second);
    assert.deepEqual(fs.readFileSync(greeting), secondBytes);
    assert.deepEqual(wavFilesIn(path.dirname(greeting)), ['greeting.wav']);
  });

  test('a greeting is not a message', async () => {
    await box.saveGreeting('example.com', '1001', recordWav());
    assert.deepEqual(box.counts('example.com', '1001'), { newCount: 0, savedCount: 0 });
  });

  test('greeting names are checked like message names', async () => {
    await assert.rejects(box.saveGreeting('example.com', '../1001', recordWav()), RangeError);
    await assert.rejects(box.greetingFile('..', '1001'), RangeError);
  });
});

describe('onChange', () => {
  test('hears every change to a mailbox\'s counts, until unsubscribed', async () => {
    const heard: string[] = [];
    const stop = box.onChange((domain, mailbox) => heard.push(`${mailbox}@${domain} ${JSON.stringify(box.counts(domain, mailbox))}`));
    const message = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: recordWav(), durationMs: 1000 });
    box.markSaved(message.id);
    box.markSaved(message.id);
    const other = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1003', recordingFile: recordWav(), durationMs: 1000 });
    await box.delete(other.id);
    await box.deleteMailbox('example.com', '1001');
    await box.saveGreeting('example.com', '1001', recordWav());
    stop();
    await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1004', recordingFile: recordWav(), durationMs: 1000 });
    assert.deepEqual(heard, [
      '1001@example.com {"newCount":1,"savedCount":0}',
      '1001@example.com {"newCount":0,"savedCount":1}',
      '1001@example.com {"newCount":1,"savedCount":1}',
      '1001@example.com {"newCount":0,"savedCount":1}',
      '1001@example.com {"newCount":0,"savedCount":0}',
    ]);
  });

  test('a listener that throws is logged and does not undo the deposit', async () => {
    box.onChange(() => { throw new Error('phone gone'); });
    const heard: string[] = [];
    box.onChange((_domain, mailbox) => heard.push(mailbox));
    const message = await box.deposit({ domain: 'example.com', mailbox: '1001', caller: '1002', recordingFile: recordWav(), durationMs: 1000 });
    assert.deepEqual(heard, ['1001']);
    assert.ok(box.get(message.id));
    assert.ok(log.lines.some((l) => l.level === 50 && l.msg === 'voicemail change listener failed' && l.err === 'phone gone'));
  });
});
