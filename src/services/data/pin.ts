// PINs of mailboxes and conference rooms: stored only as a salted scrypt hash.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** 4-12 digits: what a caller can key on a phone. */
export const PIN_PATTERN = '^[0-9]{4,12}$';
const PIN = new RegExp(PIN_PATTERN);

const SCHEME = 'scrypt';
// 16 MiB and a few tens of milliseconds per try: a guesser pays for every PIN, a caller does not notice.
const COST = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_BYTES = 16;

// Always on libuv's thread pool: scrypt on the event loop would stall SIP and media for every caller.
function derive(pin: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(pin, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** "scrypt$N$r$p$salt$key": the cost travels with the hash so it can be raised without breaking stored PINs. */
export async function hashPin(pin: string): Promise<string> {
  if (!PIN.test(pin)) throw new RangeError('a PIN is 4-12 digits');
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(pin, salt, COST.N, COST.r, COST.p);
  return [SCHEME, COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** false for a wrong PIN and for anything that is not a hash made by hashPin. */
export async function verifyPin(stored: string, pin: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== SCHEME) return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return false;
  const expected = Buffer.from(parts[5], 'base64');
  const actual = await derive(pin, Buffer.from(parts[4], 'base64'), N, r, p);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
