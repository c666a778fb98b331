import { randomInt, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Dialog, dialogId } from '../dialog/dialog.js';
import { MediaEndpoint } from '../media/endpoint/media-endpoint.js';
import type { MediaRelay, OwnLeg, WatchedMedia } from '../media/relay/media-relay.js';
import { describeLeg, type MediaStreamState } from '../media/relay/media-session.js';
import { answerOffer, formatFromAnswer, makeOffer, SdpNegotiationError, type NegotiatedFormat } from '../media/sdp/endpoint-sdp.js';
import { parseSdp } from '../media/sdp/session-sdp.js';
import { parseDtmfInfo } from '../media/dtmf/sip-info.js';
import { createResponse } from '../sip/builders.js';
import type { SipRequest } from '../sip/message.js';
import type { SipStack } from '../stack/sip-stack.js';
import type { EndReason, NewCallRecord } from '../store/types.js';
import type { Clock } from '../transaction/clock.js';
import type { ClientTransactionUser, ServerTransaction } from '../transaction/layer.js';
import { isSdp } from './call-media.js';
import { dialOutcomeOf, type DialOutcome } from './call.js';
import type { ForkTarget } from './outbound-fork.js';
import { answerReoffer } from './reoffer.js';
import { ServiceBridge } from './service-bridge.js';
import type { ConferenceBridge } from '../media/conference/conference-bridge.js';
import type { SoundLibrary } from '../media/sound-library.js';
import type { TonePlan, ToneSpec } from '../media/tones.js';

/** What an application (a service) holds of a call the server answers itself. */
export interface LocalCallHandle {
  readonly id: string;
  readonly domain: string;
  /** the authenticated caller's extension number */
  readonly caller: string;
  /** the caller's display name; empty when it has none */
  readonly callerName: string;
  /** the number the caller dialled */
  readonly dialled: string;
  /** Answers (200 with SDP) and resolves with the media endpoint once audio can flow. */
  answer(): Promise<MediaEndpoint>;
  /** Audio before answering (183 with SDP); the call can still be refused. */
  earlyMedia(): Promise<MediaEndpoint>;
  /** answered with a 200 */
  readonly answered: boolean;
  /** a call:dial rings phones for the unanswered caller */
  readonly dialling: boolean;
  /** 180 Ringing, before the call is answered. */
  ringing(): void;
  /** Another provisional status before the call is answered: 181 Call Is Being Forwarded, 182 Queued. */
  progress(status: 181 | 182, reason: string): void;
  /** Refuses the call before it is answered (a final 3xx-6xx status). */
  reject(status: number, reason?: string): void;
  /**
   * Gives the call to the routing of `number`, as if the caller had dialled it: an unanswered call is
   * answered (or not) by whatever `number` reaches and this handle is ended; an answered one goes on in
   * the service of `number` on this same handle, and the service that routed it lets go.
   */
  route(number: string, options?: RouteOptions): void;
  /**
   * Rings the phones of `targets` for the caller. One answers: the caller and that phone talk, and the
   * promise resolves once that call is over (this handle is ended then). Nobody answers: the caller is
   * as before (ringing, or answered by the service) and this handle can go on (play, record, dial again).
   * An answered caller hears `options.ringback` meanwhile.
   */
  dial(targets: readonly string[], timeoutSeconds: number, options?: DialOptions): Promise<DialOutcome>;
  /** Ends the call: BYE when answered, else 480. */
  hangup(): void;
  readonly ended: Promise<void>;
  readonly isEnded: boolean;
}

export interface DialOptions {
  /** played to an answered caller while the phones ring */
  ringback?: ToneSpec;
}

export interface RouteOptions {
  /** ring the extension's phones as they are, without any service (the fallback of a failed extension service) */
  bypassServices?: boolean;
}

/** What the server offers every service besides the call itself. */
export interface ServiceContext {
  sounds: SoundLibrary;
  conferences: ConferenceBridge;
  tonePlan(): TonePlan;
  /** how long phones ring before a call counts as not answered ([sip] no_answer_timeout) */
  ringSeconds(): number;
  /** language of the voice prompts ([media] language) */
  language(): string;
  dataDir: string;
}

/** A service reached by a dialled number; it runs until it hangs up or the caller does. */
export type Application = (call: LocalCallHandle, services: ServiceContext) => void | Promise<void>;

export interface ApplicationDirectory {
  find(domain: string, number: string): Application | undefined;
}

export interface LocalCallDeps {
  stack: SipStack;
  media: MediaRelay;
  clock: Clock;
  logger: Logger;
  contactFor(req: SipRequest): string;
  allowedMethods: string;
  record(rec: NewCallRecord): void;
  /** the unanswered call continues as a call to `number` */
  handOff(call: LocalCall, number: string, bypassServices: boolean): void;
  /** the answered call goes on in the service of `number` (or rings that extension), as if dialled */
  continueAs(call: LocalCall, number: string, bypassServices: boolean): void;
  /** rings the phones of `targets` for the unanswered caller (call:dial) */
  dial(call: LocalCall, targets: readonly string[], timeoutMs: number): Promise<DialOutcome>;
  /** stops that dial's phones ringing: the dial comes back unanswered */
  stopDial(call: LocalCall): void;
  /** the registered phones of `targets`, for a dial from an answered call */
  reachable(targets: readonly string[]): ForkTarget[];
  /** the dialog exists from the 200 on: in-dialog requests must find the call */
  onDialog(call: LocalCall, dialog: Dialog): void;
  forget(call: LocalCall): void;
}

export class CallAlreadyEndedError extends Error {}

const IGNORE_RESPONSES: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };

/**
 * A call the server answers itself: the caller's leg only, its audio terminated by a MediaEndpoint
 * that the application plays to, records from and reads digits from.
 */
export class LocalCall implements LocalCallHandle {
  readonly id = randomUUID();
  readonly startedAt: number;
  answeredAt: number | null = null;
  dialog: Dialog | undefined;
  readonly ended: Promise<void>;
  private state: 'ringing' | 'dialling' | 'answering' | 'early' | 'answered' | 'ended' = 'ringing';
  /** what the caller dialled: the call's record keeps it, wherever services routed the call since */
  private readonly firstDialled: string;
  /** how many services have run on this call: the last one started hangs up when it is done */
  turn = 0;
  /** what the service that gave up during a dial wanted, done if the dial comes back unanswered */
  private afterDial: 'hangup' | { status: number; reason: string | undefined } | { number: string; options: RouteOptions } | undefined;
  private own: OwnLeg | undefined;
  private endpoint: MediaEndpoint | undefined;
  private format: NegotiatedFormat | undefined;
  /** a dial from the answered call: the phone joined to the caller */
  private bridge: ServiceBridge | undefined;
  private watched: WatchedMedia | undefined;
  /** a late offer: the answer in the ACK completes answer() */
  private awaitingAck: { resolve: (e: MediaEndpoint) => void; reject: (err: Error) => void } | undefined;
  private readonly sessionId = randomInt(1, 2 ** 31);
  private sessionVersion = 1;
  private lastAnswerBody = '';
  private endNow!: () => void;

  constructor(
    private readonly deps: LocalCallDeps,
    private readonly invite: SipRequest,
    private readonly tx: ServerTransaction,
    private readonly tag: string,
    readonly domain: string,
    readonly caller: string,
    readonly callerName: string,
    /** the number dialled; an answered call routed on (call:route) takes the new number */
    public dialled: string,
  ) {
    this.firstDialled = dialled;
    this.startedAt = deps.clock.now();
    this.ended = new Promise((resolve) => (this.endNow = resolve));
    tx.onAckTimeout = () => this.finish(200, 'system', 'ack_timeout', true);
  }

  get isEnded(): boolean {
    return this.state === 'ended';
  }

  get inviteTx(): ServerTransaction {
    return this.tx;
  }

  /** its caller's INVITE belongs to the B2BUA for now: call:dial is ringing phones */
  get dialling(): boolean {
    return this.state === 'dialling';
  }

  get answered(): boolean {
    return this.state === 'answered';
  }

  describeMedia(): MediaStreamState[] {
    return this.own ? [{ type: 'audio', caller: describeLeg(this.own.leg), callee: null, heldBy: null }] : [];
  }

  async answer(): Promise<MediaEndpoint> {
    // a service the answered call was routed to answers it again: it is
    if (this.state === 'answered' && this.endpoint) return this.endpoint;
    if (this.state === 'early' && this.endpoint) {
      this.sendAnswer(this.lastAnswerBody);
      return this.endpoint;
    }
    const ready = await this.negotiate('answer');
    if (ready.lateOffer) return this.answerWithOffer(ready.own);
    this.sendAnswer(ready.body);
    return ready.endpoint;
  }

  /**
   * Audio before the answer (183 Session Progress with SDP): the caller hears prompts and tones while
   * the call is not answered, so it can still be refused (403 after "you may not make this call").
   */
  async earlyMedia(): Promise<MediaEndpoint> {
    if (this.state === 'early' && this.endpoint) return this.endpoint;
    const ready = await this.negotiate('early media');
    if (ready.lateOffer) {
      this.refuse(488, 'Not Acceptable Here - early media needs an offer in the INVITE');
      throw new CallAlreadyEndedError('early media needs an offer in the INVITE');
    }
    const res = createResponse(this.invite, 183, 'Session Progress', this.tag);
    res.add('Contact', `<${this.deps.contactFor(this.invite)}>`);
    res.add('Content-Type', 'application/sdp');
    res.body = Buffer.from(ready.body);
    this.lastAnswerBody = ready.body;
    this.state = 'early';
    this.tx.respond(res);
    return ready.endpoint;
  }

  /** Opens the server's leg and answers the caller's offer; the SDP is sent by the caller of this. */
  private async negotiate(what: string): Promise<{ lateOffer: true; own: OwnLeg } | { lateOffer: false; body: string; endpoint: MediaEndpoint }> {
    if (this.state === 'ended') throw new CallAlreadyEndedError('the caller hung up');
    if (this.state !== 'ringing') throw new Error(`${what}: the call is ${this.state}`);
    this.state = 'answering';
    const signalling = this.invite.source?.address ?? '127.0.0.1';
    const own = await this.deps.media.openLeg(signalling);
    if (this.isEnded) {
      own?.release();
      throw new CallAlreadyEndedError('the caller hung up');
    }
    if (!own) {
      this.deps.logger.warn({ call: this.id }, 'no free RTP ports for a call the server answers');
      this.refuse(503, 'Service Unavailable - no media ports');
      throw new CallAlreadyEndedError('no media ports');
    }
    this.own = own;
    const offer = this.invite.body.length > 0 && isSdp(this.invite.get('content-type')) ? parseSdp(this.invite.body.toString('utf8')) : undefined;
    if (this.invite.body.length > 0 && !offer) {
      this.refuse(488, 'Not Acceptable Here - unreadable SDP');
      throw new CallAlreadyEndedError('unreadable SDP');
    }
    if (!offer) return { lateOffer: true, own };
    let sdp;
    try {
      sdp = answerOffer(offer, own.sdpAddress, own.leg.rtpPort, this.sessionId, this.sessionVersion);
    } catch (err) {
      if (!(err instanceof SdpNegotiationError)) throw err;
      this.refuse(488, `Not Acceptable Here - ${err.message}`);
      throw new CallAlreadyEndedError(err.message);
    }
    const stream = offer.streams[sdp.audioIndex]!;
    own.leg.setSignalling({ address: stream.address, port: stream.port, rtcpPort: stream.rtcpPort, signallingAddress: signalling });
    return { lateOffer: false, body: sdp.body, endpoint: this.startMedia(sdp.format!) };
  }

  ringing(): void {
    this.progress(180, 'Ringing');
  }

  progress(status: 180 | 181 | 182, reason: string): void {
    if (this.state !== 'ringing') return;
    this.tx.respond(createResponse(this.invite, status, reason, this.tag));
  }

  route(number: string, options: RouteOptions = {}): void {
    if (this.state === 'dialling') {
      // the phones still ring for a dial whose service has gone: the route applies if nobody answers
      this.afterDial = { number, options };
      return;
    }
    if (this.state === 'early') {
      // after early media a new SDP would be ignored by the phone (RFC 3261 §13.2.1): answer with the same, then go on
      this.sendAnswer(this.lastAnswerBody);
    }
    if (this.state === 'answered') {
      // the answered call stays ours: the service of `number` takes it over as it is
      this.deps.continueAs(this, number, options.bypassServices ?? false);
      return;
    }
    if (this.state !== 'ringing') throw new Error(`only an unanswered or answered call can be routed (this one is ${this.state})`);
    // the new route answers the INVITE and records the call; this handle only lets go
    this.state = 'ended';
    this.tx.onAckTimeout = undefined;
    this.deps.handOff(this, number, options.bypassServices ?? false);
    this.endNow();
  }

  async dial(targets: readonly string[], timeoutSeconds: number, options: DialOptions = {}): Promise<DialOutcome> {
    if (this.state === 'ended') throw new CallAlreadyEndedError('the caller hung up');
    if (this.state === 'answered') return this.dialAnswered(targets, timeoutSeconds * 1000, options);
    if (this.state !== 'ringing') throw new Error(`only an unanswered call can be dialled on (this one is ${this.state})`);
    this.state = 'dialling';
    const outcome = await this.deps.dial(this, targets, timeoutSeconds * 1000);
    if (outcome.status === 'answered' || outcome.status === 'cancelled') {
      // the B2BUA answered or refused the caller and recorded the call: this handle only lets go
      this.state = 'ended';
      this.deps.forget(this);
      this.endNow();
    } else {
      this.state = 'ringing';
      this.tx.onAckTimeout = () => this.finish(200, 'system', 'ack_timeout', true);
      const after = this.afterDial;
      this.afterDial = undefined;
      if (after === 'hangup') this.refuse(outcome.status === 'busy' ? 486 : outcome.status === 'noanswer' ? 408 : outcome.status === 'unavailable' ? 480 : outcome.code);
      else if (after && 'status' in after) this.refuse(after.status, after.reason);
      else if (after) this.route(after.number, after.options);
    }
    return outcome;
  }

  /**
   * call:dial once answered: the server rings the phones itself, the caller hears ringback, and the
   * answering phone is joined to the caller's leg; resolves when that call is over (the caller was hung
   * up with it), or with why nobody answered (the caller is still ours then).
   */
  private async dialAnswered(targets: readonly string[], timeoutMs: number, options: DialOptions): Promise<DialOutcome> {
    if (this.bridge) throw new Error('dial: this call is already connected to a phone');
    const reachable = this.deps.reachable(targets);
    if (reachable.length === 0) return { status: 'unavailable', code: 480 };
    const endpoint = this.endpoint!;
    const bridge = new ServiceBridge(this.deps, this.own!.leg, this.format!);
    this.bridge = bridge;
    let ringing = false;
    const outcome = await bridge.connect({ domain: this.domain, number: this.caller, displayName: this.callerName }, reachable, timeoutMs, () => {
      if (ringing || !options.ringback) return;
      ringing = true;
      void endpoint.playTone(options.ringback, timeoutMs);
    });
    endpoint.stopPlayback();
    if (!outcome.answered) {
      this.bridge = undefined;
      return this.isEnded ? { status: 'cancelled', code: 487 } : dialOutcomeOf(outcome.status);
    }
    // the caller's leg now carries the phone's audio, not ours
    endpoint.close();
    this.deps.onDialog(this, bridge.dialog!);
    await this.ended;
    return { status: 'answered', answeredBy: outcome.target };
  }

  /** The phone's dialog of a dial from the answered call, while it lasts. */
  get bridgedDialog(): Dialog | undefined {
    return this.bridge?.dialog;
  }

  reject(status: number, reason?: string): void {
    if (this.state === 'dialling') {
      this.afterDial = { status, reason };
      return;
    }
    if (this.state !== 'ringing' && this.state !== 'early') return;
    this.refuse(status, reason);
  }

  hangup(): void {
    // while dialling the B2BUA owns the caller's INVITE: the caller gets its answer if nobody answers
    if (this.state === 'dialling') {
      this.afterDial ??= 'hangup';
      return;
    }
    if (this.state === 'answered') {
      this.sendBye();
      this.finish(200, 'callee', null, true);
    } else if (this.state !== 'ended') {
      this.refuse(480, 'Temporarily Unavailable');
    }
  }

  /** The server ends it (shutdown, API, media timeout). */
  terminate(reason: EndReason): void {
    if (this.state === 'dialling') {
      // the caller gets the 487 once the B2BUA gave its INVITE back
      this.afterDial = { status: 487, reason: 'Request Terminated' };
      this.deps.stopDial(this);
      return;
    }
    if (this.state === 'answered') {
      this.sendBye();
      this.finish(200, 'system', reason, true);
    } else if (this.state !== 'ended') {
      this.tx.respond(createResponse(this.invite, 487, 'Request Terminated', this.tag));
      this.finish(487, 'system', reason, false);
    }
  }

  onCancel(): void {
    if (this.state === 'answered' || this.state === 'ended') return;
    this.tx.respond(createResponse(this.invite, 487, 'Request Terminated', this.tag));
    this.finish(487, 'caller', null, false);
  }

  onAck(ack: SipRequest): void {
    const waiting = this.awaitingAck;
    if (!waiting || !this.own) return;
    this.awaitingAck = undefined;
    const answer = ack.body.length > 0 && isSdp(ack.get('content-type')) ? parseSdp(ack.body.toString('utf8')) : undefined;
    try {
      if (!answer) throw new SdpNegotiationError('the ACK carried no SDP answer');
      const { format, stream } = formatFromAnswer(answer);
      this.own.leg.setSignalling({ address: stream.address, port: stream.port, rtcpPort: stream.rtcpPort, signallingAddress: ack.source?.address ?? '127.0.0.1' });
      waiting.resolve(this.startMedia(format));
    } catch (err) {
      this.sendBye();
      this.finish(200, 'system', null, true);
      waiting.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A request inside our dialog. */
  onRequest(req: SipRequest, tx: ServerTransaction): void {
    const bridged = this.bridge?.dialog;
    if (bridged && dialogId(req.callId, req.toTag() ?? '', req.fromTag() ?? '') === bridged.id) {
      // the phone hung up: so does the caller
      if (this.bridge!.onRequest(req, tx)) {
        this.sendBye();
        this.finish(200, 'callee', null, true);
      }
      return;
    }
    const dialog = this.dialog;
    if (!dialog || this.state === 'ended') {
      tx.respond(createResponse(req, req.method === 'BYE' ? 200 : 481, req.method === 'BYE' ? 'OK' : 'Call/Transaction Does Not Exist'));
      return;
    }
    if (!dialog.acceptRemoteRequest(req)) {
      tx.respond(createResponse(req, 500, 'Server Internal Error - CSeq out of order'));
      return;
    }
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200, 'OK'));
        this.finish(200, 'caller', null, true);
        return;
      case 'INFO': {
        const dtmf = parseDtmfInfo(req.get('content-type'), req.body.toString('utf8'));
        tx.respond(createResponse(req, dtmf || req.body.length === 0 ? 200 : 415, dtmf || req.body.length === 0 ? 'OK' : 'Unsupported Media Type'));
        if (dtmf) this.endpoint?.injectInfoDigit(dtmf.digit);
        return;
      }
      case 'INVITE':
      case 'UPDATE':
        this.reanswer(req, tx);
        return;
      default:
        tx.respond(createResponse(req, req.method === 'OPTIONS' ? 200 : 501, req.method === 'OPTIONS' ? 'OK' : 'Not Implemented'));
    }
  }

  /** A re-offer: the same port and codec, our version bumped, the new direction respected. */
  private reanswer(req: SipRequest, tx: ServerTransaction): void {
    const body = answerReoffer(req, this.own, this.sessionId, ++this.sessionVersion, this.lastAnswerBody);
    if (body === undefined) {
      tx.respond(createResponse(req, 488, 'Not Acceptable Here'));
      return;
    }
    this.lastAnswerBody = body;
    const res = createResponse(req, 200, 'OK');
    res.add('Contact', `<${this.deps.contactFor(req)}>`);
    res.add('Content-Type', 'application/sdp');
    res.body = Buffer.from(body);
    tx.respond(res);
  }

  private answerWithOffer(own: OwnLeg): Promise<MediaEndpoint> {
    const sdp = makeOffer(own.sdpAddress, own.leg.rtpPort, this.sessionId, this.sessionVersion);
    return new Promise((resolve, reject) => {
      this.awaitingAck = { resolve, reject };
      this.sendAnswer(sdp.body);
    });
  }

  private startMedia(format: NegotiatedFormat): MediaEndpoint {
    const own = this.own!;
    this.format = format;
    this.endpoint = new MediaEndpoint(own.leg, format, this.deps.clock);
    const leg = own.leg;
    this.watched = { lastReceivedAt: () => leg.lastReceivedAt, onHold: false };
    this.deps.media.watch(this.watched, () => this.terminate('media_timeout'));
    return this.endpoint;
  }

  private sendAnswer(body: string): void {
    const res = createResponse(this.invite, 200, 'OK', this.tag);
    for (const h of this.invite.headers) if (h.key === 'record-route') res.add(h.name, h.value);
    res.add('Contact', `<${this.deps.contactFor(this.invite)}>`);
    res.add('Allow', this.deps.allowedMethods);
    res.add('Content-Type', 'application/sdp');
    res.body = Buffer.from(body);
    this.lastAnswerBody = body;
    this.dialog = Dialog.asUas(this.invite, this.tag, 'confirmed');
    this.deps.onDialog(this, this.dialog);
    this.state = 'answered';
    this.answeredAt = this.deps.clock.now();
    this.tx.respond(res);
  }

  private refuse(status: number, reason?: string): void {
    if (this.state === 'ended' || this.state === 'answered' || this.state === 'dialling') return;
    this.tx.respond(createResponse(this.invite, status, reason, this.tag));
    this.finish(status, status === 486 || status === 600 ? 'callee' : 'system', null, false);
  }

  private sendBye(): void {
    const dialog = this.dialog;
    const dest = dialog?.nextHop();
    if (!dialog || !dest) return;
    try {
      this.deps.stack.sendRequest(dialog.createRequest('BYE'), dest, IGNORE_RESPONSES);
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'could not send BYE');
    }
  }

  private finish(finalStatus: number, hangupBy: 'caller' | 'callee' | 'system', endReason: EndReason | null, answered: boolean): void {
    if (this.state === 'ended') return;
    const wasAnswered = answered && this.answeredAt !== null;
    this.state = 'ended';
    if (this.dialog) this.dialog.state = 'terminated';
    this.bridge?.close();
    this.endpoint?.close();
    if (this.watched) this.deps.media.unwatch(this.watched);
    this.own?.release();
    this.awaitingAck?.reject(new CallAlreadyEndedError('the call ended'));
    this.awaitingAck = undefined;
    const now = this.deps.clock.now();
    this.deps.record({
      callId: this.invite.callId,
      domain: this.domain,
      caller: this.caller,
      callee: this.firstDialled,
      startedAt: this.startedAt,
      answeredAt: wasAnswered ? this.answeredAt : null,
      endedAt: now,
      durationSeconds: wasAnswered && this.answeredAt !== null ? Math.max(0, Math.round((now - this.answeredAt) / 1000)) : 0,
      disposition: wasAnswered ? 'answered' : finalStatus === 487 ? 'cancelled' : finalStatus === 486 ? 'busy' : finalStatus === 408 ? 'no_answer' : 'failed',
      finalStatus: wasAnswered ? 200 : finalStatus,
      hangupBy,
      endReason,
    });
    this.deps.forget(this);
    this.endNow();
  }
}
