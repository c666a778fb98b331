// Moves a recording into a mailbox so that it is on disk, under its new name, before anything refers
// to it: a power cut right after the move must not leave a row pointing at a missing or empty file.

import { constants, copyFile, link, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** link() fails with these on another file system or one without hard links: copy instead. */
const CANNOT_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/** Moves `from` to `to`; false, with `from` left in place, when `to` already exists. */
export async function moveIfAbsent(from: string, to: string): Promise<boolean> {
  await syncFile(from);
  try {
    await link(from, to);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    if (!CANNOT_LINK.has(errorCode(err))) throw err;
    if (!(await copyExclusive(from, to))) return false;
  }
  await syncDirectory(dirname(to));
  await removeLeftover(from);
  return true;
}

/** Moves `from` to `to`, replacing `to` in one step: a reader sees the old file or the new one. */
export async function moveReplacing(from: string, to: string): Promise<void> {
  await syncFile(from);
  try {
    await rename(from, to);
  } catch (err) {
    if (errorCode(err) !== 'EXDEV') throw err;
    const partial = `${to}.partial`;
    await copyFile(from, partial);
    await syncFile(partial);
    await rename(partial, to);
    await removeLeftover(from);
  }
  await syncDirectory(dirname(to));
}

async function copyExclusive(from: string, to: string): Promise<boolean> {
  try {
    await copyFile(from, to, constants.COPYFILE_EXCL);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    // EXCL: whatever exists at `to` now is our half-written copy
    await unlink(to).catch(() => undefined);
    throw err;
  }
  await syncFile(to);
  return true;
}

/** The file is safe in its new place; a source that cannot be removed only wastes space. */
async function removeLeftover(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(path: string): Promise<void> {
  await syncFile(path);
}

function errorCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? '');
}
