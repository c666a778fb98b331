// Micro-benchmark: digest verifications per second, each with its own nonce as when every REGISTER
// follows a fresh 401. Credentials are built before timing. Run: node dist/bench/digest.js [count]
import { pathToFileURL } from 'node:url';
import { computeHa1, type DigestAlgorithm } from '../src/auth/ha1.js';
import { computeDigestResponse, DigestAuthenticator } from '../src/auth/digest.js';
import type { Credentials } from '../src/sip/message.js';

export interface DigestBenchResult {
  name: string;
  operations: number;
  perSecond: number;
}

const REALM = 'bench.example.com';
const URI = 'sip:bench.example.com';

function perSecond(count: number, started: bigint): number {
  return Math.round(count / (Number(process.hrtime.bigint() - started) / 1e9));
}

function run(algorithm: DigestAlgorithm, count: number): DigestBenchResult[] {
  const auth = new DigestAuthenticator({ algorithms: [algorithm], nonceLifetimeSeconds: 300, now: Date.now, maxTrackedNonces: count });
  const ha1 = new Map<string, string>();
  for (let i = 0; i < 1000; i++) ha1.set(String(1000 + i), computeHa1(algorithm, String(1000 + i), REALM, `secret${i}`));
  const lookup = (username: string): string | undefined => ha1.get(username);

  let started = process.hrtime.bigint();
  const nonces: string[] = [];
  for (let i = 0; i < count; i++) nonces.push(/nonce="([^"]+)"/.exec(auth.challenges(REALM)[0])![1]);
  const challengeRate = perSecond(count, started);

  const credentials: Credentials[][] = nonces.map((nonce, i) => {
    const username = String(1000 + (i % 1000));
    const params = { username, realm: REALM, nonce, uri: URI, algorithm, qop: 'auth', nc: '00000001', cnonce: `c${i}` };
    const response = computeDigestResponse({ ...params, ha1: ha1.get(username)!, method: 'REGISTER' });
    return [{ scheme: 'Digest', params: { ...params, response } }];
  });

  started = process.hrtime.bigint();
  for (const c of credentials) {
    if (auth.verify(c, 'REGISTER', REALM, lookup).outcome !== 'ok') throw new Error('verification failed');
  }
  return [
    { name: `${algorithm} challenges`, operations: count, perSecond: challengeRate },
    { name: `${algorithm} verifications`, operations: count, perSecond: perSecond(count, started) },
  ];
}

export function benchDigest(count = 100_000): DigestBenchResult[] {
  run('MD5', 10_000);
  return [...run('MD5', count), ...run('SHA-256', count)];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = Number(process.argv[2]) || undefined;
  for (const r of benchDigest(count)) console.log(`${r.name}: ${r.perSecond.toLocaleString('en')} /s (${r.operations})`);
}
