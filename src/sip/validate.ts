// What a request or response must satisfy before the transaction layer may route it
// (RFC 3261 §8.2, §16.3, §18.1.2; RFC 4475). The reason phrases name the fault so that the
// sender of a bad request can tell what to fix.

import type { HeaderField, SipRequest, SipResponse } from './message.js';
import { isCallIdChar, isDigits } from './chars.js';

export interface ValidationFault {
  status: number;
  reason: string;
}

/** Headers that may appear once only, with the spelling used in reason phrases. */
const SINGLE_INSTANCE: ReadonlyArray<readonly [key: string, display: string]> = [
  ['from', 'From'],
  ['to', 'To'],
  ['call-id', 'Call-ID'],
  ['cseq', 'CSeq'],
  ['max-forwards', 'Max-Forwards'],
  ['content-length', 'Content-Length'],
  ['content-type', 'Content-Type'],
];

const REQUIRED: ReadonlyArray<readonly [key: string, display: string]> = [
  ['via', 'Via'],
  ['from', 'From'],
  ['to', 'To'],
  ['call-id', 'Call-ID'],
  ['cseq', 'CSeq'],
];

export function validateRequest(req: SipRequest): ValidationFault | null {
  if (req.version.toUpperCase() !== 'SIP/2.0') return { status: 505, reason: 'Version Not Supported' };
  const uri = req.requestUri();
  if (!uri) return badRequest('Malformed Request-URI');
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips' && uri.scheme !== 'tel') {
    return { status: 416, reason: 'Unsupported URI Scheme' };
  }
  if (uri.headers !== undefined) return badRequest('Request-URI must not contain headers');

  const counts = countLines(req.headers);
  for (const [key, display] of REQUIRED) if (!counts.has(key)) return badRequest(`Missing ${display} header`);
  for (const [key, display] of SINGLE_INSTANCE) {
    if ((counts.get(key) ?? 0) > 1) return badRequest(`Multiple ${display} headers`);
  }

  if (!hasWellFormedVias(req)) return badRequest('Malformed Via header');
  if (!req.from()) return badRequest('Malformed From header');
  if (!req.to()) return badRequest('Malformed To header');
  if (!isCallId(req.callId)) return badRequest('Malformed Call-ID header');
  const cseq = req.cseq();
  if (!cseq) return badRequest('Malformed CSeq header');
  if (cseq.method !== req.method) return badRequest('CSeq method mismatch');

  const maxForwards = req.get('max-forwards');
  if (maxForwards !== undefined && !isDigits(maxForwards)) return badRequest('Malformed Max-Forwards header');
  const contentLength = req.get('content-length');
  if (contentLength !== undefined && (!isDigits(contentLength) || Number(contentLength) !== req.body.length)) {
    return badRequest('Content-Length mismatch');
  }
  if (counts.has('contact')) {
    const contacts = req.contacts();
    if (!contacts || (contacts === '*' && req.method !== 'REGISTER')) return badRequest('Malformed Contact header');
  }
  if (counts.has('route') && !req.routeSet('route')) return badRequest('Malformed Route header');
  return null;
}

/** False for a response that must be dropped silently (RFC 3261 §18.1.2, RFC 4475 §3.1.2.5, §3.1.2.19). */
export function validateResponse(res: SipResponse): boolean {
  if (!Number.isInteger(res.status) || res.status < 100 || res.status > 699) return false;
  if (res.version.toUpperCase() !== 'SIP/2.0') return false;
  if (!hasWellFormedVias(res)) return false;
  return res.cseq() !== null && isCallId(res.callId) && res.from() !== null && res.to() !== null;
}

function badRequest(fault: string): ValidationFault {
  return { status: 400, reason: `Bad Request - ${fault}` };
}

function countLines(headers: HeaderField[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const h of headers) counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
  return counts;
}

function hasWellFormedVias(msg: SipRequest | SipResponse): boolean {
  for (const h of msg.headers) if (h.key === 'via' && h.value.length === 0) return false;
  const vias = msg.vias();
  return vias !== null && vias.length > 0;
}

/** callid = word ["@" word] (RFC 3261 §25.1) */
function isCallId(value: string): boolean {
  if (value.length === 0) return false;
  const at = value.indexOf('@');
  if (at === 0 || at === value.length - 1 || (at >= 0 && value.indexOf('@', at + 1) >= 0)) return false;
  for (let i = 0; i < value.length; i++) if (!isCallIdChar(value.charCodeAt(i))) return false;
  return true;
}
