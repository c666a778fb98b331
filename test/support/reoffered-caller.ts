// A caller the server may move onto its own media with re-INVITEs (a transfer, a park): SIPp signals
// (test/sipp/pickup-park/uac-call-reoffered.xml) while the test is the phone's audio (RtpPeer), which
// follows each re-offer to the port it names. The caller never hangs up itself: the far end must.
import { LogMatch, nthMatch } from './log-match.js';
import { RtpPeer } from './rtp-peer.js';
import { sippInjection, sippScenario, startSipp, type SippHandle, type SippResult, type SippUser } from './sipp.js';

export interface ReofferedCallOptions {
  /** host:port of the server */
  target: string;
  caller: SippUser;
  /** the number dialled */
  callee: string;
  /** whole-run limit of SIPp: the far end must have hung up by then */
  timeoutMs: number;
}

export interface ReofferedCall {
  readonly rtp: RtpPeer;
  readonly sipp: SippHandle;
  /** resolves once answered, with the RTP peer sending to the far end's port */
  answered(timeoutMs?: number): Promise<void>;
  /**
   * Resolves once the server re-offered media once more than this call has seen so far, with the RTP
   * peer sending to the offered port; resolves with that port.
   */
  reoffered(timeoutMs?: number): Promise<number>;
  /** SIPp's result; the RTP socket is closed by then */
  readonly done: Promise<SippResult>;
}

const ANSWERED = /^answered (\d+) /m;
const REOFFERED = /^reoffered (\d+) /gm;

export async function callReoffered(options: ReofferedCallOptions): Promise<ReofferedCall> {
  const rtp = await RtpPeer.open();
  let sipp: SippHandle;
  try {
    sipp = await startSipp({
      scenario: sippScenario('pickup-park/uac-call-reoffered'),
      target: options.target,
      injection: sippInjection([options.caller]),
      keys: { callee: options.callee, rtp_port: String(rtp.port) },
      timeoutMs: options.timeoutMs,
    });
  } catch (err) {
    rtp.close();
    throw err;
  }
  const done = sipp.done.finally(() => rtp.close());
  let reoffersSeen = 0;
  return {
    rtp,
    sipp,
    done,
    async answered(timeoutMs = 10_000) {
      const answer = new LogMatch((log) => ANSWERED.exec(log)?.[1]);
      await sipp.waitForLog(answer, timeoutMs);
      rtp.sendTo(Number(answer.value));
    },
    async reoffered(timeoutMs = 10_000) {
      const wanted = reoffersSeen + 1;
      const reoffer = new LogMatch((log) => nthMatch(log, REOFFERED, wanted));
      await sipp.waitForLog(reoffer, timeoutMs);
      reoffersSeen = wanted;
      const port = Number(reoffer.value);
      rtp.sendTo(port);
      return port;
    },
  };
}
