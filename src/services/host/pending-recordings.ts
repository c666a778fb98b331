// Recordings a script made and never kept (voicemail.save moves the ones it keeps): left in
// <data-dir>/recordings/pending, they would fill the disk. Swept at start and every hour; a file is
// left alone until it is older than any recording still in progress could be.
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../../transaction/clock.js';
import { PENDING_RECORDINGS_DIR } from './service-call.js';

/** call:record's longest recording (an hour) and the script's 30 s grace after the call, with margin */
export const PENDING_RECORDING_MAX_AGE_MS = 2 * 3600 * 1000;
const SWEEP_EVERY_MS = 3600 * 1000;

/** Deletes pending recordings last written before `now - PENDING_RECORDING_MAX_AGE_MS`; how many. */
export async function sweepPendingRecordings(dataDir: string, now: number, logger: Logger): Promise<number> {
  const dir = path.join(dataDir, PENDING_RECORDINGS_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const info = await stat(file);
      if (!info.isFile() || info.mtimeMs >= now - PENDING_RECORDING_MAX_AGE_MS) continue;
      await rm(file, { force: true });
      removed++;
    } catch (err) {
      logger.warn({ err: String(err), file }, 'could not remove an unused recording');
    }
  }
  if (removed > 0) logger.info({ removed }, 'removed recordings that no service kept');
  return removed;
}

/** Sweeps now and every hour until the returned function is called. */
export function sweepPendingRecordingsHourly(dataDir: string, clock: Clock, logger: Logger): () => void {
  let timer: unknown;
  let stopped = false;
  const sweep = (): void => {
    sweepPendingRecordings(dataDir, clock.now(), logger)
      .catch((err: unknown) => logger.warn({ err: String(err) }, 'could not sweep unused recordings'))
      .finally(() => {
        if (!stopped) timer = clock.setTimer(SWEEP_EVERY_MS, sweep);
      });
  };
  sweep();
  return () => {
    stopped = true;
    clock.clearTimer(timer);
  };
}
