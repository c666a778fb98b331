// SIP digest authentication, server side (RFC 3261 §22, RFC 7616, RFC 8760): MD5 and SHA-256,
// qop="auth" and RFC 2069-style credentials without qop. Nonces are stateless (see nonce.ts); only
// nonce counts are remembered, to stop replays.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Credentials } from '../sip/message.js';
import { quote } from '../sip/params.js';
import type { DigestAlgorithm } from './ha1.js';
import { NonceCodec } from './nonce.js';
import { NonceCountTracker } from './nonce-counts.js';

export interface DigestOptions {
  /** one challenge per algorithm, in this order: clients often answer only the first */
  algorithms: DigestAlgorithm[];
  nonceLifetimeSeconds: number;
  /** epoch milliseconds */
  now: () => number;
  /** HMAC key for nonces; pass a persisted one so nonces stay valid across restarts */
  secret?: Buffer;
  /** cap on nonces whose counts are remembered (default 100000) */
  maxTrackedNonces?: number;
}

export type VerifyResult =
  | { outcome: 'ok'; username: string; algorithm: DigestAlgorithm }
  | { outcome: 'missing' }
  | { outcome: 'stale' }
  /** `why` is for the server log only; never send it to the client */
  | { outcome: 'invalid'; why: string };

export type Ha1Lookup = (username: string, algorithm: DigestAlgorithm) => string | undefined;

const MISSING: VerifyResult = { outcome: 'missing' };
const STALE: VerifyResult = { outcome: 'stale' };
const NC_PATTERN = /^[0-9a-fA-F]{8}$/;
const DEFAULT_MAX_TRACKED_NONCES = 100_000;

const HASH_NAME: Record<DigestAlgorithm, string> = { 'MD5': 'md5', 'SHA-256': 'sha256' };
const DIGEST_BYTES: Record<DigestAlgorithm, number> = { 'MD5': 16, 'SHA-256': 32 };

function invalid(why: string): VerifyResult {
  return { outcome: 'invalid', why };
}

/** The `algorithm` parameter as a supported algorithm; absent means MD5 (RFC 2617 §3.2.1). */
export function parseDigestAlgorithm(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined) return 'MD5';
  const upper = value.toUpperCase();
  return upper === 'MD5' || upper === 'SHA-256' ? upper : undefined;
}

function hashHex(algorithm: DigestAlgorithm, text: string): string {
  return createHash(HASH_NAME[algorithm]).update(text).digest('hex');
}

function responseDigest(
  algorithm: DigestAlgorithm, ha1: string, nonce: string, method: string, uri: string,
  qop: string | undefined, nc: string | undefined, cnonce: string | undefined,
): Buffer {
  const ha2 = hashHex(algorithm, `${method}:${uri}`);
  const text = qop === undefined ? `${ha1}:${nonce}:${ha2}` : `${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`;
  return createHash(HASH_NAME[algorithm]).update(text).digest();
}

export interface DigestResponseInput {
  algorithm: DigestAlgorithm;
  ha1: string;
  nonce: string;
  method: string;
  uri: string;
  /** omit all three for RFC 2069-style credentials */
  qop?: string;
  nc?: string;
  cnonce?: string;
}

/** The `response` parameter a client computes (hex); also what outbound registration sends. */
export function computeDigestResponse(input: DigestResponseInput): string {
  const { algorithm, ha1, nonce, method, uri, qop, nc, cnonce } = input;
  return responseDigest(algorithm, ha1, nonce, method, uri, qop, nc, cnonce).toString('hex');
}

export class DigestAuthenticator {
  private readonly algorithms: readonly DigestAlgorithm[];
  private readonly lifetimeMs: number;
  private readonly now: () => number;
  private readonly nonces: NonceCodec;
  private readonly counts: NonceCountTracker;
  /** unknown users are checked against these so they cost the same as a wrong password */
  private readonly dummyHa1: Record<DigestAlgorithm, string>;

  constructor(opts: DigestOptions) {
    if (opts.algorithms.length === 0) throw new RangeError('at least one digest algorithm is required');
    if (new Set(opts.algorithms).size !== opts.algorithms.length) throw new RangeError('digest algorithms repeat');
    if (!(opts.nonceLifetimeSeconds > 0)) throw new RangeError('nonce lifetime must be positive');
    this.algorithms = [...opts.algorithms];
    this.lifetimeMs = opts.nonceLifetimeSeconds * 1000;
    this.now = opts.now;
    this.nonces = new NonceCodec(opts.secret ?? randomBytes(32));
    this.counts = new NonceCountTracker(opts.maxTrackedNonces ?? DEFAULT_MAX_TRACKED_NONCES, opts.now());
    this.dummyHa1 = {
      'MD5': randomBytes(DIGEST_BYTES['MD5']).toString('hex'),
      'SHA-256': randomBytes(DIGEST_BYTES['SHA-256']).toString('hex'),
    };
  }

  challenges(realm: string, stale = false): string[] {
    const prefix = `Digest realm=${quote(realm)}, nonce="${this.nonces.issue(realm, this.now())}", algorithm=`;
    const suffix = stale ? ', qop="auth", stale=true' : ', qop="auth"';
    return this.algorithms.map((algorithm) => prefix + algorithm + suffix);
  }

  verify(credentials: Credentials[], method: string, realm: string, lookupHa1: Ha1Lookup): VerifyResult {
    const chosen = this.choose(credentials, realm);
    if (chosen === undefined) return MISSING;
    const { params } = chosen;
    const algorithm = parseDigestAlgorithm(params.algorithm);
    if (algorithm === undefined || !this.algorithms.includes(algorithm)) return invalid('algorithm not offered');
    const { username, nonce, uri, response } = params;
    if (!username || !nonce || !uri || !response) return invalid('missing username, nonce, uri or response');

    const qop = params.qop;
    let ncValue = 0;
    if (qop !== undefined) {
      if (qop.toLowerCase() !== 'auth') return invalid('unsupported qop');
      if (!params.cnonce || params.nc === undefined || !NC_PATTERN.test(params.nc)) return invalid('bad cnonce or nc');
      ncValue = parseInt(params.nc, 16);
    }

    const given = Buffer.from(response, 'hex');
    if (response.length !== DIGEST_BYTES[algorithm] * 2 || given.length !== DIGEST_BYTES[algorithm]) {
      return invalid('malformed response');
    }
    const storedHa1 = lookupHa1(username, algorithm);
    const ha1 = storedHa1 ?? this.dummyHa1[algorithm];
    const expected = responseDigest(algorithm, ha1, nonce, method, uri, qop, params.nc, params.cnonce);
    const matches = timingSafeEqual(expected, given);
    if (storedHa1 === undefined) return invalid('unknown user');
    if (!matches) return invalid('wrong password');

    // The client knows the password; a nonce we cannot vouch for only means it must fetch a new one.
    const now = this.now();
    const check = this.nonces.check(nonce, realm);
    if (!check.authentic || now - check.issuedAt > this.lifetimeMs) return STALE;
    if (qop !== undefined) {
      const verdict = this.counts.accept(nonce, ncValue, check.issuedAt, check.issuedAt + this.lifetimeMs, now);
      if (verdict === 'forgotten') return STALE;
      if (verdict === 'replayed') return invalid('nonce count replayed');
    } else if (this.counts.accept(nonce, 1, check.issuedAt, check.issuedAt + this.lifetimeMs, now) !== 'accepted') {
      // without qop there is no count to guard replays: each nonce serves once, then a fresh one
      return STALE;
    }
    return { outcome: 'ok', username, algorithm };
  }

  /** Our realm's credentials, preferring the algorithm offered first when the client sent several. */
  private choose(credentials: Credentials[], realm: string): Credentials | undefined {
    let firstForRealm: Credentials | undefined;
    for (const algorithm of this.algorithms) {
      for (const c of credentials) {
        if (c.params.realm !== realm || c.scheme.toLowerCase() !== 'digest') continue;
        firstForRealm ??= c;
        if (parseDigestAlgorithm(c.params.algorithm) === algorithm) return c;
      }
    }
    return firstForRealm;
  }
}
