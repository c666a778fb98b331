import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { makeTempDir, openTempStore } from './temp-store.js';

test('opens in WAL mode with foreign keys on', () => {
  const temp = openTempStore();
  try {
    temp.store.close();
    const db = new Database(temp.file);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  } finally {
    temp.cleanup();
  }
});

test('a missing directory gives a one-line error naming the file', () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'no', 'such', 'dir', 'x.db');
  try {
    assert.throws(() => openSqliteStore(file), (err: Error) => {
      assert.ok(err.message.startsWith(`cannot open database ${file}: `), err.message);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that is not a database gives a one-line error', () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'notes.db');
  fs.writeFileSync(file, 'this is not sqlite, just a text file that is long enough to have a header\n'.repeat(20));
  try {
    assert.throws(() => openSqliteStore(file), { message: `cannot open database ${file}: file is not a database` });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('data persists across close and reopen', () => {
  const temp = openTempStore();
  try {
    const { store } = temp;
    store.domains.ensureDefault('pbx.example.com');
    const ext = store.extensions.create({ domain: 'pbx.example.com', number: '100', ha1Md5: 'a', ha1Sha256: 'b' });
    store.tokens.create('ci', 'hash-1');
    store.settings.set('theme', 'dark');
    const reopened = temp.reopen();
    assert.deepEqual(reopened.extensions.get(ext.id), ext);
    assert.equal(reopened.domains.get('pbx.example.com')?.isDefault, true);
    assert.equal(reopened.tokens.findByHash('hash-1')?.name, 'ci');
    assert.equal(reopened.settings.get('theme'), 'dark');
  } finally {
    temp.cleanup();
  }
});

test('transaction commits on return and rolls back on throw', () => {
  const temp = openTempStore();
  try {
    const { store } = temp;
    const value = store.transaction(() => {
      store.settings.set('a', '1');
      return 42;
    });
    assert.equal(value, 42);
    assert.throws(() => store.transaction(() => {
      store.settings.set('b', '2');
      store.settings.set('a', 'changed');
      throw new Error('abort');
    }), /abort/);
    assert.equal(store.settings.get('a'), '1');
    assert.equal(store.settings.get('b'), undefined);
  } finally {
    temp.cleanup();
  }
});

test('close twice is harmless', () => {
  const temp = openTempStore();
  temp.store.close();
  temp.cleanup();
});
