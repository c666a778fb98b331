import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type { SettingsRepository } from '../store/types.js';

/** The settings key holding the admin password hash. */
export const ADMIN_PASSWORD_SETTING = 'api.adminPasswordHash';
const SCHEME = 'scrypt';
// N=2^15, r=8 costs ~32 MiB and tens of milliseconds: slow for a guesser, fine for an admin.
const COST = { N: 32768, r: 8, p: 1 };
const KEY_LENGTH = 64;
const SALT_BYTES = 16;
const GENERATED_PASSWORD_BYTES = 18; // 24 base64url characters

function derive(password: string, salt: Buffer, N: number, r: number, p: number): Buffer {
  return scryptSync(password, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r });
}

/** The parameters travel inside the stored string so they can be raised later without breaking old hashes. */
function hashAdminPassword(password: string): string {
  const salt = randomBytes(SALT_BYTES);
  const key = derive(password, salt, COST.N, COST.r, COST.p);
  return [SCHEME, COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/**
 * With an environment password, (re)sets the hash to it. Without one and with nothing stored, generates
 * a strong password and returns it so the caller can print it once; only its hash is ever stored.
 */
export function ensureAdminCredential(settings: SettingsRepository, envPassword: string | undefined): { generatedPassword?: string } {
  if (envPassword !== undefined && envPassword !== '') {
    settings.set(ADMIN_PASSWORD_SETTING, hashAdminPassword(envPassword));
    return {};
  }
  if (settings.get(ADMIN_PASSWORD_SETTING) !== undefined) return {};
  const generatedPassword = randomBytes(GENERATED_PASSWORD_BYTES).toString('base64url');
  settings.set(ADMIN_PASSWORD_SETTING, hashAdminPassword(generatedPassword));
  return { generatedPassword };
}

/** Runs scrypt on libuv's thread pool: tens of milliseconds per try must never stall SIP on the event loop. */
export async function verifyAdminPassword(settings: SettingsRepository, password: string): Promise<boolean> {
  const stored = settings.get(ADMIN_PASSWORD_SETTING);
  return stored !== undefined && verifyAgainst(stored, password);
}

async function verifyAgainst(stored: string, password: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== SCHEME) return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return false;
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  const actual = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r }, (err, key) => (err ? reject(err) : resolve(key))),
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
