import { SipRequest, type HeaderField, type SipResponse } from '../sip/message.js';

/**
 * The ACK an INVITE client transaction sends for a 300-699 response (RFC 3261 §17.1.1.3): same
 * Request-URI, Call-ID, From, CSeq number and top Via (so it matches the server transaction), To of
 * the response (it carries the tag), and the INVITE's Route set.
 */
export function ackForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  const headers: HeaderField[] = [];
  const topVia = invite.getAll('via')[0];
  if (topVia !== undefined) headers.push({ key: 'via', name: 'Via', value: topVia });
  for (const h of invite.headers) if (h.key === 'route') headers.push({ key: 'route', name: h.name, value: h.value });
  headers.push({ key: 'max-forwards', name: 'Max-Forwards', value: '70' });
  copy(invite, 'from', 'From', headers);
  copy(response, 'to', 'To', headers);
  copy(invite, 'call-id', 'Call-ID', headers);
  headers.push({ key: 'cseq', name: 'CSeq', value: `${invite.cseq()?.seq ?? 0} ACK` });
  return new SipRequest('ACK', invite.uri, headers);
}

function copy(from: SipRequest | SipResponse, key: string, name: string, into: HeaderField[]): void {
  const value = from.get(key);
  if (value !== undefined) into.push({ key, name, value });
}
