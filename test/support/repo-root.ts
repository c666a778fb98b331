import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root, found by walking up from this module: it runs from dist/test/support
 * after compilation, so a fixed number of `..` would break when the layout changes.
 */
function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'bin', 'switchboard.js'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root (package.json + bin/switchboard.js) not found');
    dir = parent;
  }
}

export const repoRoot = findRepoRoot();

