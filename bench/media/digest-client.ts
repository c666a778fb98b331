// The client half of SIP digest (RFC 3261 §22.4, RFC 7616): answering a 401 or 407 challenge.
// bench/digest.ts measures the server half and has no client; the hashing is src/auth's own.
import { randomBytes } from 'node:crypto';
import { computeDigestResponse, parseDigestAlgorithm } from '../../src/auth/digest.js';
import { computeHa1, type DigestAlgorithm } from '../../src/auth/ha1.js';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  /** "auth" when the server offers it; absent means RFC 2069-style credentials */
  qop?: 'auth';
  opaque?: string;
}

function params(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of value.matchAll(/([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^,\s]+))/g)) {
    out.set(match[1]!.toLowerCase(), match[2] ?? match[3]!);
  }
  return out;
}

/** The first Digest challenge (WWW- or Proxy-Authenticate value) whose algorithm we can answer. */
export function parseChallenge(values: readonly string[]): DigestChallenge | undefined {
  for (const value of values) {
    if (!/^\s*digest\s/i.test(value)) continue;
    const p = params(value.replace(/^\s*digest\s/i, ''));
    const algorithm = parseDigestAlgorithm(p.get('algorithm'));
    const realm = p.get('realm');
    const nonce = p.get('nonce');
    if (!algorithm || realm === undefined || nonce === undefined) continue;
    const qops = (p.get('qop') ?? '').split(',').map((q) => q.trim());
    return { realm, nonce, algorithm, qop: qops.includes('auth') ? 'auth' : undefined, opaque: p.get('opaque') };
  }
  return undefined;
}

export interface DigestRequest {
  username: string;
  password: string;
  method: string;
  uri: string;
  /** Nonce count: 1 for the first use of a nonce. */
  nonceCount?: number;
}

/** The value of the Authorization or Proxy-Authorization header answering `challenge`. */
export function digestCredentials(challenge: DigestChallenge, request: DigestRequest, cnonce = randomBytes(8).toString('hex')): string {
  const { realm, nonce, algorithm, qop, opaque } = challenge;
  const nc = (request.nonceCount ?? 1).toString(16).padStart(8, '0');
  const ha1 = computeHa1(algorithm, request.username, realm, request.password);
  const response = computeDigestResponse({
    algorithm, ha1, nonce, method: request.method, uri: request.uri, ...(qop ? { qop, nc, cnonce } : {}),
  });
  const parts = [
    `username="${request.username}"`, `realm="${realm}"`, `nonce="${nonce}"`, `uri="${request.uri}"`,
    `response="${response}"`, `algorithm=${algorithm}`,
  ];
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
  if (opaque !== undefined) parts.push(`opaque="${opaque}"`);
  return `Digest ${parts.join(', ')}`;
}
