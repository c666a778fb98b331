import type { Dialog } from '../dialog/dialog.js';
import type { MediaSession } from '../media/relay/media-session.js';
import type { RecordingMode } from '../media/recorder.js';
import type { RelayedCallRecording } from '../media/relay/relayed-recording.js';
import type { Endpoint, SipRequest } from '../sip/message.js';
import type { CallRecord, EndReason, NewCallRecord } from '../store/types.js';
import type { ClientTransaction, ServerTransaction } from '../transaction/layer.js';

export type BranchState = 'calling' | 'early' | 'answered' | 'failed' | 'cancelled';

/** One outbound INVITE of a fork: the UAC side towards one registered device. */
export interface Branch {
  invite: SipRequest;
  dest: Endpoint;
  tx: ClientTransaction | undefined;
  state: BranchState;
  /** a provisional response arrived, so a CANCEL may be sent (RFC 3261 §9.1) */
  provisionalSeen: boolean;
  cancelWanted: boolean;
  finalStatus: number;
  earlyDialog: Dialog | undefined;
  /** answered after another branch won: acknowledged and released with BYE */
  releasedDialog: Dialog | undefined;
  /** the extension whose phone this branch rings */
  target: string;
}

export type CallState = 'ringing' | 'answered' | 'ended';

/** A call: the caller's leg (we are its UAS) joined to the winning branch of a fork. */
export interface Call {
  id: string;
  domain: string;
  caller: string;
  callee: string;
  state: CallState;
  invite: SipRequest;
  inviteTx: ServerTransaction;
  /** our tag towards the caller, the same whichever branch answers */
  callerTag: string;
  callerDialog: Dialog | undefined;
  calleeDialog: Dialog | undefined;
  branches: Branch[];
  startedAt: number;
  answeredAt: number | null;
  noAnswerTimer: unknown;
  /** the relay carrying the call's audio; undefined while it opens, or with media passed through */
  media: MediaSession | undefined;
  /** a recording in progress; `recording` is unset while it opens its file */
  recording: { file: string; mode: RecordingMode; recording: RelayedCallRecording | undefined } | undefined;
  /** reliable provisionals relayed to the caller: our RSeq -> the branch and its RSeq */
  rseqMap: Map<number, { branch: Branch; rseq: number }>;
  nextRseq: number;
  callerAcked: boolean;
  /** a 2xx to an INVITE without an offer: our ACK on `dialog` waits for the ACK from `side` */
  pendingAck: { side: 'caller' | 'callee'; dialog: Dialog; inviteSeq: number } | undefined;
  /** the service that dialled (call:dial): it hears a failure instead of the caller, and the end */
  controller?: DialController;
  /** a REFER is being carried out: a second one waits */
  transferring?: boolean;
}

/** What a service's call:dial learns from the B2BUA. */
export interface DialController {
  /** the id of the service's call: the call that rings the phones is listed (GET /api/v1/calls) under it */
  readonly callId: string;
  /** nobody answered: the caller is untouched (no final response, no record) and the service goes on */
  onUnanswered(status: number): void;
  /** the call was answered and has now ended, or the caller cancelled: the caller's side is over */
  onEnded(): void;
}

/** How a service's call:dial ended (docs/lua-api.md). */
export type DialOutcome =
  | { status: 'answered'; answeredBy: string }
  | { status: 'busy' | 'noanswer' | 'unavailable' | 'failed' | 'cancelled'; code: number };

export function dialOutcomeOf(status: number): DialOutcome {
  if (status === 486 || status === 600 || status === 603) return { status: 'busy', code: status };
  if (status === 408) return { status: 'noanswer', code: status };
  if (status === 404 || status === 410 || status === 480 || status === 503) return { status: 'unavailable', code: status };
  return { status: 'failed', code: status };
}

export function callRecordOf(
  call: Call,
  endedAt: number,
  finalStatus: number,
  disposition: CallRecord['disposition'],
  hangupBy: CallRecord['hangupBy'],
  endReason: EndReason | null,
): NewCallRecord {
  return {
    callId: call.invite.callId,
    domain: call.domain,
    caller: call.caller,
    callee: call.callee,
    startedAt: call.startedAt,
    answeredAt: call.answeredAt,
    endedAt,
    durationSeconds: call.answeredAt === null ? 0 : Math.max(0, Math.round((endedAt - call.answeredAt) / 1000)),
    disposition,
    finalStatus,
    hangupBy,
    endReason,
  };
}
