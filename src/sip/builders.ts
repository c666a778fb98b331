// Responses built from a request (RFC 3261 §8.2.6) and the random identifiers SIP needs.

import { randomUUID } from 'node:crypto';
import { SipResponse, type HeaderField, type SipRequest } from './message.js';
import { parseNameAddr } from './headers.js';
import { pooledRandom } from './random-pool.js';

const REASON_PHRASES: ReadonlyMap<number, string> = new Map([
  [100, 'Trying'],
  [180, 'Ringing'],
  [181, 'Call Is Being Forwarded'],
  [182, 'Queued'],
  [183, 'Session Progress'],
  [199, 'Early Dialog Terminated'],
  [200, 'OK'],
  [202, 'Accepted'],
  [204, 'No Notification'],
  [300, 'Multiple Choices'],
  [301, 'Moved Permanently'],
  [302, 'Moved Temporarily'],
  [305, 'Use Proxy'],
  [380, 'Alternative Service'],
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [402, 'Payment Required'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [406, 'Not Acceptable'],
  [407, 'Proxy Authentication Required'],
  [408, 'Request Timeout'],
  [410, 'Gone'],
  [412, 'Conditional Request Failed'],
  [413, 'Request Entity Too Large'],
  [414, 'Request-URI Too Long'],
  [415, 'Unsupported Media Type'],
  [416, 'Unsupported URI Scheme'],
  [420, 'Bad Extension'],
  [421, 'Extension Required'],
  [422, 'Session Interval Too Small'],
  [423, 'Interval Too Brief'],
  [428, 'Use Identity Header'],
  [429, 'Provide Referrer Identity'],
  [433, 'Anonymity Disallowed'],
  [436, 'Bad Identity-Info'],
  [437, 'Unsupported Certificate'],
  [438, 'Invalid Identity Header'],
  [439, 'First Hop Lacks Outbound Support'],
  [440, 'Max-Breadth Exceeded'],
  [469, 'Bad Info Package'],
  [470, 'Consent Needed'],
  [480, 'Temporarily Unavailable'],
  [481, 'Call/Transaction Does Not Exist'],
  [482, 'Loop Detected'],
  [483, 'Too Many Hops'],
  [484, 'Address Incomplete'],
  [485, 'Ambiguous'],
  [486, 'Busy Here'],
  [487, 'Request Terminated'],
  [488, 'Not Acceptable Here'],
  [489, 'Bad Event'],
  [491, 'Request Pending'],
  [493, 'Undecipherable'],
  [494, 'Security Agreement Required'],
  [500, 'Server Internal Error'],
  [501, 'Not Implemented'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Server Time-out'],
  [505, 'Version Not Supported'],
  [513, 'Message Too Large'],
  [580, 'Precondition Failure'],
  [600, 'Busy Everywhere'],
  [603, 'Decline'],
  [604, 'Does Not Exist Anywhere'],
  [606, 'Not Acceptable'],
  [607, 'Unwanted'],
]);

const CLASS_PHRASES = ['Unknown', 'Provisional', 'Success', 'Redirection', 'Client Error', 'Server Error', 'Global Failure'];

export function reasonPhrase(status: number): string {
  return REASON_PHRASES.get(status) ?? CLASS_PHRASES[Math.floor(status / 100)] ?? 'Unknown';
}

/**
 * A response carrying the request's Via lines, From, To, Call-ID and CSeq. `toTag` is added to To
 * unless it already has a tag (in-dialog requests) or cannot be parsed (a 400 for a malformed To
 * echoes it unchanged).
 */
export function createResponse(req: SipRequest, status: number, reason?: string, toTag?: string): SipResponse {
  const headers: HeaderField[] = [];
  for (const h of req.headers) if (h.key === 'via') headers.push({ ...h });
  copyFirst(req, 'from', headers);
  const to = req.headers.find((h) => h.key === 'to');
  if (to) {
    const parsed = toTag === undefined ? null : parseNameAddr(to.value);
    const value = parsed && parsed.params.tag === undefined ? `${to.value};tag=${toTag}` : to.value;
    headers.push({ key: 'to', name: to.name, value });
  }
  copyFirst(req, 'call-id', headers);
  copyFirst(req, 'cseq', headers);
  return new SipResponse(status, reason ?? reasonPhrase(status), headers);
}

function copyFirst(req: SipRequest, key: string, into: HeaderField[]): void {
  const h = req.headers.find((field) => field.key === key);
  if (h) into.push({ ...h });
}

/** A To/From tag: 64 random bits (RFC 3261 §19.3 asks for at least 32). */
export function newTag(): string {
  return pooledRandom(8).toString('hex');
}

/** A branch with the RFC 3261 magic cookie; base64url characters are all token characters. */
export function newBranch(): string {
  return `z9hG4bK${pooledRandom(12).toString('base64url')}`;
}

export function newCallId(host: string): string {
  const id = randomUUID();
  return host.length > 0 ? `${id}@${host}` : id;
}
