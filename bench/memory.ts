import { sleep } from './processes.js';
import { rssKb } from './procfs.js';
import { registerOnce, type RegistrationRun } from './registrations.js';
import type { ServerUnderTest } from './server-under-test.js';

export interface MemoryFigures {
  users: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  /** RSS after the server's transactions of the run have expired (RFC 3261 Timer J is 32 s), if waited for. */
  rssSettledKb?: number;
  kbPerRegistration: number;
  kbPerRegistrationSettled?: number;
  run: RegistrationRun;
}

/** RSS growth when `users` distinct users register once each (the users must be provisioned already). */
export async function measureMemory(server: ServerUnderTest, pid: number, injection: string, users: number, settleMs: number): Promise<MemoryFigures> {
  const rssBeforeKb = rssKb(pid);
  const run = await registerOnce(server, `${server.name}-memory`, injection, users, 200);
  const rssAfterKb = rssKb(pid);
  const figures: MemoryFigures = {
    users,
    rssBeforeKb,
    rssAfterKb,
    kbPerRegistration: (rssAfterKb - rssBeforeKb) / Math.max(1, run.result.successful),
    run,
  };
  if (settleMs > 0) {
    await sleep(settleMs);
    figures.rssSettledKb = rssKb(pid);
    figures.kbPerRegistrationSettled = (figures.rssSettledKb - rssBeforeKb) / Math.max(1, run.result.successful);
  }
  return figures;
}
