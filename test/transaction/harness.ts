// Builds SIP messages directly from header lines and wires a TransactionLayer to a fake clock and a
// recording transport, so each test reads as "this arrives, that leaves, at this time".
import { SipRequest, SipResponse, type Endpoint, type HeaderField, type TransportName } from '../../src/sip/message.js';
import type { ClientTransactionUser, ServerTransaction, TimerValues } from '../../src/transaction/layer.js';
import { TransactionLayer } from '../../src/transaction/layer.js';
import { FakeClock } from '../support/fake-clock.js';
import { serialize } from '../../src/sip/serializer.js';
import { parseMessage } from '../../src/sip/parser.js';

export const TIMERS: TimerValues = { T1: 500, T2: 4000, T4: 5000 };

const CANONICAL: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id' };

function fields(lines: Array<[string, string]>): HeaderField[] {
  return lines.map(([name, value]) => ({ key: CANONICAL[name] ?? name.toLowerCase(), name, value }));
}

export interface RequestSpec {
  method?: string;
  uri?: string;
  branch?: string | null;
  viaHost?: string;
  viaPort?: number;
  rport?: boolean;
  transport?: TransportName;
  fromTag?: string;
  toTag?: string;
  callId?: string;
  seq?: number;
  cseqMethod?: string;
  route?: string;
  source?: Endpoint;
}

export function request(spec: RequestSpec = {}): SipRequest {
  const method = spec.method ?? 'INVITE';
  const transport = spec.transport ?? 'UDP';
  const branch = spec.branch === undefined ? 'z9hG4bK-1' : spec.branch;
  const port = spec.viaPort === undefined ? ':5062' : spec.viaPort === 0 ? '' : `:${spec.viaPort}`;
  const via =
    `SIP/2.0/${transport} ${spec.viaHost ?? 'client.example.com'}${port}` +
    (branch === null ? '' : `;branch=${branch}`) +
    (spec.rport ? ';rport' : '');
  const lines: Array<[string, string]> = [
    ['Via', via],
    ['Max-Forwards', '70'],
    ['From', `<sip:alice@example.com>${spec.fromTag === '' ? '' : `;tag=${spec.fromTag ?? 'a1'}`}`],
    ['To', `<sip:bob@example.com>${spec.toTag ? `;tag=${spec.toTag}` : ''}`],
    ['Call-ID', spec.callId ?? 'call-1'],
    ['CSeq', `${spec.seq ?? 1} ${spec.cseqMethod ?? method}`],
  ];
  if (spec.route) lines.push(['Route', spec.route]);
  const req = new SipRequest(method, spec.uri ?? 'sip:bob@example.com', fields(lines));
  req.source = spec.source ?? { transport, address: '192.0.2.10', port: 40000, connectionId: transport === 'UDP' ? undefined : 7 };
  return req;
}

/** A response to `req` as its server would build it: same Via, From, Call-ID, CSeq; To with `toTag`. */
export function response(req: SipRequest, status: number, toTag?: string): SipResponse {
  const lines: Array<[string, string]> = [];
  for (const h of req.headers) {
    if (h.key === 'to') lines.push(['To', toTag ? `${h.value};tag=${toTag}` : h.value]);
    else if (h.key === 'via' || h.key === 'from' || h.key === 'call-id' || h.key === 'cseq') lines.push([h.name, h.value]);
  }
  const res = new SipResponse(status, 'Reason', fields(lines));
  res.source = { transport: 'UDP', address: '198.51.100.5', port: 5060 };
  return res;
}

export interface Sent {
  at: number;
  msg: SipRequest | SipResponse;
  dest: Endpoint;
}

export interface RecordingUser extends ClientTransactionUser {
  responses: SipResponse[];
  timeouts: number;
  errors: Error[];
}

export function recordingUser(): RecordingUser {
  const user: RecordingUser = {
    responses: [],
    timeouts: 0,
    errors: [],
    onResponse: (res) => void user.responses.push(res),
    onTimeout: () => void user.timeouts++,
    onTransportError: (err) => void user.errors.push(err),
  };
  return user;
}

export interface Harness {
  clock: FakeClock;
  layer: TransactionLayer;
  sent: Sent[];
  requests: Array<{ req: SipRequest; tx: ServerTransaction }>;
  acks: SipRequest[];
  strays: SipResponse[];
  /** the next `n` sends throw, as a broken connection would */
  failNextSends(n: number): void;
  timers: TimerValues;
  /** what was sent, as "INVITE" / "ACK" / "100" / "486", in order */
  sentSummary(): string[];
}

export function harness(opts: { timers?: TimerValues } = {}): Harness {
  const clock = new FakeClock();
  let failures = 0;
  const h: Harness = {
    clock,
    sent: [],
    requests: [],
    acks: [],
    strays: [],
    timers: { ...(opts.timers ?? TIMERS) },
    failNextSends: (n) => void (failures = n),
    sentSummary: () => h.sent.map((s) => (s.msg.isRequest ? s.msg.method : String(s.msg.status))),
    layer: new TransactionLayer({
      clock,
      timers: () => ({ ...h.timers }),
      encode: serialize,
      // what went on the wire, read back: tests see exactly the bytes a peer would
      send: (data, dest) => {
        if (failures > 0) {
          failures--;
          throw new Error('connection reset');
        }
        const parsed = parseMessage(data);
        if (!parsed.ok) throw new Error(`sent an unparsable message: ${parsed.error}`);
        h.sent.push({ at: clock.now(), msg: parsed.message, dest });
      },
      isReliable: (transport) => transport !== 'UDP',
      onRequest: (req, tx) => void h.requests.push({ req, tx }),
      onAck: (ack) => void h.acks.push(ack),
      onStrayResponse: (res) => void h.strays.push(res),
    }),
  };
  return h;
}

/** Times at which messages were sent, relative to the first. */
export function sendTimes(sent: Sent[]): number[] {
  return sent.map((s) => s.at);
}
