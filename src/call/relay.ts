import { createResponse } from '../sip/builders.js';
import type { SipRequest, SipResponse } from '../sip/message.js';

// Headers that describe the session or its extensions and so cross the B2BUA; everything
// else (Via, Contact, Call-ID, Record-Route, ...) belongs to one leg and must not leak.
const SESSION_HEADERS = ['content-type', 'content-disposition', 'content-encoding', 'content-language', 'accept', 'allow-events'];

export function copySessionHeaders(from: SipRequest | SipResponse, to: SipRequest | SipResponse): void {
  for (const h of from.headers) if (SESSION_HEADERS.includes(h.key)) to.add(h.name, h.value);
  to.body = from.body;
}

/** The response to `req` (on one leg) that mirrors `res` (received on the other leg). */
export function mirrorResponse(req: SipRequest, res: SipResponse, toTag: string | undefined): SipResponse {
  const out = createResponse(req, res.status, res.reason, toTag);
  copySessionHeaders(res, out);
  for (const h of res.headers) if (h.key === 'retry-after' || h.key === 'warning') out.add(h.name, h.value);
  return out;
}

/** A UAS copies Record-Route into the responses that create its dialog (RFC 3261 §12.1.1). */
export function copyRecordRoute(req: SipRequest, res: SipResponse): void {
  for (const h of req.headers) if (h.key === 'record-route') res.add(h.name, h.value);
}
