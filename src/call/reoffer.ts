// A re-offer (hold, resume, a new port) to a leg the server terminates itself: answered for that leg,
// whose latching follows the new address. Used by calls the server answers and by the phones it dials.
import type { OwnLeg } from '../media/relay/media-relay.js';
import { answerOffer, SdpNegotiationError } from '../media/sdp/endpoint-sdp.js';
import { parseSdp } from '../media/sdp/session-sdp.js';
import type { SipRequest } from '../sip/message.js';

/**
 * The SDP answering `req`'s offer for `own` at session `version`; `previous` when the request carried no
 * offer (the last answer stands); undefined when the offer cannot be answered (488).
 */
export function answerReoffer(req: SipRequest, own: OwnLeg | undefined, sessionId: number, version: number, previous: string): string | undefined {
  const offer = req.body.length > 0 ? parseSdp(req.body.toString('utf8')) : undefined;
  if (!offer || !own) return previous;
  try {
    const sdp = answerOffer(offer, own.sdpAddress, own.leg.rtpPort, sessionId, version);
    const stream = offer.streams[sdp.audioIndex]!;
    own.leg.setSignalling({ address: stream.address, port: stream.port, rtcpPort: stream.rtcpPort, signallingAddress: req.source?.address ?? stream.address });
    return sdp.body;
  } catch (err) {
    if (!(err instanceof SdpNegotiationError)) throw err;
    return undefined;
  }
}
