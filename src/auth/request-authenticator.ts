import { createResponse } from '../sip/builders.js';
import { parseCredentials } from '../sip/headers.js';
import type { Credentials, SipRequest, SipResponse } from '../sip/message.js';
import type { Extension, ExtensionRepository } from '../store/types.js';
import type { DigestAuthenticator } from './digest.js';

export type AuthResult = { ok: true; extension: Extension } | { ok: false; response: SipResponse; reason: string };

/**
 * Who is sending this request: digest credentials checked against the extensions of a domain.
 * REGISTER is challenged with 401/WWW-Authenticate, everything else with 407/Proxy-Authenticate.
 */
export class RequestAuthenticator {
  constructor(
    private readonly digest: DigestAuthenticator,
    private readonly extensions: ExtensionRepository,
  ) {}

  authenticate(req: SipRequest, realm: string, toTag: string): AuthResult {
    const registrar = req.method === 'REGISTER';
    // The digest uri is not compared with the Request-URI: SIPp and some phones put the server's
    // address there instead. Replays are stopped by nonce counts, and qop-less nonces serve once.
    const credentials = readCredentials(req, registrar ? 'authorization' : 'proxy-authorization');
    let extension: Extension | undefined;
    const result = this.digest.verify(credentials, req.method, realm, (username, algorithm) => {
      extension = this.extensions.find(realm, username);
      if (!extension) return undefined;
      return algorithm === 'MD5' ? extension.ha1Md5 : extension.ha1Sha256;
    });
    if (result.outcome === 'ok' && extension?.number === result.username) return { ok: true, extension };
    const status = registrar ? 401 : 407;
    const res = createResponse(req, status, undefined, toTag);
    const header = registrar ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    for (const challenge of this.digest.challenges(realm, result.outcome === 'stale')) res.add(header, challenge);
    return { ok: false, response: res, reason: result.outcome === 'invalid' ? result.why : result.outcome };
  }
}

/** Authorization values hold commas of their own, so each header line is one credential. */
function readCredentials(req: SipRequest, key: string): Credentials[] {
  const out: Credentials[] = [];
  for (const h of req.headers) {
    if (h.key !== key) continue;
    const c = parseCredentials(h.value);
    if (c) out.push(c);
  }
  return out;
}

