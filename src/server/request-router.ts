import type { CallManager } from '../call/call-manager.js';
import { ALLOWED_METHODS, SUPPORTED_EXTENSIONS } from '../call/call-manager.js';
import { MESSAGE_SUMMARY_EVENT } from '../presence/message-summary.js';
import type { MwiService } from '../presence/mwi-service.js';
import type { RegistrarService } from '../registrar/registrar-service.js';
import { createResponse, newTag } from '../sip/builders.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { StackUser } from '../stack/sip-stack.js';
import type { ServerTransaction } from '../transaction/layer.js';

// Methods that only make sense inside a dialog: out of one they get 481.
const DIALOG_ONLY = new Set(['BYE', 'UPDATE', 'PRACK', 'INFO', 'NOTIFY', 'REFER']);
// Methods we know but do not offer (yet) out of dialog.
const KNOWN_NOT_ALLOWED = new Set(['MESSAGE', 'PUBLISH']);
// SUBSCRIBE is the presence layer's; calls do not take it, so it is not in the call layer's list.
const ALLOW = `${ALLOWED_METHODS}, SUBSCRIBE`;

/** The PBX on top of the SIP stack: sends each request to the registrar, the B2BUA, MWI, or answers it. */
export class RequestRouter implements StackUser {
  constructor(
    private readonly registrar: RegistrarService,
    private readonly calls: CallManager,
    private readonly mwi: MwiService,
  ) {}

  onRequest(req: SipRequest, tx: ServerTransaction): void {
    if (req.method === 'CANCEL') return this.calls.handleCancel(req, tx);
    const unsupported = req.optionTags('require').filter((t) => !SUPPORTED_EXTENSIONS.includes(t));
    if (unsupported.length > 0) {
      // RFC 3261 §8.2.2.3: refuse what we cannot honour, naming it
      const res = createResponse(req, 420, 'Bad Extension', newTag());
      res.add('Unsupported', unsupported.join(', '));
      return tx.respond(res);
    }
    if (req.toTag() !== undefined) {
      if (this.mwi.handleInDialog(req, tx)) return;
      if (this.calls.handleInDialog(req, tx)) return;
      tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    switch (req.method) {
      case 'REGISTER':
        return this.registrar.handle(req, tx);
      case 'INVITE':
        return this.calls.handleInvite(req, tx);
      case 'SUBSCRIBE':
        return this.mwi.handleSubscribe(req, tx);
      case 'OPTIONS':
        return tx.respond(this.capabilities(req));
    }
    if (DIALOG_ONLY.has(req.method)) return tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist', newTag()));
    const res = createResponse(req, KNOWN_NOT_ALLOWED.has(req.method) ? 405 : 501, undefined, newTag());
    res.add('Allow', ALLOW);
    tx.respond(res);
  }

  onAck(ack: SipRequest): void {
    this.calls.handleAck(ack);
  }

  onStrayResponse(res: SipResponse): void {
    this.calls.handleStrayResponse(res);
  }

  /** RFC 3261 §11.2: what this server can do. */
  private capabilities(req: SipRequest): SipResponse {
    const res = createResponse(req, 200, 'OK', newTag());
    res.add('Allow', ALLOW);
    res.add('Allow-Events', MESSAGE_SUMMARY_EVENT);
    res.add('Accept', 'application/sdp');
    res.add('Accept-Encoding', 'identity');
    res.add('Accept-Language', 'en');
    res.add('Supported', '100rel');
    return res;
  }
}
