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
