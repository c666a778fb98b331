// A phone calling a service: SIPp signals (test/sipp/lua/uac-service-call.xml) while the test is the
// phone's audio (RtpPeer), so it can answer prompts with key presses and speak into a recording.
import { RtpPeer } from './rtp-peer.js';
import { sippInjection, sippScenario, startSipp, type SippHandle, type SippResult, type SippUser } from './sipp.js';

export interface ServiceCallOptions {
  /** host:port of the server */
  target: string;
  caller: SippUser;
  /** the number dialled */
  callee: string;
  /** how long the caller waits for the far end's BYE before it hangs up itself */
  holdMs: number;
  /** whole-run limit of SIPp */
  timeoutMs?: number;
}

/** Times of the call's milestones as SIPp logged them, in ms since the epoch. */
export interface CallTimes {
  /** the INVITE with credentials went out */
  invitedAt: number;
  /** the 200 came */
  answeredAt: number;
}

export interface ServiceCall {
  readonly rtp: RtpPeer;
  readonly sipp: SippHandle;
  /** resolves once answered, with the RTP peer sending to the far end's port */
  answered(timeoutMs?: number): Promise<CallTimes>;
  /** SIPp's result; the RTP socket is closed by then */
  readonly done: Promise<SippResult>;
}

const ANSWERED = /^answered (\d+) (\d+)(?:\.\d+)? (\d+)(?:\.\d+)? /m;
const INVITED = /^invite (\d+)(?:\.\d+)? (\d+)(?:\.\d+)?$/m;

/** Milestone times from a uac-service-call log; undefined until the call was answered. */
export function callTimes(log: string): CallTimes | undefined {
  const invited = INVITED.exec(log);
  const answered = ANSWERED.exec(log);
  if (!invited || !answered) return undefined;
  const ms = (seconds: string, micros: string) => Number(seconds) * 1000 + Number(micros) / 1000;
  return { invitedAt: ms(invited[1]!, invited[2]!), answeredAt: ms(answered[2]!, answered[3]!) };
}

export async function callService(options: ServiceCallOptions): Promise<ServiceCall> {
  const rtp = await RtpPeer.open();
  let sipp: SippHandle;
  try {
    sipp = await startSipp({
      scenario: sippScenario('lua/uac-service-call'),
      target: options.target,
      injection: sippInjection([options.caller]),
      keys: { callee: options.callee, hold_ms: String(options.holdMs), rtp_port: String(rtp.port) },
      timeoutMs: options.timeoutMs ?? options.holdMs + 15_000,
    });
  } catch (err) {
    rtp.close();
    throw err;
  }
  const done = sipp.done.finally(() => rtp.close());
  return {
    rtp,
    sipp,
    done,
    async answered(timeoutMs = 10_000) {
      const answer = new LogCapture(ANSWERED.source, 'm');
      await sipp.waitForLog(answer, timeoutMs);
      const port = ANSWERED.exec(answer.log)?.[1];
      const times = callTimes(answer.log);
      if (port === undefined || times === undefined) throw new Error(`no answer in the caller's log:\n${answer.log}`);
      rtp.sendTo(Number(port));
      return times;
    },
  };
}

/** A pattern for SippHandle.waitForLog that keeps the log text it matched. */
class LogCapture extends RegExp {
  log = '';

  override test(text: string): boolean {
    const matched = super.test(text);
    if (matched) this.log = text;
    return matched;
  }
}
