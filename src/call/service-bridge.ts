// call:dial from a call the server already answered (a menu, a queue): the server rings the phones
// with an offer of exactly the caller's format, and when one answers, the relay joins the caller's leg
// to the new one, so packets pass through untouched. The server's own audio (the ringback while the
// phones ring) stops then.
import { randomInt } from 'node:crypto';
import type { Dialog } from '../dialog/dialog.js';
import type { MediaRelay, OwnLeg } from '../media/relay/media-relay.js';
import type { RelayLeg } from '../media/relay/relay-leg.js';
import { formatFromAnswer, makeOfferFor, SdpNegotiationError, type NegotiatedFormat } from '../media/sdp/endpoint-sdp.js';
import { parseSdp } from '../media/sdp/session-sdp.js';
import { createResponse } from '../sip/builders.js';
import type { SipRequest } from '../sip/message.js';
import type { ServerTransaction } from '../transaction/layer.js';
import { isSdp } from './call-media.js';
import { answerReoffer } from './reoffer.js';
import { OutboundFork, sendInDialog, type ForkTarget, type OutboundForkDeps } from './outbound-fork.js';

export interface ServiceBridgeDeps extends OutboundForkDeps {
  media: MediaRelay;
}

export type BridgeOutcome = { answered: true; target: string } | { answered: false; status: number };

export class ServiceBridge {
  private own: OwnLeg | undefined;
  private fork: OutboundFork | undefined;
  private calleeDialog: Dialog | undefined;
  private readonly sessionId = randomInt(1, 2 ** 31);
  private sessionVersion = 1;
  private lastBody = '';
  private closed = false;
  private phoneHungUp = false;
  private detached = false;

  constructor(
    private readonly deps: ServiceBridgeDeps,
    private readonly callerLeg: RelayLeg,
    private readonly format: NegotiatedFormat,
  ) {}

  /** The phone's dialog once one answered: its requests come to onRequest(). */
  get dialog(): Dialog | undefined {
    return this.calleeDialog;
  }

  /**
   * Rings `targets`; resolves once one answered and the legs are joined, or with the status the fork
   * failed with. `onRinging` starts the caller's ringback, which the caller of this stops.
   */
  async connect(from: { domain: string; number: string; displayName: string }, targets: readonly ForkTarget[], timeoutMs: number, onRinging: () => void): Promise<BridgeOutcome> {
    const own = await this.deps.media.openLeg(targets[0]!.bindings[0]!.sourceAddress);
    if (!own) return { answered: false, status: 503 };
    if (this.closed) {
      own.release();
      return { answered: false, status: 487 };
    }
    this.own = own;
    const offer = makeOfferFor(this.format, own.sdpAddress, own.leg.rtpPort, this.sessionId, this.sessionVersion);
    this.lastBody = offer.body;
    this.fork = new OutboundFork(this.deps, from, targets, offer.body, timeoutMs, onRinging);
    const result = await this.fork.result;
    this.fork = undefined;
    if (!result.answered) {
      this.release();
      return { answered: false, status: result.status };
    }
    this.calleeDialog = result.dialog;
    if (this.closed) {
      sendInDialog(this.deps, result.dialog, 'BYE');
      this.release();
      return { answered: false, status: 487 };
    }
    const answer = result.answer.body.length > 0 && isSdp(result.answer.get('content-type')) ? parseSdp(result.answer.body.toString('utf8')) : undefined;
    try {
      if (!answer) throw new SdpNegotiationError('the answer carried no SDP');
      const { format, stream } = formatFromAnswer(answer);
      if (format.codec.name !== this.format.codec.name || format.payloadType !== this.format.payloadType) {
        throw new SdpNegotiationError(`the phone answered ${format.codec.name}, the caller talks ${this.format.codec.name}`);
      }
      own.leg.setSignalling({ address: stream.address, port: stream.port, rtcpPort: stream.rtcpPort, signallingAddress: result.dialog.nextHop()?.address ?? stream.address });
    } catch (err) {
      if (!(err instanceof SdpNegotiationError)) throw err;
      this.deps.logger.info({ why: err.message, target: result.target }, 'dialled phone answered with unusable SDP');
      sendInDialog(this.deps, result.dialog, 'BYE');
      this.release();
      return { answered: false, status: 488 };
    }
    this.callerLeg.forwardRtpTo(own.leg);
    this.callerLeg.forwardRtcpTo(own.leg);
    own.leg.forwardRtpTo(this.callerLeg);
    own.leg.forwardRtcpTo(this.callerLeg);
    return { answered: true, target: result.target };
  }

  /** A request of the phone's dialog; true when it was a BYE: the phone hung up. */
  onRequest(req: SipRequest, tx: ServerTransaction): boolean {
    const dialog = this.calleeDialog;
    if (!dialog || this.closed) {
      tx.respond(createResponse(req, req.method === 'BYE' ? 200 : 481, req.method === 'BYE' ? 'OK' : 'Call/Transaction Does Not Exist'));
      return false;
    }
    if (!dialog.acceptRemoteRequest(req)) {
      tx.respond(createResponse(req, 500, 'Server Internal Error - CSeq out of order'));
      return false;
    }
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200, 'OK'));
        this.phoneHungUp = true;
        return true;
      case 'INVITE':
      case 'UPDATE':
        this.reanswer(req, tx);
        return false;
      default:
        tx.respond(createResponse(req, req.method === 'OPTIONS' || req.method === 'INFO' ? 200 : 501, req.method === 'OPTIONS' || req.method === 'INFO' ? 'OK' : 'Not Implemented'));
        return false;
    }
  }

  /** The legs stop hearing each other (the caller was transferred elsewhere); close() still hangs the phone up. */
  detach(): void {
    this.detached = true;
    this.callerLeg.forwardRtpTo(undefined);
    this.callerLeg.forwardRtcpTo(undefined);
    this.own?.leg.forwardRtpTo(undefined);
    this.own?.leg.forwardRtcpTo(undefined);
  }

  /** Ends the bridge: stops the ringing, or hangs up the phone; gives the leg back. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fork?.cancel();
    if (this.calleeDialog && !this.phoneHungUp) sendInDialog(this.deps, this.calleeDialog, 'BYE');
    this.release();
  }

  /** The phone's re-offer (hold, a new port): answered for our leg, the new address followed. */
  private reanswer(req: SipRequest, tx: ServerTransaction): void {
    const body = answerReoffer(req, this.own, this.sessionId, ++this.sessionVersion, this.lastBody);
    if (body === undefined) {
      tx.respond(createResponse(req, 488, 'Not Acceptable Here'));
      return;
    }
    const res = createResponse(req, 200, 'OK');
    const dest = this.calleeDialog?.nextHop();
    if (dest) res.add('Contact', `<${this.deps.stack.contactUri(dest)}>`);
    res.add('Content-Type', 'application/sdp');
    res.body = Buffer.from(body);
    this.lastBody = body;
    tx.respond(res);
  }

  private release(): void {
    // once detached, the caller's leg may be joined to another phone by now
    if (!this.detached) {
      this.callerLeg.forwardRtpTo(undefined);
      this.callerLeg.forwardRtcpTo(undefined);
    }
    this.own?.release();
    this.own = undefined;
  }
}
