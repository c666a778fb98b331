import type { Logger } from 'pino';
import type { RequestAuthenticator } from '../auth/request-authenticator.js';
import { createResponse, newTag } from '../sip/builders.js';
import type { SipRequest } from '../sip/message.js';
import type { Binding } from '../store/types.js';
import { unescapeUserPart } from '../sip/uri.js';
import type { ServerTransaction } from '../transaction/layer.js';
import type { DomainDirectory } from './domain-directory.js';
import type { LocationService } from './location-service.js';
import { processRegister, type RegisterPolicy } from './register.js';

/** Answers REGISTER requests (RFC 3261 §10.3): authenticate, then update the location service. */
export class RegistrarService {
  constructor(
    private readonly deps: {
      domains: DomainDirectory;
      auth: RequestAuthenticator;
      location: LocationService;
      policy: () => RegisterPolicy;
      now: () => number;
      logger: Logger;
      /** a REGISTER added contacts that were not bound before (a phone started or moved) */
      onNewBindings?: (domain: string, number: string, bindings: Binding[]) => void;
    },
  ) {}

  handle(req: SipRequest, tx: ServerTransaction): void {
    const toTag = newTag();
    const domain = this.deps.domains.resolve(req.requestUri()?.host);
    const aorUser = req.to()?.uri.user;
    if (!aorUser) {
      tx.respond(createResponse(req, 404, 'Not Found', toTag));
      return;
    }
    const auth = this.deps.auth.authenticate(req, domain, toTag);
    if (!auth.ok) {
      if (auth.reason !== 'missing') this.deps.logger.info({ user: aorUser, from: req.source?.address, why: auth.reason }, 'REGISTER authentication failed');
      tx.respond(auth.response);
      return;
    }
    if (auth.extension.number !== unescapeUserPart(aorUser)) {
      tx.respond(createResponse(req, 403, 'Forbidden - credentials do not match the To user', toTag));
      return;
    }
    const source = req.source ?? { transport: 'UDP', address: '', port: 0 };
    const before = new Set(this.deps.location.lookup(domain, auth.extension.number).map((b) => b.contactUri));
    const outcome = processRegister(
      {
        domain,
        number: auth.extension.number,
        contacts: req.contacts(),
        contactTexts: req.getAll('contact'),
        expiresHeader: req.get('expires'),
        callId: req.callId,
        cseq: req.cseq()?.seq ?? 0,
        source: { transport: source.transport, address: source.address, port: source.port },
        userAgent: req.get('user-agent') ?? '',
      },
      this.deps.location,
      this.deps.policy(),
      this.deps.now(),
    );
    if (outcome.status === 200) {
      const res = createResponse(req, 200, 'OK', toTag);
      for (const c of outcome.contacts) res.add('Contact', c);
      res.add('Date', new Date(this.deps.now()).toUTCString());
      tx.respond(res);
      const added = this.deps.onNewBindings ? this.deps.location.lookup(domain, auth.extension.number).filter((b) => !before.has(b.contactUri)) : [];
      if (added.length > 0) this.deps.onNewBindings!(domain, auth.extension.number, added);
    } else if (outcome.status === 423) {
      const res = createResponse(req, 423, 'Interval Too Brief', toTag);
      res.add('Min-Expires', String(outcome.minExpires));
      tx.respond(res);
    } else {
      tx.respond(createResponse(req, outcome.status, outcome.reason, toTag));
    }
  }
}
