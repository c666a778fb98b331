// Transaction keys are single strings so each lookup is one Map probe and one small concatenation;
// flattened, so a stored key holds no view of the message text (completed transactions outlive it).
import { flattenKey } from '../sip/detach.js';
import type { SipMessage, SipRequest, Via } from '../sip/message.js';

const MAGIC_COOKIE = 'z9hG4bK';

/** RFC 3261 branches start with the magic cookie; anything else was minted by an RFC 2543 element. */
export function hasRfc3261Branch(via: Via): boolean {
  const branch = via.params.branch;
  return typeof branch === 'string' && branch.startsWith(MAGIC_COOKIE);
}

function sentBy(via: Via): string {
  return via.port === undefined ? via.host.toLowerCase() : `${via.host.toLowerCase()}:${via.port}`;
}

/**
 * Server transaction key (§17.2.3). `methodClass` is the method of the transaction sought: INVITE for
 * an ACK (and for the INVITE a CANCEL refers to, §9.2), otherwise the request's own method.
 * RFC 2543 requests fall back to Request-URI, From tag, Call-ID, CSeq number and top Via; the To tag,
 * which differs between an INVITE and its ACK, is checked by the caller against the transaction.
 */
export function serverKey(req: SipRequest, via: Via, methodClass: string): string | undefined {
  if (hasRfc3261Branch(via)) return flattenKey(`${via.params.branch} ${sentBy(via)} ${methodClass}`);
  const cseq = req.cseq();
  if (!cseq) return undefined;
  return flattenKey(`${methodClass} ${req.uri} ${req.fromTag() ?? ''} ${req.callId} ${cseq.seq} ${sentBy(via)} ${via.params.branch ?? ''}`);
}

/** Client transaction key (§17.1.3): branch of the top Via plus the CSeq method (a CANCEL shares its INVITE's branch). */
export function clientKey(branch: string, method: string): string {
  return flattenKey(`${branch} ${method}`);
}

/** §8.2.2.2: From tag, Call-ID and CSeq identify a request that reached us twice by different paths. */
export function mergeKey(req: SipRequest): string | undefined {
  const fromTag = req.fromTag();
  const cseq = req.cseq();
  if (fromTag === undefined || !cseq) return undefined;
  return flattenKey(`${fromTag} ${req.callId} ${cseq.seq} ${cseq.method}`);
}

/**
 * Dialog-level identity of an accepted INVITE: its ACK carries a new branch (§17.1.1.3 applies only to
 * non-2xx), so it is found by Call-ID, tags and CSeq number instead.
 */
export function acceptedInviteKey(callId: string, fromTag: string | undefined, toTag: string | undefined, seq: number): string {
  return flattenKey(`${callId} ${fromTag ?? ''} ${toTag ?? ''} ${seq}`);
}

export function ackAcceptedInviteKey(ack: SipMessage): string | undefined {
  const cseq = ack.cseq();
  if (!cseq) return undefined;
  return acceptedInviteKey(ack.callId, ack.fromTag(), ack.toTag(), cseq.seq);
}

