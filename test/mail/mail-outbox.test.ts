import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteMailOutbox } from '../../src/store/sqlite-mail-outbox.js';
import { openTempDataDir, type TempDataDir } from '../voicemail/temp-data-dir.js';

let temp: TempDataDir;
let outbox: SqliteMailOutbox;

beforeEach(() => {
  temp = openTempDataDir();
  outbox = new SqliteMailOutbox(temp.db);
});
afterEach(() => temp.cleanup());

function mail(n: number) {
  return { recipient: `user${n}@example.com`, subject: `subject ${n}`, body: `body ${n}` };
}

describe('SqliteMailOutbox', () => {
  test('a queued mail is due at once and keeps every field', () => {
    const queued = outbox.enqueue({ ...mail(1), attachmentFile: 'voicemail/example.com/1001/a.wav', attachmentName: 'voicemail-1001.wav' }, 5000);
    assert.deepEqual(queued, {
      id: queued.id, createdAt: 5000, recipient: 'user1@example.com', subject: 'subject 1', body: 'body 1',
      attachmentFile: 'voicemail/example.com/1001/a.wav', attachmentName: 'voicemail-1001.wav',
      attempts: 0, nextAttemptAt: 5000, lastError: null, sentAt: null,
    });
    assert.deepEqual(outbox.get(queued.id), queued);
    assert.deepEqual(outbox.due(4999, 10), []);
    assert.deepEqual(outbox.due(5000, 10), [queued]);
    assert.equal(outbox.enqueue(mail(2), 5000).attachmentFile, null);
  });

  test('due is in order of next attempt and honours the limit', () => {
    const a = outbox.enqueue(mail(1), 1000);
    const b = outbox.enqueue(mail(2), 2000);
    const c = outbox.enqueue(mail(3), 3000);
    outbox.markFailed(a.id, 'refused', 10_000);
    assert.deepEqual(outbox.due(10_000, 10).map((m) => m.id), [b.id, c.id, a.id]);
    assert.deepEqual(outbox.due(10_000, 2).map((m) => m.id), [b.id, c.id]);
    assert.deepEqual(outbox.due(9_999, 10).map((m) => m.id), [b.id, c.id]);
  });

  test('a failure counts an attempt, keeps the error and moves the next attempt', () => {
    const queued = outbox.enqueue(mail(1), 1000);
    outbox.markFailed(queued.id, 'connect ECONNREFUSED', 61_000);
    outbox.markFailed(queued.id, '554 refused', 361_000);
    const failed = outbox.get(queued.id)!;
    assert.equal(failed.attempts, 2);
    assert.equal(failed.lastError, '554 refused');
    assert.equal(failed.nextAttemptAt, 361_000);
    assert.equal(outbox.nextAttemptAt(), 361_000);
    assert.equal(outbox.pendingCount(), 1);
  });

  test('a sent mail is no longer due or pending', () => {
    const a = outbox.enqueue(mail(1), 1000);
    const b = outbox.enqueue(mail(2), 2000);
    outbox.markSent(a.id, 1500);
    assert.equal(outbox.get(a.id)!.sentAt, 1500);
    assert.deepEqual(outbox.due(10_000, 10).map((m) => m.id), [b.id]);
    assert.equal(outbox.pendingCount(), 1);
    assert.equal(outbox.nextAttemptAt(), 2000);
    outbox.markSent(b.id, 2500);
    assert.equal(outbox.pendingCount(), 0);
    assert.equal(outbox.nextAttemptAt(), undefined);
  });

  test('forgetting sent mail deletes only mail sent before the time given', () => {
    const [old, recent, unsent] = [1, 2, 3].map((n) => outbox.enqueue(mail(n), n * 1000));
    outbox.markSent(old!.id, 5000);
    outbox.markSent(recent!.id, 9000);
    assert.equal(outbox.forgetSentBefore(9000), 1);
    assert.equal(outbox.get(old!.id), undefined);
    assert.deepEqual(outbox.list().map((m) => m.id), [unsent!.id, recent!.id], 'recent sent mail and unsent mail stay');
  });

  test('list is newest first, by state, limited', () => {
    const ids = [1, 2, 3, 4].map((n) => outbox.enqueue(mail(n), n * 1000).id);
    outbox.markSent(ids[1], 5000);
    assert.deepEqual(outbox.list().map((m) => m.id), [...ids].reverse());
    assert.deepEqual(outbox.list({ state: 'pending' }).map((m) => m.id), [ids[3], ids[2], ids[0]]);
    assert.deepEqual(outbox.list({ state: 'sent' }).map((m) => m.id), [ids[1]]);
    assert.deepEqual(outbox.list({ limit: 2 }).map((m) => m.id), [ids[3], ids[2]]);
  });

  test('the queue survives a restart', () => {
    const queued = outbox.enqueue(mail(1), 1000);
    outbox.markFailed(queued.id, 'timeout', 61_000);
    outbox = new SqliteMailOutbox(temp.reopen());
    assert.deepEqual(outbox.due(61_000, 10), [{ ...queued, attempts: 1, lastError: 'timeout', nextAttemptAt: 61_000 }]);
  });
});
