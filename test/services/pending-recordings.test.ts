import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { PENDING_RECORDING_MAX_AGE_MS, sweepPendingRecordings, sweepPendingRecordingsHourly } from '../../src/services/host/pending-recordings.js';
import { PENDING_RECORDINGS_DIR } from '../../src/services/host/service-call.js';
import { FakeClock } from '../support/fake-clock.js';

const logger = pino({ level: 'silent' });

describe('sweeping recordings no service kept', () => {
  let dataDir: string;
  let pending: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'sb-pending-'));
    pending = path.join(dataDir, PENDING_RECORDINGS_DIR);
    await mkdir(pending, { recursive: true });
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  async function recording(name: string, ageMs: number, now: number): Promise<void> {
    const file = path.join(pending, name);
    await writeFile(file, 'RIFF');
    const at = new Date(now - ageMs);
    await utimes(file, at, at);
  }

  it('removes files older than a recording in progress can be, and keeps the rest', async () => {
    const now = Date.now();
    await recording('old.wav', PENDING_RECORDING_MAX_AGE_MS + 60_000, now);
    await recording('recent.wav', PENDING_RECORDING_MAX_AGE_MS - 60_000, now);
    await mkdir(path.join(pending, 'not-a-file'));
    assert.equal(await sweepPendingRecordings(dataDir, now, logger), 1);
    assert.deepEqual((await readdir(pending)).sort(), ['not-a-file', 'recent.wav']);
  });

  it('is content with a data directory that has no pending recordings yet', async () => {
    await rm(pending, { recursive: true });
    assert.equal(await sweepPendingRecordings(dataDir, Date.now(), logger), 0);
  });

  it('sweeps at once, then every hour until stopped', async () => {
    const clock = new FakeClock(Date.now());
    await recording('a.wav', PENDING_RECORDING_MAX_AGE_MS + 1000, clock.now());
    const stop = sweepPendingRecordingsHourly(dataDir, clock, logger);
    await until(async () => (await readdir(pending)).length === 0);
    await recording('b.wav', PENDING_RECORDING_MAX_AGE_MS + 1000, clock.now());
    clock.advance(3600 * 1000);
    await until(async () => (await readdir(pending)).length === 0);
    stop();
    await recording('c.wav', PENDING_RECORDING_MAX_AGE_MS + 1000, clock.now());
    clock.advance(3600 * 1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await readdir(pending), ['c.wav'], 'no sweep after stop');
  });
});

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('not swept within a second');
}
