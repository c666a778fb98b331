import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, waitForSip } from './processes.js';
import { processTree } from './procfs.js';
import type { ServerUnderTest } from './server-under-test.js';
import { workDir } from './sipp.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// The reference handed to us beside the checkout (../shared), else the copy the tests keep.
const REFERENCE_CONFIG = [
  path.join(repoRoot, '..', 'shared', 'bench', 'kamailio-reference.cfg.in'),
  path.join(repoRoot, 'test', 'support', 'kamailio-reference.cfg.in'),
].find((file) => existsSync(file)) ?? path.join(repoRoot, 'test', 'support', 'kamailio-reference.cfg.in');
const STARTUP_TIMEOUT_MS = 10_000;

/** Kamailio with the shared reference configuration: passwords derive from the user name, so nothing to provision. */
export async function startKamailio(sipPort: number): Promise<ServerUnderTest> {
  const dir = mkdtempSync(path.join(workDir, 'kamailio-'));
  const config = path.join(dir, 'kamailio.cfg');
  writeFileSync(config, readFileSync(REFERENCE_CONFIG, 'utf8').replaceAll('BENCHPORT', String(sipPort)));
  // -Y: a private runtime directory, so parallel Kamailio instances do not collide.
  const child = startChild('kamailio', ['-f', config, '-DD', '-E', '-m', '256', '-M', '16', '-n', '2', '-Y', dir], { cwd: dir });
  try {
    await waitForSip(sipPort, STARTUP_TIMEOUT_MS, () => !child.hasExited());
  } catch (error) {
    await child.stop();
    throw new Error(`Kamailio did not start: ${(error as Error).message}\n${child.output().slice(-2000)}`);
  }
  return {
    name: 'Kamailio',
    sipPort,
    pids: () => processTree(child.pid),
    provision: async () => {},
    output: () => child.output(),
    stop: async () => { await child.stop(); },
  };
}
