// Shared by the store tests: a real SQLite file in a fresh temp directory, removed afterwards.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/types.js';

export interface TempStore {
  dir: string;
  file: string;
  store: Store;
  reopen(): Store;
  cleanup(): void;
}

export function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sb-store-'));
}

export function openTempStore(): TempStore {
  const dir = makeTempDir();
  const file = path.join(dir, 'switchboard.db');
  const temp: TempStore = {
    dir,
    file,
    store: openSqliteStore(file),
    reopen() {
      temp.store.close();
      temp.store = openSqliteStore(file);
      return temp.store;
    },
    cleanup() {
      temp.store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return temp;
}
