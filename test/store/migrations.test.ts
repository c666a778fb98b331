import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, migrate, schemaVersion } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { makeTempDir } from './temp-store.js';

const LATEST = MIGRATIONS[MIGRATIONS.length - 1].version;
let dir: string | undefined;
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function dbFile(): string {
  const created = makeTempDir();
  dir = created;
  return path.join(created, 'switchboard.db');
}

function versionOf(file: string): number {
  const db = new Database(file);
  try { return schemaVersion(db); } finally { db.close(); }
}

test('migration versions are 1, 2, 3, ... with no gaps', () => {
  assert.deepEqual(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => i + 1));
});

test('a fresh database reaches the latest version', () => {
  const file = dbFile();
  openSqliteStore(file).close();
  assert.equal(versionOf(file), LATEST);
});

test('reopening is idempotent and keeps data', () => {
  const file = dbFile();
  const first = openSqliteStore(file);
  first.settings.set('k', 'v');
  first.close();
  const second = openSqliteStore(file);
  assert.equal(second.settings.get('k'), 'v');
  second.close();
  assert.equal(versionOf(file), LATEST);
});

test('a version 1 database with data is upgraded keeping its rows', () => {
  const file = dbFile();
  const old = new Database(file);
  migrate(old, MIGRATIONS.slice(0, 1));
  assert.equal(schemaVersion(old), 1);
  old.exec(`INSERT INTO domains (name, is_default) VALUES ('pbx.example.com', 1);
    INSERT INTO extensions (domain, number, display_name, ha1_md5, ha1_sha256, settings, created_at, updated_at)
      VALUES ('pbx.example.com', '101', 'Alice', 'md5hash', 'shahash', '{"dnd":true}', 1000, 2000);
    INSERT INTO bindings (domain, number, contact, contact_uri, q, expires_at, call_id, cseq, transport,
      source_address, source_port, user_agent, registered_at)
      VALUES ('pbx.example.com', '101', '<sip:101@10.0.0.5>', 'sip:101@10.0.0.5', 1, 9999999999999, 'c1', 1, 'UDP', '10.0.0.5', 5060, 'Phone', 1000);
    INSERT INTO settings (key, value) VALUES ('setup', 'done');`);
  old.close();

  const store = openSqliteStore(file);
  try {
    assert.equal(versionOf(file), LATEST);
    assert.deepEqual(store.domains.get('pbx.example.com'), { id: 1, name: 'pbx.example.com', isDefault: true });
    const ext = store.extensions.find('pbx.example.com', '101');
    assert.equal(ext?.displayName, 'Alice');
    assert.deepEqual(ext?.settings, { dnd: true });
    assert.equal(store.bindings.list('pbx.example.com', '101').length, 1);
    assert.equal(store.settings.get('setup'), 'done');
    assert.equal(store.callRecords.query({}).total, 0, 'tables of later migrations exist');
    assert.equal(store.tokens.list().length, 0);
  } finally {
    store.close();
  }
});

test('a version 3 database with call records is upgraded: existing records have no end reason', () => {
  const file = dbFile();
  const old = new Database(file);
  migrate(old, MIGRATIONS.slice(0, 3));
  assert.equal(schemaVersion(old), 3);
  old.exec(`INSERT INTO call_records (call_id, domain, caller, callee, started_at, answered_at, ended_at, duration_seconds,
      disposition, final_status, hangup_by)
    VALUES ('old-1', 'pbx.example.com', '101', '102', 1000, 2000, 62000, 60, 'answered', 200, 'system'),
           ('old-2', 'pbx.example.com', '101', '103', 3000, NULL, 9000, 0, 'busy', 486, NULL);`);
  old.close();

  const store = openSqliteStore(file);
  try {
    assert.equal(versionOf(file), LATEST);
    const { total, items } = store.callRecords.query({});
    assert.equal(total, 2);
    assert.deepEqual(items.map((r) => [r.callId, r.hangupBy, r.endReason]), [['old-2', null, null], ['old-1', 'system', null]]);
    const added = store.callRecords.insert({ callId: 'new-1', domain: 'pbx.example.com', caller: '101', callee: '102', startedAt: 5000,
      answeredAt: 6000, endedAt: 38000, durationSeconds: 32, disposition: 'answered', finalStatus: 200, hangupBy: 'system', endReason: 'ack_timeout' });
    assert.equal(store.callRecords.get(added.id)?.endReason, 'ack_timeout');
  } finally {
    store.close();
  }
});

test('a version 4 database with extensions is upgraded: existing extensions have direct media off', () => {
  const file = dbFile();
  const old = new Database(file);
  migrate(old, MIGRATIONS.slice(0, 4));
  assert.equal(schemaVersion(old), 4);
  old.exec(`INSERT INTO domains (name, is_default) VALUES ('pbx.example.com', 1);
    INSERT INTO extensions (domain, number, display_name, ha1_md5, ha1_sha256, settings, created_at, updated_at)
      VALUES ('pbx.example.com', '101', 'Alice', 'md5-101', 'sha-101', '{}', 1000, 2000),
             ('pbx.example.com', '102', 'Bob', 'md5-102', 'sha-102', '{"dnd":true}', 1500, 2500);`);
  old.close();

  const store = openSqliteStore(file);
  try {
    assert.equal(versionOf(file), LATEST);
    assert.deepEqual(store.extensions.list().map((e) => [e.number, e.displayName, e.ha1Md5, e.updatedAt, e.directMedia]),
      [['101', 'Alice', 'md5-101', 2000, false], ['102', 'Bob', 'md5-102', 2500, false]]);
    const bob = store.extensions.find('pbx.example.com', '102')!;
    assert.equal(store.extensions.update(bob.id, { directMedia: true })?.directMedia, true);
    assert.equal(store.extensions.find('pbx.example.com', '101')?.directMedia, false);
  } finally {
    store.close();
  }
});

test('the database refuses an end reason it does not know', () => {
  const file = dbFile();
  openSqliteStore(file).close();
  const db = new Database(file);
  try {
    assert.throws(() => db.exec(`INSERT INTO call_records (call_id, domain, caller, callee, started_at, ended_at, disposition,
        final_status, end_reason) VALUES ('c', 'd', '1', '2', 0, 0, 'failed', 500, 'bored')`), /CHECK constraint failed/);
  } finally {
    db.close();
  }
});

test('a database newer than the code gives a clear one-line error', () => {
  const file = dbFile();
  const db = new Database(file);
  db.pragma(`user_version = ${LATEST + 7}`);
  db.close();
  assert.throws(() => openSqliteStore(file), {
    message: `cannot open database ${file}: its schema version ${LATEST + 7} is newer than this Switchboard supports (${LATEST}); upgrade Switchboard or restore a backup`,
  });
});

test('a failing migration is rolled back as a whole', () => {
  const file = dbFile();
  const db = new Database(file);
  try {
    const broken = [...MIGRATIONS.slice(0, 1), { version: 2, name: 'broken', up: 'CREATE TABLE half (a); INSERT INTO nowhere VALUES (1);' }];
    assert.throws(() => migrate(db, broken), /no such table: nowhere/);
    assert.equal(schemaVersion(db), 1);
    const half = db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get();
    assert.equal(half, undefined);
  } finally {
    db.close();
  }
});
