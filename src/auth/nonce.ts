import { createHmac, timingSafeEqual } from 'node:crypto';
import { pooledRandom } from '../sip/random-pool.js';

// Layout: 6 bytes issue time (ms) | 8 random bytes | first 16 bytes of HMAC-SHA256(secret, time|random|realm).
// The server keeps no state per issued nonce: the MAC proves we issued it, for this realm, at that time.
const TIME_BYTES = 6;
const RANDOM_BYTES = 8;
const MAC_BYTES = 16;
const BODY_BYTES = TIME_BYTES + RANDOM_BYTES;
const NONCE_BYTES = BODY_BYTES + MAC_BYTES;
const NONCE_TEXT_LENGTH = Math.ceil((NONCE_BYTES * 4) / 3);

export type NonceCheck =
  | { authentic: true; issuedAt: number }
  | { authentic: false };

const FORGED: NonceCheck = { authentic: false };

export class NonceCodec {
  private readonly secret: Buffer;
  private readonly scratch = Buffer.alloc(NONCE_BYTES);

  constructor(secret: Buffer) {
    if (secret.length < 16) throw new RangeError('nonce secret must be at least 16 bytes');
    this.secret = secret;
  }

  issue(realm: string, now: number): string {
    const buf = this.scratch;
    buf.writeUIntBE(now, 0, TIME_BYTES);
    pooledRandom(RANDOM_BYTES).copy(buf, TIME_BYTES);
    this.mac(buf, realm).copy(buf, BODY_BYTES, 0, MAC_BYTES);
    return buf.toString('base64url');
  }

  check(nonce: string, realm: string): NonceCheck {
    if (nonce.length !== NONCE_TEXT_LENGTH) return FORGED;
    const buf = Buffer.from(nonce, 'base64url');
    if (buf.length !== NONCE_BYTES) return FORGED;
    const expected = this.mac(buf, realm);
    if (!timingSafeEqual(expected.subarray(0, MAC_BYTES), buf.subarray(BODY_BYTES))) return FORGED;
    return { authentic: true, issuedAt: buf.readUIntBE(0, TIME_BYTES) };
  }

  private mac(buf: Buffer, realm: string): Buffer {
    return createHmac('sha256', this.secret).update(buf.subarray(0, BODY_BYTES)).update(realm).digest();
  }
}
