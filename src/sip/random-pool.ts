import { randomFillSync } from 'node:crypto';

// Tags, branches and nonces are minted several times per call or registration: drawing them from a
// pool refilled 4 KB at a time costs one call into the CSPRNG per few hundred identifiers.
const pool = Buffer.alloc(4096);
let offset = pool.length;

/** `bytes` cryptographically random bytes; a view into the pool, valid until the next call. */
export function pooledRandom(bytes: number): Buffer {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const start = offset;
  offset += bytes;
  return pool.subarray(start, offset);
}
