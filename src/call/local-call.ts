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
import type { Endpoint, SipRequest, SipResponse } from '../sip/message.js';
import type { SipStack } from '../stack/sip-stack.js';
import type { EndReason, NewCallRecord } from '../store/types.js';
import type { Clock } from '../transaction/clock.js';
import type { ClientTransactionUser, ServerTransaction } from '../transaction/layer.js';
import { isSdp } from './call-media.js';
import { dialOutcomeOf, type DialOutcome } from './call.js';
import type { ForkTarget } from './outbound-fork.js';
import { answerReoffer } from './reoffer.js';
import { ServiceBridge } from './service-bridge.js';
import { reinvite } from './reinvite.js';
import { parseReferTo, ReferProgress } from './refer.js';
import { linkEndpoints } from '../media/endpoint-link.js';
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
  /** the extension that transferred the call here (a transfer to a park slot rings it back); else undefined */
  readonly referredBy: string | undefined;
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
  /**
   * Holds the answered call in park slot `slot` of its domain: resolves "retrieved" once someone took it
   * out with retrieve() (the two talk then, until one hangs up), "timeout" after `timeoutMs` (the call is
   * out of the slot and the service's again), "hangup" if the caller hung up; undefined when the slot is taken.
   */
  park(slot: string, timeoutMs: number): Promise<ParkOutcome> | undefined;
  /** Connects this answered call to the call parked in `slot` until one hangs up; false when nothing is parked there. */
  retrieve(slot: string): Promise<boolean>;
  /**
   * Answers a call ringing any of `extensions` (the oldest) and connects it to this call (answered first
   * if it is not yet) until one hangs up; false when none of them is ringing.
   */
  pickUp(extensions: readonly string[]): Promise<boolean>;
  /** Ends the call: BYE when answered, else 480. */
  hangup(): void;
  readonly ended: Promise<void>;
  readonly isEnded: boolean;
}

export type ParkOutcome = 'retrieved' | 'timeout' | 'hangup';

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
  /** puts the call in park slot `slot` of its domain; false when the slot is taken */
  park(call: LocalCall, slot: string): boolean;
  /** takes the call out of park slot `slot` (all of it when `only` is given: only that call) */
  unpark(domain: string, slot: string, only?: LocalCall): LocalCall | undefined;
  /** takes over the caller of the oldest call ringing one of `extensions`, answered by the server */
  takeRinging(picker: LocalCall, extensions: readonly string[]): Promise<LocalCall | undefined>;
  /** the dialog exists from the 200 on: in-dialog requests must find the call */
  onDialog(call: LocalCall, dialog: Dialog): void;
  forget(call: LocalCall): void;
}

export class CallAlreadyEndedError extends Error {}

/** How long a phone that transferred its caller has to hang up by itself before the server does it. */
export const TRANSFEROR_GRACE_MS = 2000;

const IGNORE_RESPONSES: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };

/**
 * A call the server answers itself: the caller's leg only, its audio terminated by a MediaEndpoint
 * that the application plays to, records from and reads digits from.
 */
export class LocalCall implements LocalCallHandle {
  readonly id = randomUUID();
  /** when the call (since its last transfer) began */
  startedAt: number;
  answeredAt: number | null = null;
  dialog: Dialog | undefined;
  readonly ended: Promise<void>;
  private state: 'ringing' | 'dialling' | 'answering' | 'early' | 'answered' | 'ended' = 'ringing';
  /** what the caller dialled (or was last transferred to): the call's record keeps it, wherever services routed the call since */
  private firstDialled: string;
  referredBy: string | undefined;
  /** settles the park() of a parked call */
  private parked: ((outcome: ParkOutcome) => void) | undefined;
  /** how many services have run on this call: the last one started hangs up when it is done */
  turn = 0;
  /** what the service that gave up during a dial wanted, done if the dial comes back unanswered */
  private afterDial: 'hangup' | { status: number; reason: string | undefined } | { number: string; options: RouteOptions } | undefined;
  private own: OwnLeg | undefined;
  private endpoint: MediaEndpoint | undefined;
  private format: NegotiatedFormat | undefined;
  /** a dial from the answered call: the phone joined to the caller */
  private bridge: ServiceBridge | undefined;
  /** the extension whose phone `bridge` reached */
  private bridgedTo: string | undefined;
  /** the ACK of the re-INVITE that moved a taken-over leg here, for a repeated 2xx */
  private reinviteAck: { ack: SipRequest; dest: Endpoint } | undefined;
  /** the phone that transferred the caller away, until it hangs up or is hung up */
  private transferor: ServiceBridge | undefined;
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
    /** the caller's INVITE transaction; none for a leg taken over from another call (adopt) */
    private readonly tx: ServerTransaction | undefined,
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
    if (tx) tx.onAckTimeout = () => this.finish(200, 'system', 'ack_timeout', true);
  }

  /**
   * Takes over a leg of another call that is already talking (the transferred party of a transfer):
   * re-INVITEs the phone onto the server's own media, so services can play to it, dial for it and
   * connect it. Undefined when the phone refuses the re-offer or no media ports are free; the leg is
   * then as it was.
   */
  static async adopt(
    deps: LocalCallDeps,
    leg: { dialog: Dialog; invite: SipRequest },
    party: { domain: string; number: string; displayName: string },
    dialled: string,
  ): Promise<LocalCall | undefined> {
    const call = new LocalCall(deps, leg.invite, undefined, leg.dialog.localTag, party.domain, party.number, party.displayName, dialled);
    return (await call.takeOver(leg.dialog)) ? call : undefined;
  }

  private async takeOver(dialog: Dialog): Promise<boolean> {
    const own = await this.deps.media.openLeg(dialog.nextHop()?.address ?? '127.0.0.1');
    if (!own) return false;
    const offer = makeOffer(own.sdpAddress, own.leg.rtpPort, this.sessionId, this.sessionVersion);
    const result = await reinvite(this.deps, dialog, offer.body, this.deps.allowedMethods);
    const answer = result.ok && isSdp(result.answer.get('content-type')) ? parseSdp(result.answer.body.toString('utf8')) : undefined;
    try {
      if (!answer) throw new SdpNegotiationError(result.ok ? 'the re-INVITE\'s answer carried no SDP' : `the phone answered ${result.status}`);
      const { format, stream } = formatFromAnswer(answer);
      own.leg.setSignalling({ address: stream.address, port: stream.port, rtcpPort: stream.rtcpPort, signallingAddress: dialog.nextHop()?.address ?? stream.address });
      this.own = own;
      this.dialog = dialog;
      this.reinviteAck = result.ok ? result.ack : undefined;
      this.lastAnswerBody = offer.body;
      this.state = 'answered';
      this.answeredAt = this.deps.clock.now();
      this.startMedia(format);
      this.deps.onDialog(this, dialog);
      return true;
    } catch (err) {
      if (!(err instanceof SdpNegotiationError)) throw err;
      this.deps.logger.info({ call: this.id, why: err.message }, 'a phone could not be moved onto the server\'s media');
      own.release();
      this.state = 'ended';
      this.endNow();
      return false;
    }
  }

  /**
   * Connects two answered calls through the server (a pickup, a parked call retrieved, an attended
   * transfer): each hears the other until one hangs up, and then the other is hung up too.
   */
  async connect(other: LocalCall): Promise<void> {
    if (!this.endpoint || !other.endpoint || this.state !== 'answered' || other.state !== 'answered') {
      throw new Error('connect: both calls must be answered');
    }
    const link = linkEndpoints(this.endpoint, other.endpoint);
    await Promise.race([this.ended, other.ended]);
    link.close();
    this.hangup();
    other.hangup();
  }

  park(slot: string, timeoutMs: number): Promise<ParkOutcome> | undefined {
    if (this.state !== 'answered') throw new Error(`park: the call is ${this.state}, answer it first`);
    if (this.parked) throw new Error('park: the call is parked already');
    if (!this.deps.park(this, slot)) return undefined;
    return new Promise((resolve) => {
      const settle = (outcome: ParkOutcome): void => {
        if (!this.parked) return;
        this.parked = undefined;
        this.deps.clock.clearTimer(timer);
        this.deps.unpark(this.domain, slot, this);
        resolve(outcome);
      };
      const timer = this.deps.clock.setTimer(timeoutMs, () => settle('timeout'));
      this.parked = settle;
      void this.ended.then(() => settle('hangup'));
    });
  }

  async retrieve(slot: string): Promise<boolean> {
    const parked = this.deps.unpark(this.domain, slot);
    if (!parked) return false;
    parked.parked?.('retrieved');
    await this.connect(parked);
    return true;
  }

  async pickUp(extensions: readonly string[]): Promise<boolean> {
    if (this.state !== 'answered' && this.state !== 'ringing') throw new Error(`pickup: the call is ${this.state}`);
    const ringing = await this.deps.takeRinging(this, extensions);
    if (!ringing) return false;
    try {
      if (this.state === 'ringing') await this.answer();
    } catch (err) {
      ringing.hangup();
      throw err;
    }
    await this.connect(ringing);
    return true;
  }

  get isEnded(): boolean {
    return this.state === 'ended';
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
    this.respond(res);
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
    this.respond(createResponse(this.invite, status, reason, this.tag));
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
    if (this.tx) this.tx.onAckTimeout = undefined;
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
      if (this.tx) this.tx.onAckTimeout = () => this.finish(200, 'system', 'ack_timeout', true);
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
    this.bridgedTo = outcome.target;
    this.deps.onDialog(this, bridge.dialog!);
    await this.ended;
    return { status: 'answered', answeredBy: outcome.target };
  }

  /** The dialogs of the call: the caller's, and those of the phones it was connected to. */
  dialogs(): Dialog[] {
    return [this.dialog, this.bridge?.dialog, this.transferor?.dialog].filter((d): d is Dialog => d !== undefined);
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
      this.respond(createResponse(this.invite, 487, 'Request Terminated', this.tag));
      this.finish(487, 'system', reason, false);
    }
  }

  onCancel(): void {
    if (this.state === 'answered' || this.state === 'ended') return;
    this.respond(createResponse(this.invite, 487, 'Request Terminated', this.tag));
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

  /** A 2xx for our INVITE again after its transaction ended: our ACK was lost. */
  onRepeatedAnswer(res: SipResponse): void {
    const last = this.reinviteAck;
    if (!last || last.ack.cseq()?.seq !== res.cseq()?.seq) return;
    try {
      this.deps.stack.resend(last.ack, last.dest);
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'could not resend ACK');
    }
  }

  /** A request inside our dialog. */
  onRequest(req: SipRequest, tx: ServerTransaction): void {
    const id = dialogId(req.callId, req.toTag() ?? '', req.fromTag() ?? '');
    const bridge = this.bridge;
    if (bridge?.dialog && id === bridge.dialog.id) {
      if (req.method === 'REFER') {
        this.transferBridged(bridge, req, tx);
        return;
      }
      // the phone hung up: so does the caller
      if (bridge.onRequest(req, tx)) {
        this.sendBye();
        this.finish(200, 'callee', null, true);
      }
      return;
    }
    const transferor = this.transferor;
    if (transferor?.dialog && id === transferor.dialog.id) {
      // the phone that transferred the caller away hangs up: nothing more to do for it
      if (transferor.onRequest(req, tx)) transferor.close();
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

  /**
   * The phone a service connected the caller to transfers the caller (a blind REFER): the caller is back
   * on the server's media and goes on as a call to the number, and the phone is released. The script
   * that dialled stays waiting for the call's end, as the call is no longer its own.
   */
  private transferBridged(bridge: ServiceBridge, req: SipRequest, tx: ServerTransaction): void {
    const target = parseReferTo(req.get('refer-to'));
    if (typeof target === 'string' || target.replaces) {
      tx.respond(createResponse(req, typeof target === 'string' ? 400 : 501, typeof target === 'string'
        ? `Bad Request - ${target}`
        : 'Not Implemented - attended transfer of a call that a service connected'));
      return;
    }
    const phone = bridge.dialog!;
    const accepted = createResponse(req, 202, 'Accepted');
    accepted.add('Contact', `<${this.deps.contactFor(req)}>`);
    tx.respond(accepted);
    const progress = new ReferProgress(this.deps, phone);
    progress.progress(100);
    bridge.detach();
    this.bridge = undefined;
    this.transferor = bridge;
    this.endpoint = new MediaEndpoint(this.own!.leg, this.format!, this.deps.clock);
    this.referredBy = this.bridgedTo;
    progress.finish(200);
    this.deps.clock.setTimer(TRANSFEROR_GRACE_MS, () => bridge.close());
    // as for a transfer by the B2BUA: the call with the transferring phone ends, a new one begins
    this.writeRecord(200, 'callee', null, true);
    this.firstDialled = target.number;
    this.startedAt = this.deps.clock.now();
    this.answeredAt = this.startedAt;
    this.deps.continueAs(this, target.number, false);
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
    this.respond(res);
  }

  private respond(res: SipResponse): void {
    this.tx?.respond(res);
  }

  private refuse(status: number, reason?: string): void {
    if (this.state === 'ended' || this.state === 'answered' || this.state === 'dialling') return;
    this.respond(createResponse(this.invite, status, reason, this.tag));
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
    this.transferor?.close();
    this.endpoint?.close();
    if (this.watched) this.deps.media.unwatch(this.watched);
    this.own?.release();
    this.awaitingAck?.reject(new CallAlreadyEndedError('the call ended'));
    this.awaitingAck = undefined;
    this.writeRecord(finalStatus, hangupBy, endReason, wasAnswered);
    this.deps.forget(this);
    this.endNow();
  }

  private writeRecord(finalStatus: number, hangupBy: 'caller' | 'callee' | 'system', endReason: EndReason | null, wasAnswered: boolean): void {
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
  }
}
