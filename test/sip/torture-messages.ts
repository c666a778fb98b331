// The RFC 4475 messages live outside the repository, in ../shared/conformance/rfc4475 next to the
// repository root; the root is found by walking up from this file to package.json.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 10; depth++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('package.json not found above the test file');
}

export const TORTURE_DIR = resolve(repositoryRoot(), '../shared/conformance/rfc4475');

export function tortureNames(): string[] {
  return readdirSync(TORTURE_DIR)
    .filter((f) => f.endsWith('.dat'))
    .map((f) => f.slice(0, -4))
    .sort();
}

export function readTorture(name: string): Buffer {
  return readFileSync(join(TORTURE_DIR, `${name}.dat`));
}
