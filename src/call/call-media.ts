import type { MediaSession, Side } from '../media/relay/media-session.js';
import type { SipRequest, SipResponse } from '../sip/message.js';

/** Number of m= lines in an offer, so the relay can open as many stream pairs (1 without an offer). */
export function streamCount(body: Buffer): number {
  let count = 0;
  for (let i = body.indexOf('m='); i !== -1; i = body.indexOf('m=', i + 2)) {
    if (i === 0 || body[i - 1] === 0x0a) count++;
  }
  return Math.max(1, count);
}

/**
 * Gives `out` the relayed form of the SDP that `src` carries from `from`; leaves it alone without SDP.
 * `isOffer` undefined: an answer when the other side has an offer outstanding.
 */
export function relayBody(session: MediaSession, from: Side, src: SipRequest | SipResponse, out: SipRequest | SipResponse, isOffer: boolean | undefined): void {
  if (src.body.length === 0 || !isSdp(src.get('content-type'))) return;
  const signalling = src.source?.address ?? '127.0.0.1';
  out.body = Buffer.from(session.relaySdp(from, src.body.toString('utf8'), signalling, isOffer));
}

export function isSdp(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0].trim().toLowerCase() === 'application/sdp';
}
