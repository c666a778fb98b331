import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../store/types.js';
import { verifyAdminPassword } from './admin-credential.js';

const ADMIN_USER = 'admin';
const REALM = 'Switchboard';
const TOKEN_PREFIX = 'sbt_';
// scrypt is slow on purpose; remembering a good header briefly keeps a busy console responsive.
const BASIC_CACHE_TTL_MS = 60_000;
const BASIC_CACHE_MAX_ENTRIES = 256;
const MAX_FAILURES_PER_WINDOW = 10;
const FAILURE_WINDOW_MS = 60_000;
const MAX_TRACKED_ADDRESSES = 10_000;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A new bearer token; the caller shows it once and stores only sha256Hex(token). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Builds the onRequest hook for protected routes: HTTP Basic as admin, or a bearer token made through the API.
 * The Basic cache holds only hashes of accepted headers, never the password.
 */
export function createAuthenticator(store: Store): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const acceptedBasic = new Map<string, number>();
  const failures = new FailedLogins();

  async function basicIsValid(header: string, credentials: string): Promise<boolean> {
    const key = sha256Hex(header);
    const now = Date.now();
    const until = acceptedBasic.get(key);
    if (until !== undefined && until > now) return true;
    acceptedBasic.delete(key);
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0 || decoded.slice(0, colon) !== ADMIN_USER) return false;
    if (!(await verifyAdminPassword(store.settings, decoded.slice(colon + 1)))) return false;
    if (acceptedBasic.size >= BASIC_CACHE_MAX_ENTRIES) acceptedBasic.clear();
    acceptedBasic.set(key, now + BASIC_CACHE_TTL_MS);
    return true;
  }

  function bearerIsValid(token: string): boolean {
    const found = store.tokens.findByHash(sha256Hex(token));
    if (!found) return false;
    store.tokens.touch(found.id, Date.now());
    return true;
  }

  return async (request, reply) => {
    const header = request.headers.authorization;
    const [scheme, value] = header ? splitOnce(header.trim(), ' ') : ['', ''];
    let failure: string;
    if (!header) failure = 'authentication required: use HTTP Basic as admin or a bearer token';
    else if (scheme.toLowerCase() === 'basic') {
      if (failures.blocked(request.ip)) {
        return reply.code(429).header('retry-after', String(FAILURE_WINDOW_MS / 1000)).send({ error: 'too many failed logins from this address; try again later' });
      }
      if (await basicIsValid(header, value.trim())) return undefined;
      failures.record(request.ip);
      failure = 'invalid admin credentials';
    } else if (scheme.toLowerCase() === 'bearer') {
      if (bearerIsValid(value.trim())) return undefined;
      failure = 'invalid or revoked token';
    } else failure = `unsupported authorization scheme "${scheme}"`;
    return reply.code(401).header('www-authenticate', `Basic realm="${REALM}"`).send({ error: failure });
  };
}

/** Online guessing gets a handful of tries per address and window, then 429 until the window ends. */
class FailedLogins {
  private readonly byAddress = new Map<string, { count: number; windowStart: number }>();

  blocked(address: string): boolean {
    const entry = this.byAddress.get(address);
    if (!entry) return false;
    if (Date.now() - entry.windowStart >= FAILURE_WINDOW_MS) {
      this.byAddress.delete(address);
      return false;
    }
    return entry.count >= MAX_FAILURES_PER_WINDOW;
  }

  record(address: string): void {
    const now = Date.now();
    const entry = this.byAddress.get(address);
    if (entry && now - entry.windowStart < FAILURE_WINDOW_MS) entry.count++;
    else {
      if (this.byAddress.size >= MAX_TRACKED_ADDRESSES) this.byAddress.clear();
      this.byAddress.set(address, { count: 1, windowStart: now });
    }
  }
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}
