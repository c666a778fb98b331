import { createHash } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

/** HA1 = H(username:realm:password), the only form in which extension passwords are stored. */
export function computeHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(`${username}:${realm}:${password}`).digest('hex');
}
