import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { RequestAuthenticator } from '../auth/request-authenticator.js';
import type { MediaRelay } from '../media/relay/media-relay.js';
import { SdpRelayError, type MediaStreamState } from '../media/relay/media-session.js';
import { parseSdp } from '../media/sdp/session-sdp.js';
import { NothingToRecordError, RelayedCallRecording } from '../media/relay/relayed-recording.js';
import type { RecordingMode } from '../media/recorder.js';
import { Dialog, dialogId, uriToEndpoint } from '../dialog/dialog.js';
import type { DomainDirectory } from '../registrar/domain-directory.js';
import type { LocationService } from '../registrar/location-service.js';
import { createResponse, newCallId, newTag } from '../sip/builders.js';
import { splitHeaderValues } from '../sip/headers.js';
import { unescapeUserPart } from '../sip/uri.js';
import { SipRequest, type Endpoint, type SipResponse } from '../sip/message.js';
import type { SipStack } from '../stack/sip-stack.js';
import type { Binding, CallRecord, EndReason, NewCallRecord } from '../store/types.js';
import type { Clock } from '../transaction/clock.js';
import type { ClientTransactionUser, ServerTransaction } from '../transaction/layer.js';
import { callRecordOf, dialOutcomeOf, type Branch, type Call, type DialController, type DialOutcome } from './call.js';
import { copyRecordRoute, copySessionHeaders, mirrorResponse } from './relay.js';
import { isSdp, relayBody, streamCount } from './call-media.js';
import { cancelBranchInvite } from './outbound-fork.js';
import { ParkSlots } from './park-slots.js';
import { parseReferTo, ReferProgress } from './refer.js';
import { CallAlreadyEndedError, LocalCall, TRANSFEROR_GRACE_MS, type Application, type ApplicationDirectory, type LocalCallDeps, type ServiceContext } from './local-call.js';

export interface CallManagerDeps {
  stack: SipStack;
  domains: DomainDirectory;
  auth: RequestAuthenticator;
  extensions: { find(domain: string, number: string): { number: string; displayName: string; directMedia: boolean } | undefined };
  location: LocationService;
  noAnswerTimeoutSeconds: () => number;
  /** anchors every call's media; undefined passes SDP through untouched */
  media: MediaRelay | undefined;
  /** numbers the server answers itself (services); looked up before extensions */
  applications?: ApplicationDirectory;
  /** the service that handles calls to extensions (forwarding, do not disturb, voicemail), if any */
  extensionService?: ApplicationDirectory;
  /** what a caller gets who may not dial the number (call restriction levels); undefined: the call goes on */
  restriction?: (domain: string, caller: string, dialled: string) => Application | undefined;
  /** what services get besides the call; required with applications */
  services?: ServiceContext;
  /** where call recordings go (<data-dir>/recordings) */
  recordingsDir?: string;
  clock: Clock;
  logger: Logger;
  onCallEnded: (record: NewCallRecord) => void;
}

export interface ActiveCall {
  id: string;
  domain: string;
  caller: string;
  callee: string;
  state: 'ringing' | 'answered';
  startedAt: number;
  answeredAt: number | null;
  media: MediaStreamState[];
  /** the recording in progress, as a path inside the data directory */
  recording: { file: string; mode: RecordingMode } | null;
}

export class RecordingRefusedError extends Error {}

interface LegRef {
  call: Call;
  side: 'caller' | 'callee';
}

/** An answered call routed to a plain extension (no extension service): its phones ring. */
function ringExtension(number: string): Application {
  return async (call, services) => {
    await call.dial([number], services.ringSeconds());
  };
}

/** Hand-offs between services (call:route) before a call is refused as a loop. */
const MAX_ROUTE_HOPS = 10;

type CallerExtension = { number: string; displayName: string; directMedia: boolean };

export const ALLOWED_METHODS = 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO, REFER, REGISTER';
export const SUPPORTED_EXTENSIONS = ['100rel'];

/**
 * The B2BUA: an authenticated INVITE to an extension forks to every binding of the callee,
 * the first 2xx wins, and from then on each in-dialog request on one leg is re-issued on the other.
 */
export class CallManager {
  private readonly calls = new Map<string, Call>();
  private readonly dialogs = new Map<string, LegRef>();
  private readonly byInviteTx = new WeakMap<ServerTransaction, Call>();
  private readonly localCalls = new Map<string, LocalCall>();
  private readonly localDialogs = new Map<string, LocalCall>();
  private readonly localByInviteTx = new WeakMap<ServerTransaction, LocalCall>();
  private readonly lastAcks = new WeakMap<Dialog, { ack: SipRequest; dest: Endpoint }>();
  private readonly parked = new ParkSlots<LocalCall>();
  private accepting = true;

  constructor(private readonly deps: CallManagerDeps) {}

  list(): ActiveCall[] {
    // a service's call while it dials is listed as the call that rings the phones
    const local = [...this.localCalls.values()].filter((c) => !c.dialling).map((c): ActiveCall => ({
      id: c.id,
      domain: c.domain,
      caller: c.caller,
      callee: c.dialled,
      state: c.answered ? 'answered' : 'ringing',
      startedAt: c.startedAt,
      answeredAt: c.answeredAt,
      media: c.describeMedia(),
      recording: null,
    }));
    return [...local, ...[...this.calls.values()].map((c): ActiveCall => ({
      id: c.id,
      domain: c.domain,
      caller: c.caller,
      callee: c.callee,
      state: c.state === 'answered' ? 'answered' : 'ringing',
      startedAt: c.startedAt,
      answeredAt: c.answeredAt,
      media: c.media?.describe() ?? [],
      recording: c.recording ? { file: c.recording.file, mode: c.recording.mode } : null,
    }))];
  }

  /** Whether `number` is on a call: talking, or placing one (ringing phones do not count). */
  isBusy(domain: string, number: string): boolean {
    for (const call of this.calls.values()) {
      if (call.domain !== domain) continue;
      if (call.caller === number || (call.state === 'answered' && call.callee === number)) return true;
    }
    for (const call of this.localCalls.values()) if (call.domain === domain && call.caller === number) return true;
    return false;
  }

  count(): number {
    let dialling = 0;
    for (const c of this.localCalls.values()) if (c.dialling) dialling++;
    return this.calls.size + this.localCalls.size - dialling;
  }

  hangup(id: string, reason: EndReason = 'hangup_api'): boolean {
    // while a service dials, its call and the call that rings the phones share the id: ending the latter ends both
    const call = this.calls.get(id);
    if (!call) {
      const local = this.localCalls.get(id);
      local?.terminate(reason);
      return local !== undefined;
    }
    this.hangUpCall(call, reason);
    return true;
  }

  private hangUpCall(call: Call, reason: EndReason): void {
    if (call.state === 'answered') {
      this.sendBye(call, 'caller');
      this.sendBye(call, 'callee');
      this.end(call, 200, 'answered', 'system', reason);
    } else {
      this.cancelBranches(call);
      this.failCaller(call, 487, 'Request Terminated', 'cancelled', 'system', reason);
    }
  }

  /**
   * Records an answered, relayed call to <recordingsDir>/YYYY-MM-DD/<id>.wav until stopRecording() or its
   * end. Undefined for an unknown call; RecordingRefusedError says why one cannot be recorded.
   */
  async startRecording(id: string, mode: RecordingMode): Promise<{ file: string } | undefined> {
    const call = this.calls.get(id);
    if (!call) return undefined;
    if (call.state !== 'answered') throw new RecordingRefusedError('the call is not answered yet');
    if (!call.media) throw new RecordingRefusedError('the call\'s media does not pass through the server (direct media)');
    if (call.recording) throw new RecordingRefusedError(`the call is already being recorded to ${call.recording.file}`);
    const dir = this.deps.recordingsDir;
    if (!dir) throw new RecordingRefusedError('recording is not available on this server');
    const day = new Date(this.deps.clock.now()).toISOString().slice(0, 10);
    const file = path.join('recordings', day, `${call.id}.wav`);
    // taken before the first await, so a second request while the file opens is refused
    const placeholder = { file, mode, recording: undefined as RelayedCallRecording | undefined };
    call.recording = placeholder;
    const media = call.media;
    try {
      await mkdir(path.join(dir, day), { recursive: true });
      placeholder.recording = await RelayedCallRecording.start(media, path.join(dir, day, `${call.id}.wav`), mode, this.deps.clock);
    } catch (err) {
      call.recording = undefined;
      if (err instanceof NothingToRecordError) throw new RecordingRefusedError(err.message);
      throw err;
    }
    // the call may have ended while the file opened; end() could not stop what did not exist yet
    if (!this.calls.has(call.id)) await placeholder.recording.stop();
    return { file };
  }

  /** Stops a recording; undefined when the call is unknown or not being recorded. */
  async stopRecording(id: string): Promise<{ file: string; seconds: number } | undefined> {
    const call = this.calls.get(id);
    const rec = call?.recording;
    if (!call || !rec?.recording) return undefined;
    call.recording = undefined;
    const done = await rec.recording.stop();
    return { file: rec.file, seconds: done.seconds };
  }

  /** Stops taking new calls and ends the active ones. */
  shutdown(): void {
    this.accepting = false;
    // a service's call shares its id with the call its dial rings: one hangup ends both
    for (const id of new Set([...this.calls.keys(), ...this.localCalls.keys()])) this.hangup(id, 'shutdown');
  }

  handleInvite(req: SipRequest, tx: ServerTransaction): void {
    const callerTag = newTag();
    const reject = (status: number, reason?: string) => tx.respond(createResponse(req, status, reason, callerTag));
    if (!this.accepting) return reject(503, 'Service Unavailable - shutting down');
    if (req.body.length > 0 && !isSdp(req.get('content-type'))) {
      const res = createResponse(req, 415, 'Unsupported Media Type', callerTag);
      res.add('Accept', 'application/sdp');
      return tx.respond(res);
    }
    const accept = req.get('accept');
    if (accept !== undefined && !acceptsSdp(accept)) {
      const res = createResponse(req, 406, 'Not Acceptable', callerTag);
      res.add('Accept', 'application/sdp');
      return tx.respond(res);
    }
    const maxForwards = req.maxForwards() ?? 70;
    if (maxForwards === 0) return reject(483, 'Too Many Hops');

    const callerDomain = this.deps.domains.resolve(req.from()?.uri.host);
    const auth = this.deps.auth.authenticate(req, callerDomain, callerTag);
    if (!auth.ok) {
      if (auth.reason !== 'missing') this.deps.logger.info({ from: req.source?.address, why: auth.reason }, 'INVITE authentication failed');
      return tx.respond(auth.response);
    }
    const uri = req.requestUri();
    const calleeDomain = this.deps.domains.resolve(uri?.host);
    // domains are separate companies: one's extensions cannot dial into another's
    if (calleeDomain !== callerDomain) return reject(403, 'Forbidden - another domain');
    const calleeNumber = uri?.user ? unescapeUserPart(uri.user) : undefined;
    this.route(req, tx, callerTag, calleeDomain, auth.extension, calleeNumber, 0);
  }

  /**
   * Where the dialled `calleeNumber` goes: a service the server answers, else the extension's phones.
   * `hops` counts hand-offs from services (call:route), so two services routing to each other end.
   */
  private route(
    req: SipRequest,
    tx: ServerTransaction,
    callerTag: string,
    calleeDomain: string,
    caller: CallerExtension,
    calleeNumber: string | undefined,
    hops: number,
    bypassServices = false,
  ): void {
    const reject = (status: number, reason?: string) => tx.respond(createResponse(req, status, reason, callerTag));
    // From here on the caller is known, so every outcome is a call attempt with a record.
    const refuse = (status: number, reason: string, callee: string) => {
      reject(status, reason);
      const now = this.deps.clock.now();
      this.record({
        callId: req.callId,
        domain: calleeDomain,
        caller: caller.number,
        callee,
        startedAt: now,
        answeredAt: null,
        endedAt: now,
        durationSeconds: 0,
        disposition: 'failed',
        finalStatus: status,
        hangupBy: 'system',
        endReason: null,
      });
    };
    if (hops > MAX_ROUTE_HOPS) return refuse(482, 'Loop Detected - services route to each other', calleeNumber ?? '');
    const refusal = calleeNumber === undefined || bypassServices ? undefined : this.deps.restriction?.(calleeDomain, caller.number, calleeNumber);
    if (refusal && calleeNumber !== undefined) return this.startLocalCall(req, tx, callerTag, calleeDomain, caller, calleeNumber, refusal, hops);
    const application = calleeNumber === undefined || bypassServices ? undefined : this.deps.applications?.find(calleeDomain, calleeNumber);
    if (application && calleeNumber !== undefined) {
      return this.startLocalCall(req, tx, callerTag, calleeDomain, caller, calleeNumber, application, hops);
    }
    const callee = calleeNumber === undefined ? undefined : this.deps.extensions.find(calleeDomain, calleeNumber);
    if (!callee) return refuse(404, 'Not Found', calleeNumber ?? '');
    const extensionService = bypassServices ? undefined : this.deps.extensionService?.find(calleeDomain, callee.number);
    // a service that throws must not cost the extension its calls: its phones ring as they are
    const ringDirectly = (c: LocalCall) => c.route(callee.number, { bypassServices: true });
    if (extensionService) return this.startLocalCall(req, tx, callerTag, calleeDomain, caller, callee.number, extensionService, hops, ringDirectly);
    const bindings = this.deps.location.lookup(calleeDomain, callee.number);
    if (bindings.length === 0) return refuse(480, 'Temporarily Unavailable', callee.number);

    this.startForkedCall(req, tx, callerTag, calleeDomain, caller, [{ ...callee, bindings }], this.deps.noAnswerTimeoutSeconds() * 1000);
  }

  /**
   * Rings the phones of `targets` for a call whose caller the server has not answered yet. The first
   * 2xx wins; with a `controller` (a service's call:dial) a failure goes back to it instead of the caller.
   */
  private startForkedCall(
    req: SipRequest,
    tx: ServerTransaction,
    callerTag: string,
    domain: string,
    caller: CallerExtension,
    targets: ReadonlyArray<{ number: string; directMedia: boolean; bindings: Binding[] }>,
    noAnswerMs: number,
    controller?: DialController,
  ): Call {
    const call: Call = {
      id: controller?.callId ?? randomUUID(),
      domain,
      caller: caller.number,
      callee: targets[0]!.number,
      state: 'ringing',
      invite: req,
      inviteTx: tx,
      callerTag,
      callerDialog: undefined,
      calleeDialog: undefined,
      branches: [],
      startedAt: this.deps.clock.now(),
      answeredAt: null,
      noAnswerTimer: undefined,
      media: undefined,
      recording: undefined,
      rseqMap: new Map(),
      nextRseq: 1,
      callerAcked: false,
      pendingAck: undefined,
      controller,
    };
    this.calls.set(call.id, call);
    this.byInviteTx.set(tx, call);
    tx.onAckTimeout = () => this.onCallerAckTimeout(call);
    call.noAnswerTimer = this.deps.clock.setTimer(noAnswerMs, () => this.onNoAnswer(call));
    const callerName = caller.displayName || caller.number;
    const fork = (offer: Buffer) => {
      for (const target of targets) {
        for (const binding of target.bindings) this.startBranch(call, binding, target.number, offer, callerName, (req.maxForwards() ?? 70) - 1);
      }
      if (call.branches.every((b) => b.state === 'failed')) this.finishIfAllFailed(call);
    };
    const media = this.deps.media;
    const bindings = targets.flatMap((t) => t.bindings);
    if (!media || (caller.directMedia && targets.every((t) => t.directMedia) && reachEachOther(req, bindings))) {
      fork(req.body);
      return call;
    }
    const signalling = { caller: req.source?.address ?? '127.0.0.1', callee: bindings[0]!.sourceAddress };
    media.open({ streams: streamCount(req.body), signalling }).then(
      (session) => {
        if (call.state !== 'ringing') return session?.close();
        if (!session) {
          this.deps.logger.warn({ call: call.id }, 'no free RTP ports for a call');
          return this.failCaller(call, 503, 'Service Unavailable - no media ports', 'failed', 'system');
        }
        call.media = session;
        const offer = new SipRequest('INVITE', req.uri, [], req.body);
        try {
          relayBody(session, 'caller', req, offer, true);
        } catch (err) {
          if (!(err instanceof SdpRelayError)) throw err;
          return this.failCaller(call, 488, 'Not Acceptable Here - unreadable SDP', 'failed', 'system');
        }
        fork(offer.body);
      },
      (err: unknown) => {
        this.deps.logger.error({ err: String(err), call: call.id }, 'could not open media for a call');
        if (call.state === 'ringing') this.failCaller(call, 500, 'Server Internal Error - media', 'failed', 'system');
      },
    );
    return call;
  }

  /** CANCEL of a pending INVITE (RFC 3261 §9.2). */
  handleCancel(req: SipRequest, tx: ServerTransaction): void {
    const inviteTx = this.deps.stack.findInviteFor(req);
    const local = inviteTx ? this.localByInviteTx.get(inviteTx) : undefined;
    if (local) {
      tx.respond(createResponse(req, 200, 'OK'));
      local.onCancel();
      return;
    }
    const call = inviteTx ? this.byInviteTx.get(inviteTx) : undefined;
    if (!call) {
      tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    // RFC 3261 §9.2: the same To tag as the 487 that follows
    tx.respond(createResponse(req, 200, 'OK', call.callerTag));
    if (call.state !== 'ringing') return;
    this.cancelBranches(call);
    this.failCaller(call, 487, 'Request Terminated', 'cancelled', 'caller');
  }

  /** A request carrying a To tag; false when it belongs to no dialog of ours. */
  handleInDialog(req: SipRequest, tx: ServerTransaction): boolean {
    const local = this.localDialogs.get(dialogId(req.callId, req.toTag() ?? '', req.fromTag() ?? ''));
    if (local) {
      local.onRequest(req, tx);
      return true;
    }
    const ref = this.dialogs.get(dialogId(req.callId, req.toTag() ?? '', req.fromTag() ?? ''));
    if (!ref) return false;
    const { call, side } = ref;
    const dialog = side === 'caller' ? call.callerDialog : call.calleeDialog;
    if (!dialog) return false;
    if (dialog.state === 'terminated') {
      // kept only so late retransmissions find it: a BYE that crossed ours is fine, the rest is gone
      tx.respond(createResponse(req, req.method === 'BYE' ? 200 : 481, req.method === 'BYE' ? 'OK' : 'Call/Transaction Does Not Exist'));
      return true;
    }
    if (!dialog.acceptRemoteRequest(req)) {
      tx.respond(createResponse(req, 500, 'Server Internal Error - CSeq out of order'));
      return true;
    }
    if (req.method === 'BYE') {
      tx.respond(createResponse(req, 200, 'OK'));
      if (call.state === 'answered') {
        this.sendBye(call, side === 'caller' ? 'callee' : 'caller');
        this.end(call, 200, 'answered', side);
      } else if (call.state === 'ringing') {
        // RFC 3261 §15: a caller may end an early dialog with BYE instead of CANCEL
        this.cancelBranches(call);
        this.failCaller(call, 487, 'Request Terminated', 'cancelled', side);
      }
      return true;
    }
    if (req.method === 'REFER') {
      this.onRefer(call, side, req, tx);
      return true;
    }
    this.relayInDialog(call, side, req, tx);
    return true;
  }

  /**
   * A phone transfers the party it talks to (RFC 5589): blind to a number, or attended (a Replaces
   * naming its other call) to the party of that call. The B2BUA carries it out itself rather than passing
   * the REFER on: the transferred party is moved onto the server's media and routed on like a call to the
   * number (ringback, forwarding, voicemail) or connected to the other call's party; the transferring phone
   * hears how it went in NOTIFYs and is then released.
   */
  private onRefer(call: Call, side: 'caller' | 'callee', req: SipRequest, tx: ServerTransaction): void {
    const media = this.deps.media;
    const services = this.deps.services;
    const transferorDialog = side === 'caller' ? call.callerDialog : call.calleeDialog;
    if (call.state !== 'answered' || !transferorDialog) {
      tx.respond(createResponse(req, 403, 'Forbidden - only an answered call can be transferred'));
      return;
    }
    if (!media || !services || !call.media) {
      tx.respond(createResponse(req, 501, 'Not Implemented - transfer needs the media relay'));
      return;
    }
    if (call.transferring) {
      tx.respond(createResponse(req, 491, 'Request Pending - a transfer is under way'));
      return;
    }
    const target = parseReferTo(req.get('refer-to'));
    if (typeof target === 'string') {
      tx.respond(createResponse(req, 400, `Bad Request - ${target}`));
      return;
    }
    let consultation: LegRef | undefined;
    if (target.replaces) {
      const { callId, toTag, fromTag } = target.replaces;
      // RFC 3891 names the tags as the phone receiving the Replaces sees them; some phones swap them
      consultation = this.dialogs.get(dialogId(callId, toTag, fromTag)) ?? this.dialogs.get(dialogId(callId, fromTag, toTag));
      if (!consultation || consultation.call === call || consultation.call.state !== 'answered' || consultation.call.transferring || !consultation.call.media) {
        tx.respond(createResponse(req, 403, 'Forbidden - the call named in Replaces is not an answered call of this server'));
        return;
      }
    }
    const accepted = createResponse(req, 202, 'Accepted');
    accepted.add('Contact', `<${this.contactFor(transferorDialog)}>`);
    tx.respond(accepted);
    const progress = new ReferProgress(this.deps, transferorDialog);
    progress.progress(100);
    const transferor: CallerExtension = this.partyOf(call, side);
    call.transferring = true;
    const transferee = side === 'caller' ? 'callee' : 'caller';
    void (async () => {
      const moved = await this.adoptParty(call, transferee, target.number, transferor, media, services);
      if (!moved) {
        call.transferring = false;
        progress.finish(503);
        return;
      }
      moved.referredBy = transferor.number;
      if (!consultation) {
        progress.finish(200);
        this.releaseTransferor(call, side);
        this.continueAnswered(moved, transferor, target.number, services, false);
        return;
      }
      const other = consultation.call;
      other.transferring = true;
      const joined = await this.adoptParty(other, consultation.side === 'caller' ? 'callee' : 'caller', moved.caller, transferor, media, services, false);
      progress.finish(joined ? 200 : 503);
      this.releaseTransferor(call, side);
      if (!joined) {
        other.transferring = false;
        moved.hangup();
        return;
      }
      this.releaseTransferor(other, consultation.side);
      void moved.connect(joined);
    })().catch((err: unknown) => {
      this.deps.logger.error({ err: err instanceof Error ? err.message : String(err), call: call.id }, 'a transfer failed');
      progress.finish(500);
    });
  }

  /**
   * Moves the party on `side` of an answered call onto the server's own media as a LocalCall (routed on
   * by its caller); the call loses that leg. Undefined when the phone would not move: the call is as it was.
   */
  private async adoptParty(
    call: Call,
    side: 'caller' | 'callee',
    dialled: string,
    routedBy: CallerExtension,
    media: MediaRelay,
    services: ServiceContext,
    recorded = true,
  ): Promise<LocalCall | undefined> {
    const dialog = side === 'caller' ? call.callerDialog : call.calleeDialog;
    const invite = side === 'caller' ? call.invite : call.branches.find((b) => b.state === 'answered')?.invite;
    if (!dialog || !invite) return undefined;
    const deps = this.localCallDeps(call.domain, routedBy, media, services, ANSWERED_ONLY);
    // the two parties of an attended transfer talk in one conversation: one record for it
    if (!recorded) deps.record = () => {};
    const party = this.partyOf(call, side);
    const local = await LocalCall.adopt(deps, { dialog, invite }, { domain: call.domain, ...party }, dialled);
    if (!local) return undefined;
    // the leg is the LocalCall's now: the call must neither relay its requests nor end it
    this.dialogs.delete(dialog.id);
    if (side === 'caller') call.callerDialog = undefined;
    else call.calleeDialog = undefined;
    this.localCalls.set(local.id, local);
    if (call.state !== 'answered') local.hangup();
    return local;
  }

  /**
   * Call pickup: the oldest call ringing one of `extensions` (not the picker's own) stops ringing there,
   * and the server answers its caller, who is then the picker's to connect. The record of the call is
   * the answered caller's; a service that was dialling for it hears that the caller is gone.
   */
  private async takeRinging(picker: LocalCall, extensions: readonly string[], media: MediaRelay, services: ServiceContext): Promise<LocalCall | undefined> {
    let oldest: Call | undefined;
    for (const call of this.calls.values()) {
      if (call.domain !== picker.domain || call.state !== 'ringing' || call.caller === picker.caller) continue;
      const rings = call.branches.some((b) => (b.state === 'calling' || b.state === 'early') && extensions.includes(b.target));
      if (rings && (!oldest || call.startedAt < oldest.startedAt)) oldest = call;
    }
    if (!oldest) return undefined;
    const call = oldest;
    const rungFor = call.branches.find((b) => (b.state === 'calling' || b.state === 'early') && extensions.includes(b.target))!.target;
    this.cancelBranches(call);
    const caller = this.partyOf(call, 'caller');
    const answered = new LocalCall(
      this.localCallDeps(call.domain, caller, media, services, ANSWERED_ONLY),
      call.invite,
      call.inviteTx,
      call.callerTag,
      call.domain,
      caller.number,
      caller.displayName,
      rungFor,
    );
    this.release(call);
    if (call.callerDialog) this.dialogs.delete(call.callerDialog.id);
    this.byInviteTx.delete(call.inviteTx);
    this.localCalls.set(answered.id, answered);
    this.localByInviteTx.set(call.inviteTx, answered);
    this.takeController(call)?.onEnded();
    try {
      await answered.answer();
    } catch (err) {
      if (!(err instanceof CallAlreadyEndedError)) throw err;
      return undefined;
    }
    return answered;
  }

  /**
   * After a transfer: the call the transferring phone made or took is over. The phone hangs up by itself
   * on the final NOTIFY; one that does not is hung up shortly after.
   */
  private releaseTransferor(call: Call, side: 'caller' | 'callee'): void {
    this.deps.clock.setTimer(TRANSFEROR_GRACE_MS, () => {
      if (call.state !== 'answered') return;
      this.sendBye(call, side);
      this.end(call, 200, 'answered', side);
    });
  }

  private partyOf(call: Call, side: 'caller' | 'callee'): CallerExtension {
    const number = side === 'caller' ? call.caller : call.callee;
    const extension = this.deps.extensions.find(call.domain, number);
    return { number, displayName: extension?.displayName ?? '', directMedia: extension?.directMedia ?? false };
  }

  /** ACK for a 2xx: ours to absorb, the B2BUA already acknowledged the other leg. */
  handleAck(ack: SipRequest): void {
    const local = this.localDialogs.get(dialogId(ack.callId, ack.toTag() ?? '', ack.fromTag() ?? ''));
    if (local) return local.onAck(ack);
    const ref = this.dialogs.get(dialogId(ack.callId, ack.toTag() ?? '', ack.fromTag() ?? ''));
    if (!ref) return;
    const { call, side } = ref;
    if (side === 'caller') call.callerAcked = true;
    const pending = call.pendingAck;
    if (pending && pending.side === side) {
      // late offer: the SDP answer rides on this ACK and must reach the far leg on ours
      call.pendingAck = undefined;
      this.sendAckTo(pending.dialog, pending.inviteSeq, ack, call, side);
    }
  }

  /** A 2xx retransmitted after its transaction ended: our ACK was lost, send it again. */
  handleStrayResponse(res: SipResponse): void {
    if (res.status < 200 || res.status >= 300 || res.cseq()?.method !== 'INVITE') return;
    const id = dialogId(res.callId, res.fromTag() ?? '', res.toTag() ?? '');
    const local = this.localDialogs.get(id);
    if (local) return local.onRepeatedAnswer(res);
    const ref = this.dialogs.get(id);
    if (!ref) return;
    const dialog = ref.side === 'callee' ? ref.call.calleeDialog : ref.call.callerDialog;
    if (dialog) this.resendAck(dialog, res.cseq()?.seq ?? dialog.localSeq);
  }

  /** A dialled number that a service answers: the server is the callee. */
  private startLocalCall(
    req: SipRequest,
    tx: ServerTransaction,
    tag: string,
    domain: string,
    caller: CallerExtension,
    dialled: string,
    app: Application,
    hops: number,
    onError?: (call: LocalCall) => void,
  ): void {
    const media = this.deps.media;
    const services = this.deps.services;
    if (!media || !services) {
      tx.respond(createResponse(req, 503, 'Service Unavailable - no media', tag));
      return;
    }
    const call = new LocalCall(
      this.localCallDeps(domain, caller, media, services, {
        dial: (c, targets, timeoutMs) => this.dialFromService(c, req, tx, tag, domain, caller, targets, timeoutMs),
        stopDial: () => {
          const dialling = this.byInviteTx.get(tx);
          if (dialling && this.calls.get(dialling.id) === dialling) this.hangUpCall(dialling, 'hangup_api');
        },
        handOff: (c, number, bypassServices) => {
          this.localCalls.delete(c.id);
          this.localByInviteTx.delete(tx);
          this.route(req, tx, tag, domain, caller, number, hops + 1, bypassServices);
        },
      }),
      req,
      tx,
      tag,
      domain,
      caller.number,
      caller.displayName,
      dialled,
    );
    this.localCalls.set(call.id, call);
    this.localByInviteTx.set(tx, call);
    this.runApplication(call, app, services, onError);
  }

  /** What a LocalCall of `domain` needs; `unanswered` is how one that came in with its own INVITE dials and hands off. */
  private localCallDeps(
    domain: string,
    caller: CallerExtension,
    media: MediaRelay,
    services: ServiceContext,
    unanswered: Pick<LocalCallDeps, 'dial' | 'stopDial' | 'handOff'>,
  ): LocalCallDeps {
    return {
      stack: this.deps.stack,
      media,
      clock: this.deps.clock,
      logger: this.deps.logger,
      allowedMethods: ALLOWED_METHODS,
      contactFor: (r) => this.deps.stack.contactUri(r.source ?? uriToEndpoint(r.uri) ?? DEFAULT_DEST),
      record: (rec) => this.record(rec),
      onDialog: (c, dialog) => this.localDialogs.set(dialog.id, c),
      reachable: (targets) => this.reachable(domain, targets),
      park: (c, slot) => this.parked.park(c, slot),
      unpark: (parkDomain, slot, only) => this.parked.unpark(parkDomain, slot, only),
      takeRinging: (picker, extensions) => this.takeRinging(picker, extensions, media, services),
      continueAs: (c, number, bypassServices) => this.continueAnswered(c, caller, number, services, bypassServices),
      forget: (c) => {
        this.localCalls.delete(c.id);
        // kept briefly so retransmitted BYEs and ACKs still find the call
        const dialogs = c.dialogs();
        // a call that never had a dialog of its own (its service dialled) needs no timer to hold it
        if (dialogs.length === 0) return;
        this.deps.clock.setTimer(32_000, () => {
          for (const dialog of dialogs) if (this.localDialogs.get(dialog.id) === c) this.localDialogs.delete(dialog.id);
        });
      },
      ...unanswered,
    };
  }

  /**
   * Runs `app` on the call and hangs up when it is done, unless the call went on in another service
   * (call:route of an answered call) meanwhile: then that one decides.
   */
  private runApplication(call: LocalCall, app: Application, services: ServiceContext, onError?: (call: LocalCall) => void): void {
    const turn = ++call.turn;
    Promise.resolve()
      .then(() => app(call, services))
      .catch((err: unknown) => {
        if (call.isEnded) return;
        this.deps.logger.error({ err: err instanceof Error ? err.message : String(err), call: call.id, dialled: call.dialled }, 'a service failed');
        if (onError && !call.answered && call.turn === turn) onError(call);
      })
      .finally(() => {
        if (call.turn === turn) call.hangup();
      });
  }

  /** call:route of an answered call: what `number` reaches takes over the same call. */
  private continueAnswered(call: LocalCall, caller: CallerExtension, number: string, services: ServiceContext, bypassServices: boolean): void {
    if (call.turn > MAX_ROUTE_HOPS) {
      call.hangup();
      return;
    }
    const app = bypassServices ? (this.deps.extensions.find(call.domain, number) ? ringExtension(number) : undefined) :
      // a transferred call goes where the transferring phone sent it: that phone's restrictions apply
      this.deps.restriction?.(call.domain, call.referredBy ?? caller.number, number) ??
      this.deps.applications?.find(call.domain, number) ??
      this.deps.extensionService?.find(call.domain, number) ??
      (this.deps.extensions.find(call.domain, number) ? ringExtension(number) : undefined);
    if (!app) {
      this.deps.logger.info({ call: call.id, number }, 'an answered call was routed to a number that reaches nothing');
      call.hangup();
      return;
    }
    call.dialled = number;
    this.runApplication(call, app, services);
  }

  /**
   * call:dial of a service for its caller, not answered yet: rings the phones of `targets`. Answered,
   * the call is the B2BUA's from then on and the promise resolves when it ended; otherwise the caller
   * is the service's again and the promise says why nobody answered.
   */
  private dialFromService(
    local: LocalCall,
    req: SipRequest,
    tx: ServerTransaction,
    tag: string,
    domain: string,
    caller: CallerExtension,
    targets: readonly string[],
    timeoutMs: number,
  ): Promise<DialOutcome> {
    const reachable = this.reachable(domain, targets);
    if (reachable.length === 0) return Promise.resolve({ status: 'unavailable', code: 480 });
    if (!this.accepting) return Promise.resolve({ status: 'failed', code: 503 });
    return new Promise((resolve) => {
      this.localByInviteTx.delete(tx);
      const call: Call = this.startForkedCall(req, tx, tag, domain, caller, reachable, timeoutMs, {
        callId: local.id,
        onUnanswered: (status) => {
          this.localByInviteTx.set(tx, local);
          resolve(dialOutcomeOf(status));
        },
        // never during startForkedCall: only a CANCEL, a BYE or a timer ends a call that started
        onEnded: () => resolve(call.answeredAt !== null ? { status: 'answered', answeredBy: call.callee } : { status: 'cancelled', code: 487 }),
      });
    });
  }

  /** The targets that are extensions with a registered phone, with those phones. */
  private reachable(domain: string, targets: readonly string[]): Array<{ number: string; displayName: string; directMedia: boolean; bindings: Binding[] }> {
    return targets.flatMap((number) => {
      const extension = this.deps.extensions.find(domain, number);
      const bindings = extension ? this.deps.location.lookup(domain, number) : [];
      return extension && bindings.length > 0 ? [{ ...extension, bindings }] : [];
    });
  }

  private startBranch(call: Call, binding: Binding, target: string, offer: Buffer, callerName: string, maxForwards: number): void {
    const dest = { transport: binding.transport as 'UDP' | 'TCP' | 'TLS', address: binding.sourceAddress, port: binding.sourcePort };
    const invite = new SipRequest('INVITE', binding.contactUri);
    invite.add('Max-Forwards', String(maxForwards));
    invite.add('From', `${quoteDisplay(callerName)} <sip:${call.caller}@${call.domain}>;tag=${newTag()}`);
    invite.add('To', `<sip:${target}@${call.domain}>`);
    invite.add('Call-ID', newCallId(call.domain));
    invite.add('CSeq', '1 INVITE');
    invite.add('Contact', `<${this.deps.stack.contactUri(dest)}>`);
    invite.add('Allow', ALLOWED_METHODS);
    if (call.invite.optionTags('supported').includes('100rel')) invite.add('Supported', '100rel');
    if (call.invite.optionTags('require').includes('100rel')) invite.add('Require', '100rel');
    copySessionHeaders(call.invite, invite);
    invite.body = offer;
    const branch: Branch = {
      invite,
      dest,
      tx: undefined,
      state: 'calling',
      provisionalSeen: false,
      cancelWanted: false,
      finalStatus: 0,
      earlyDialog: undefined,
      releasedDialog: undefined,
      target,
    };
    call.branches.push(branch);
    const user: ClientTransactionUser = {
      onResponse: (res) => this.onBranchResponse(call, branch, res),
      onTimeout: () => this.onBranchFailed(call, branch, 408),
      onTransportError: () => this.onBranchFailed(call, branch, 503),
    };
    try {
      branch.tx = this.deps.stack.sendRequest(invite, dest, user);
    } catch (err) {
      this.deps.logger.warn({ err: String(err), contact: binding.contactUri }, 'could not send INVITE to a binding');
      branch.state = 'failed';
      branch.finalStatus = 503;
    }
  }

  private onBranchResponse(call: Call, branch: Branch, res: SipResponse): void {
    if (res.status < 200) {
      // RFC 3261 §9.1: any provisional, 100 included, allows the CANCEL we were holding back
      branch.provisionalSeen = true;
      if (branch.cancelWanted) return this.sendCancel(branch);
      if (res.status === 100) return;
      if (call.state !== 'ringing' || branch.state === 'cancelled') return;
      branch.state = 'early';
      if (res.toTag()) branch.earlyDialog ??= Dialog.asUac(branch.invite, res, branch.dest);
      this.relayProvisional(call, branch, res);
      return;
    }
    if (res.status < 300) return this.onBranchAnswered(call, branch, res);
    this.onBranchFailed(call, branch, res.status, res);
  }

  private relayProvisional(call: Call, branch: Branch, res: SipResponse): void {
    const out = mirrorResponse(call.invite, res, call.callerTag);
    if (!this.relayMedia(call, 'callee', res, out, call.invite.body.length === 0)) return;
    copyRecordRoute(call.invite, out);
    out.add('Contact', `<${this.callerContact(call)}>`);
    const rseq = Number(res.get('rseq'));
    if (res.optionTags('require').includes('100rel') && Number.isInteger(rseq)) {
      let ours = [...call.rseqMap].find(([, v]) => v.branch === branch && v.rseq === rseq)?.[0];
      if (ours === undefined) {
        ours = call.nextRseq++;
        call.rseqMap.set(ours, { branch, rseq });
      }
      out.add('Require', '100rel');
      out.add('RSeq', String(ours));
    }
    this.ensureCallerDialog(call, 'early');
    call.inviteTx.respond(out);
  }

  private onBranchAnswered(call: Call, branch: Branch, res: SipResponse): void {
    const inviteSeq = branch.invite.cseq()?.seq ?? 1;
    const answered = call.calleeDialog;
    if (branch.state === 'answered' && answered && answered.remoteTag === res.toTag()) {
      // the 2xx again (RFC 6026 §8.4): our ACK was lost, unless it still waits for the caller's
      if (call.pendingAck?.dialog !== answered) this.resendAck(answered, inviteSeq);
      return;
    }
    const released = branch.releasedDialog;
    if (released && released.remoteTag === res.toTag()) return this.resendAck(released, inviteSeq);
    const dialog = Dialog.asUac(branch.invite, res, branch.dest);
    // a PRACK already used CSeq numbers in this dialog while it was early
    const early = branch.earlyDialog;
    if (early && early.remoteTag === res.toTag()) dialog.localSeq = Math.max(dialog.localSeq, early.localSeq);
    if (call.state !== 'ringing' || branch.state === 'cancelled') {
      // a second device answered in the race with the first: release it at once
      this.sendAckTo(dialog, inviteSeq);
      this.sendRequestIn(dialog, 'BYE');
      branch.state = 'cancelled';
      branch.releasedDialog = dialog;
      return;
    }
    // late offer: the caller's SDP answer comes in its ACK, so ours waits for it
    if (call.invite.body.length === 0) call.pendingAck = { side: 'caller', dialog, inviteSeq };
    else this.sendAckTo(dialog, inviteSeq);
    branch.state = 'answered';
    call.state = 'answered';
    call.callee = branch.target;
    call.answeredAt = this.deps.clock.now();
    this.deps.clock.clearTimer(call.noAnswerTimer);
    call.calleeDialog = dialog;
    this.dialogs.set(dialog.id, { call, side: 'callee' });
    for (const other of call.branches) if (other !== branch) this.cancelBranch(other);
    const out = mirrorResponse(call.invite, res, call.callerTag);
    if (!this.relayMedia(call, 'callee', res, out, call.invite.body.length === 0)) {
      // the winner's SDP cannot be relayed: the call cannot have audio, so it ends before it starts;
      // a late offer's 2xx is still acknowledged first (RFC 3261 §13.2.2.4)
      if (call.pendingAck?.dialog === dialog) {
        call.pendingAck = undefined;
        this.sendAckTo(dialog, inviteSeq);
      }
      this.sendRequestIn(dialog, 'BYE');
      this.failCaller(call, 488, 'Not Acceptable Here - unreadable SDP', 'failed', 'system');
      return;
    }
    if (call.media) this.deps.media?.watch(call.media, () => this.onMediaTimeout(call));
    copyRecordRoute(call.invite, out);
    out.add('Contact', `<${this.callerContact(call)}>`);
    out.add('Allow', ALLOWED_METHODS);
    this.ensureCallerDialog(call, 'confirmed');
    call.inviteTx.respond(out);
    this.deps.logger.debug({ call: call.id, caller: call.caller, callee: call.callee }, 'call answered');
  }

  private onBranchFailed(call: Call, branch: Branch, status: number, res?: SipResponse): void {
    if (branch.state === 'answered' || branch.state === 'failed') return;
    const wasCancelled = branch.state === 'cancelled';
    branch.state = 'failed';
    branch.finalStatus = status;
    if (call.state !== 'ringing' || wasCancelled) return;
    if (status >= 600 && res) {
      this.cancelBranches(call);
      this.failCaller(call, status, res.reason, 'busy', 'callee');
      return;
    }
    this.finishIfAllFailed(call);
  }

  private finishIfAllFailed(call: Call): void {
    if (call.state !== 'ringing' || call.branches.some((b) => b.state === 'calling' || b.state === 'early')) return;
    const statuses = call.branches.map((b) => b.finalStatus);
    if (statuses.some((s) => s === 486 || s === 600)) return this.failCaller(call, 486, 'Busy Here', 'busy', 'callee');
    const clientError = statuses.find((s) => s >= 400 && s < 500 && s !== 408);
    if (clientError !== undefined) return this.failCaller(call, clientError, undefined, 'failed', 'callee');
    if (statuses.every((s) => s === 408)) return this.failCaller(call, 408, 'Request Timeout', 'no_answer', 'system');
    this.failCaller(call, 480, 'Temporarily Unavailable', 'failed', 'system');
  }

  /** Our 2xx was never acknowledged (RFC 3261 §13.3.1.4): the caller is gone, release both legs. */
  private onCallerAckTimeout(call: Call): void {
    if (call.state !== 'answered' || call.callerAcked) return;
    this.sendBye(call, 'caller');
    this.sendBye(call, 'callee');
    this.end(call, 200, 'answered', 'system', 'ack_timeout');
  }

  private onMediaTimeout(call: Call): void {
    if (call.state !== 'answered') return;
    this.deps.logger.info({ call: call.id, caller: call.caller, callee: call.callee }, 'call ended: no media');
    this.sendBye(call, 'caller');
    this.sendBye(call, 'callee');
    this.end(call, 200, 'answered', 'system', 'media_timeout');
  }

  /** Puts the relay into `out`'s SDP (from `src`, sent by `from`); false when that SDP cannot be relayed. */
  private relayMedia(call: Call, from: 'caller' | 'callee', src: SipRequest | SipResponse, out: SipRequest | SipResponse, isOffer: boolean | undefined): boolean {
    if (!call.media) return true;
    try {
      relayBody(call.media, from, src, out, isOffer);
      return true;
    } catch (err) {
      if (!(err instanceof SdpRelayError)) throw err;
      this.deps.logger.info({ call: call.id, from, why: err.message }, 'SDP not relayed');
      return false;
    }
  }

  private onNoAnswer(call: Call): void {
    if (call.state !== 'ringing') return;
    this.cancelBranches(call);
    this.failCaller(call, 408, 'Request Timeout - No Answer', 'no_answer', 'system');
  }

  private failCaller(
    call: Call,
    status: number,
    reason: string | undefined,
    disposition: CallRecord['disposition'],
    hangupBy: CallRecord['hangupBy'],
    endReason: EndReason | null = null,
  ): void {
    if (call.controller && call.state === 'ringing' && hangupBy !== 'caller') {
      // a service dialled: it hears how the dial went and decides what the caller gets
      this.cancelBranches(call);
      this.release(call);
      // the caller's INVITE and its early dialog are the service's again, at once
      if (call.callerDialog) this.dialogs.delete(call.callerDialog.id);
      this.byInviteTx.delete(call.inviteTx);
      this.takeController(call)!.onUnanswered(status);
      return;
    }
    call.inviteTx.respond(createResponse(call.invite, status, reason, call.callerTag));
    this.end(call, status, disposition, hangupBy, endReason);
  }

  private cancelBranches(call: Call): void {
    for (const b of call.branches) this.cancelBranch(b);
  }

  private cancelBranch(branch: Branch): void {
    if (branch.state !== 'calling' && branch.state !== 'early') return;
    branch.state = 'cancelled';
    if (branch.provisionalSeen) this.sendCancel(branch);
    else branch.cancelWanted = true;
  }

  private sendCancel(branch: Branch): void {
    branch.cancelWanted = false;
    cancelBranchInvite(this.deps, branch);
  }

  private relayInDialog(call: Call, side: 'caller' | 'callee', req: SipRequest, tx: ServerTransaction): void {
    const target = this.otherDialog(call, side, req);
    if (!target) {
      tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    const out = target.dialog.createRequest(req.method);
    copySessionHeaders(req, out);
    if (!this.relayMedia(call, side, req, out, req.method === 'PRACK' ? undefined : true)) {
      tx.respond(createResponse(req, 488, 'Not Acceptable Here - unreadable SDP'));
      return;
    }
    if (req.method === 'INVITE' || req.method === 'UPDATE') {
      out.add('Contact', `<${this.contactFor(target.dialog)}>`);
      out.add('Allow', ALLOWED_METHODS);
    }
    if (req.method === 'PRACK' && target.rack) out.add('RAck', target.rack);
    for (const h of req.headers) if (h.key === 'event' || h.key === 'subscription-state') out.add(h.name, h.value);
    const dest = target.dialog.nextHop();
    if (!dest) {
      tx.respond(createResponse(req, 502, 'Bad Gateway - peer unreachable'));
      return;
    }
    const ourTag = side === 'caller' ? call.callerTag : undefined;
    try {
      this.deps.stack.sendRequest(out, dest, {
        onResponse: (res) => {
          if (res.status === 100) return;
          if (req.method === 'INVITE' && res.status >= 200 && res.status < 300) {
            target.dialog.refreshTarget(res);
            const inviteSeq = out.cseq()?.seq ?? target.dialog.localSeq;
            if (req.body.length === 0) call.pendingAck = { side, dialog: target.dialog, inviteSeq };
            else this.sendAckTo(target.dialog, inviteSeq);
          }
          const back = mirrorResponse(req, res, ourTag);
          this.relayMedia(call, side === 'caller' ? 'callee' : 'caller', res, back, req.body.length === 0);
          if ((req.method === 'INVITE' || req.method === 'UPDATE') && res.status < 300) {
            const sourceDialog = side === 'caller' ? call.callerDialog : call.calleeDialog;
            if (sourceDialog) back.add('Contact', `<${this.contactFor(sourceDialog)}>`);
          }
          tx.respond(back);
        },
        onTimeout: () => tx.respond(createResponse(req, 408, 'Request Timeout')),
        onTransportError: () => tx.respond(createResponse(req, 503, 'Service Unavailable')),
      });
    } catch {
      tx.respond(createResponse(req, 503, 'Service Unavailable'));
    }
  }

  /** The dialog on the far leg for a request arriving on `side`; before the answer, the ringing branch. */
  private otherDialog(call: Call, side: 'caller' | 'callee', req: SipRequest): { dialog: Dialog; rack?: string } | undefined {
    if (side === 'callee') return call.callerDialog ? { dialog: call.callerDialog } : undefined;
    if (req.method === 'PRACK') {
      const [rseq, , method] = (req.get('rack') ?? '').trim().split(/\s+/);
      const mapped = call.rseqMap.get(Number(rseq));
      const dialog = mapped?.branch.earlyDialog;
      if (!mapped || !dialog) return undefined;
      return { dialog, rack: `${mapped.rseq} ${mapped.branch.invite.cseq()?.seq ?? 1} ${method ?? 'INVITE'}` };
    }
    if (call.calleeDialog) return { dialog: call.calleeDialog };
    const early = [...call.branches].reverse().find((b) => b.state === 'early' && b.earlyDialog);
    return early?.earlyDialog ? { dialog: early.earlyDialog } : undefined;
  }

  private ensureCallerDialog(call: Call, state: 'early' | 'confirmed'): void {
    if (!call.callerDialog) {
      call.callerDialog = Dialog.asUas(call.invite, call.callerTag, state);
      this.dialogs.set(call.callerDialog.id, { call, side: 'caller' });
    } else if (state === 'confirmed') {
      call.callerDialog.state = 'confirmed';
    }
  }

  private sendBye(call: Call, side: 'caller' | 'callee'): void {
    const dialog = side === 'caller' ? call.callerDialog : call.calleeDialog;
    if (dialog) this.sendRequestIn(dialog, 'BYE');
  }

  private sendRequestIn(dialog: Dialog, method: string): void {
    const dest = dialog.nextHop();
    if (!dest) return;
    try {
      this.deps.stack.sendRequest(dialog.createRequest(method), dest, IGNORE_RESPONSES);
    } catch (err) {
      this.deps.logger.warn({ err: String(err), method }, 'could not send in-dialog request');
    }
  }

  /** ACK for a 2xx, carrying the session description of `answer` (late offer) when given. */
  private sendAckTo(dialog: Dialog, inviteSeq: number, answer?: SipRequest, call?: Call, from?: 'caller' | 'callee'): void {
    const dest = dialog.nextHop();
    if (!dest) return;
    const ack = dialog.createRequest('ACK', inviteSeq);
    if (answer) {
      copySessionHeaders(answer, ack);
      if (call && from) this.relayMedia(call, from, answer, ack, false);
    }
    try {
      this.deps.stack.sendAck(ack, dest);
      this.lastAcks.set(dialog, { ack, dest });
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'could not send ACK');
    }
  }

  /** The same ACK again, for a retransmitted 2xx. */
  private resendAck(dialog: Dialog, inviteSeq: number): void {
    const last = this.lastAcks.get(dialog);
    if (!last || last.ack.cseq()?.seq !== inviteSeq) return this.sendAckTo(dialog, inviteSeq);
    try {
      this.deps.stack.resend(last.ack, last.dest);
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'could not resend ACK');
    }
  }

  private callerContact(call: Call): string {
    const src = call.invite.source;
    return src ? this.deps.stack.contactUri(src) : this.deps.stack.contactUri(uriToEndpoint(call.invite.uri) ?? DEFAULT_DEST);
  }

  private contactFor(dialog: Dialog): string {
    return this.deps.stack.contactUri(dialog.nextHop() ?? DEFAULT_DEST);
  }

  private end(call: Call, finalStatus: number, disposition: CallRecord['disposition'], hangupBy: CallRecord['hangupBy'], endReason: EndReason | null = null): void {
    if (call.state === 'ended') return;
    this.release(call);
    this.record(callRecordOf(call, this.deps.clock.now(), finalStatus, disposition, hangupBy, endReason));
    this.takeController(call)?.onEnded();
  }

  /**
   * The service that dialled, let go of: the ended call stays in the dialog map for late requests
   * (release()), and must not keep the service's call alive with it.
   */
  private takeController(call: Call): DialController | undefined {
    const controller = call.controller;
    call.controller = undefined;
    return controller;
  }

  /** Lets go of everything the call holds, without a record: end() records, a failed dial does not. */
  private release(call: Call): void {
    call.state = 'ended';
    this.deps.clock.clearTimer(call.noAnswerTimer);
    const recording = call.recording?.recording;
    call.recording = undefined;
    recording?.stop().catch((err: unknown) => this.deps.logger.warn({ err: String(err), call: call.id }, 'could not finish a call recording'));
    call.media?.close();
    this.calls.delete(call.id);
    // keep the dialogs briefly so late retransmissions and the ACK still find their call
    this.deps.clock.setTimer(32_000, () => {
      // a later call on the same caller (a service dialling again) may own the same dialog id by now
      for (const dialog of [call.callerDialog, call.calleeDialog]) {
        if (dialog && this.dialogs.get(dialog.id)?.call === call) this.dialogs.delete(dialog.id);
      }
    });
    if (call.callerDialog) call.callerDialog.state = 'terminated';
    if (call.calleeDialog) call.calleeDialog.state = 'terminated';
  }

  private record(rec: NewCallRecord): void {
    try {
      this.deps.onCallEnded(rec);
    } catch (err) {
      this.deps.logger.error({ err }, 'could not write the call record');
    }
  }
}

const IGNORE_RESPONSES: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };
/** A call taken over from another is answered: it never rings phones with its own INVITE nor hands one on. */
const ANSWERED_ONLY: Pick<LocalCallDeps, 'dial' | 'stopDial' | 'handOff'> = {
  dial: () => Promise.resolve({ status: 'failed', code: 500 }),
  stopDial: () => {},
  handOff: () => {},
};
const DEFAULT_DEST = { transport: 'UDP' as const, address: '127.0.0.1', port: 5060 };

/**
 * Whether caller and callees can send media straight to each other: nobody is behind NAT, that is the
 * caller's SDP names the address its SIP comes from, and each callee registered from its contact's host.
 */
function reachEachOther(invite: SipRequest, bindings: readonly Binding[]): boolean {
  const offer = invite.body.length > 0 ? parseSdp(invite.body.toString('utf8')) : undefined;
  const callerAddress = invite.source?.address;
  if (!offer || !callerAddress || offer.streams.some((s) => s.port !== 0 && s.address !== callerAddress)) return false;
  return bindings.every((b) => uriToEndpoint(b.contactUri)?.address === b.sourceAddress);
}

function acceptsSdp(accept: string): boolean {
  if (accept.trim() === '') return true;
  return splitHeaderValues(accept).some((v) => {
    const type = v.split(';')[0].trim().toLowerCase();
    return type === 'application/sdp' || type === 'application/*' || type === '*/*';
  });
}

function quoteDisplay(name: string): string {
  return `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
