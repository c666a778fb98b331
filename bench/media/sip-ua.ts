// A minimal SIP user agent over UDP on 127.0.0.1 for the media bench: registers users, places calls with
// an SDP offer and answers the calls it receives (180, then 200 with an SDP answer), all through one server.
// Enough of RFC 3261 for that: digest on 401/407, retransmissions on T1/T2, ACK, BYE. Not a general UA.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock, type TimerHandle } from '../../src/transaction/clock.js';
import { digestCredentials, parseChallenge } from './digest-client.js';
import { audioAddress, audioDescription, type MediaAddress } from './sdp.js';
import { cseqOf, formatSipMessage, headerOf, headersOf, paramOf, parseSipMessage, uriOf, userOf, type SipMessage } from './sip-message.js';

const T1_MS = 500;
const T2_MS = 4_000;
/** RFC 3261 Timer H: how long an answered INVITE waits for its ACK. */
const ACK_WAIT_MS = 64 * T1_MS;
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

type Header = readonly [string, string];

export interface UserAgentOptions {
  /** The server's SIP port on 127.0.0.1: every request goes there. */
  serverPort: number;
  /** Host part of the users' addresses of record. */
  domain: string;
  clock?: Clock;
  /** Answering side: the RTP port to answer a call to `user` with; a UA without it refuses calls with 480. */
  answerPort?: (user: string) => number | undefined;
}

export interface OutgoingCall {
  readonly callId: string;
  readonly caller: string;
  readonly callee: string;
  /** Where this leg's RTP is to go: the SDP of the 200 OK; undefined when it had none. */
  readonly media: MediaAddress | undefined;
  /** From sending the INVITE that was let through (the one with credentials) to its 180 Ringing. */
  readonly ringMs: number | undefined;
}

export interface IncomingCall {
  readonly callId: string;
  readonly callee: string;
  /** Where this leg's RTP is to go: the SDP of the INVITE. */
  readonly media: MediaAddress | undefined;
  state: 'answered' | 'confirmed' | 'ended' | 'unacknowledged';
}

export interface UserAgentCounters {
  /** Requests, and 2xx to INVITEs, sent again for want of an answer or an ACK. */
  retransmissions: number;
  /** Datagrams that were not SIP. */
  unparsable: number;
}

interface ClientTransaction {
  onResponse(response: SipMessage): void;
  abort(error: Error): void;
}

interface Dialog {
  readonly call: OutgoingCall;
  readonly from: string;
  readonly to: string;
  readonly target: string;
  cseq: number;
  /** The ACK of the 2xx, sent again if the 2xx is. */
  readonly ack: string;
}

interface AnsweredInvite {
  readonly call: IncomingCall;
  readonly cseq: number;
  readonly final: string;
  retransmit: TimerHandle | undefined;
}

export class SipUserAgent {
  readonly counters: UserAgentCounters = { retransmissions: 0, unparsable: 0 };
  private readonly clock: Clock;
  private readonly transactions = new Map<string, ClientTransaction>();
  /** ACKs of non-2xx final responses, by INVITE branch, while their call is being set up. */
  private readonly failureAcks = new Map<string, string>();
  private readonly dialogs = new Map<string, Dialog>();
  private readonly answered = new Map<string, AnsweredInvite>();
  private readonly latestByCallee = new Map<string, IncomingCall>();
  private readonly idPrefix = randomBytes(6).toString('hex');
  private nextId = 0;
  private nextSessionId = 1;

  private constructor(private readonly socket: dgram.Socket, readonly port: number, private readonly options: UserAgentOptions) {
    this.clock = options.clock ?? systemClock;
    socket.on('message', (data, from) => this.receive(data, from));
  }

  static async open(options: UserAgentOptions): Promise<SipUserAgent> {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: RECEIVE_BUFFER_BYTES });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new SipUserAgent(socket, socket.address().port, options);
  }

  /** REGISTER `user` with this UA's address as its contact, answering the digest challenge. */
  async register(user: string, password: string, timeoutMs: number): Promise<void> {
    const { domain } = this.options;
    const deadline = this.clock.now() + timeoutMs;
    const callId = this.newId();
    const fromTag = this.newId();
    const send = (cseq: number, authorization?: string) => {
      const branch = this.newBranch();
      const headers: Header[] = [
        ['Via', this.via(branch)], ['Max-Forwards', '70'], ['From', `<sip:${user}@${domain}>;tag=${fromTag}`],
        ['To', `<sip:${user}@${domain}>`], ['Call-ID', callId], ['CSeq', `${cseq} REGISTER`],
        ['Contact', `<sip:${user}@127.0.0.1:${this.port}>`], ['Expires', '3600'],
      ];
      if (authorization !== undefined) headers.push(['Authorization', authorization]);
      return this.transact(formatSipMessage(`REGISTER sip:${domain} SIP/2.0`, headers), branch, 'REGISTER', Math.max(1, deadline - this.clock.now()));
    };
    let response = await send(1);
    if (response.status === 401) {
      const challenge = parseChallenge(headersOf(response, 'www-authenticate'));
      if (!challenge) throw new Error(`REGISTER ${user}: 401 without a digest challenge we can answer`);
      response = await send(2, digestCredentials(challenge, { username: user, password, method: 'REGISTER', uri: `sip:${domain}` }));
    }
    if (response.status < 200 || response.status >= 300) throw new Error(`REGISTER ${user}: ${response.status} ${response.reason}`);
  }

  /**
   * INVITE `callee` as `caller`, offering PCMU on 127.0.0.1:`mediaPort`, answering a 407 with credentials;
   * resolves once the 200 OK is acknowledged.
   */
  async call(caller: string, password: string, callee: string, mediaPort: number, timeoutMs: number): Promise<OutgoingCall> {
    const { domain } = this.options;
    const deadline = this.clock.now() + timeoutMs;
    const callId = this.newId();
    const from = `<sip:${caller}@${domain}>;tag=${this.newId()}`;
    const requestUri = `sip:${callee}@${domain}`;
    const body = audioDescription(mediaPort, this.nextSessionId++);
    const branches: string[] = [];
    let ringMs: number | undefined;
    let sentAt = 0;
    const send = (cseq: number, authorization?: string) => {
      const branch = this.newBranch();
      branches.push(branch);
      const headers: Header[] = [
        ['Via', this.via(branch)], ['Max-Forwards', '70'], ['From', from], ['To', `<sip:${callee}@${domain}>`],
        ['Call-ID', callId], ['CSeq', `${cseq} INVITE`], ['Contact', `<sip:${caller}@127.0.0.1:${this.port}>`],
      ];
      if (authorization !== undefined) headers.push(['Proxy-Authorization', authorization]);
      headers.push(['Content-Type', 'application/sdp']);
      sentAt = performance.now();
      const onProvisional = (response: SipMessage) => {
        if (response.status === 180 && ringMs === undefined) ringMs = performance.now() - sentAt;
      };
      const text = formatSipMessage(`INVITE ${requestUri} SIP/2.0`, headers, body);
      return this.transact(text, branch, 'INVITE', Math.max(1, deadline - this.clock.now()), onProvisional);
    };
    // A non-2xx final response is acknowledged in its own transaction (RFC 3261 §17.1.1.3).
    const acknowledgeFailure = (response: SipMessage, cseq: number) => {
      const branch = branches[branches.length - 1]!;
      const ack = formatSipMessage(`ACK ${requestUri} SIP/2.0`, [
        ['Via', this.via(branch)], ['Max-Forwards', '70'], ['From', from], ['To', headerOf(response, 'to') ?? ''],
        ['Call-ID', callId], ['CSeq', `${cseq} ACK`],
      ]);
      this.failureAcks.set(branch, ack);
      this.send(ack);
    };
    try {
      let cseq = 1;
      let response = await send(cseq);
      if (response.status === 407 || response.status === 401) {
        acknowledgeFailure(response, cseq);
        const challenge = parseChallenge(headersOf(response, response.status === 407 ? 'proxy-authenticate' : 'www-authenticate'));
        if (!challenge) throw new Error(`INVITE ${caller} -> ${callee}: ${response.status} without a digest challenge we can answer`);
        cseq = 2;
        response = await send(cseq, digestCredentials(challenge, { username: caller, password, method: 'INVITE', uri: requestUri }));
      }
      if (response.status >= 300) {
        acknowledgeFailure(response, cseq);
        throw new Error(`INVITE ${caller} -> ${callee}: ${response.status} ${response.reason}`);
      }
      const to = headerOf(response, 'to') ?? '';
      const target = uriOf(headerOf(response, 'contact') ?? requestUri);
      const ack = formatSipMessage(`ACK ${target} SIP/2.0`, [
        ['Via', this.via(this.newBranch())], ['Max-Forwards', '70'], ['From', from], ['To', to], ['Call-ID', callId], ['CSeq', `${cseq} ACK`],
      ]);
      const call: OutgoingCall = { callId, caller, callee, media: audioAddress(response.body), ringMs };
      this.dialogs.set(callId, { call, from, to, target, cseq, ack });
      this.send(ack);
      return call;
    } finally {
      for (const branch of branches) this.failureAcks.delete(branch);
    }
  }

  /** BYE on a call this UA placed. */
  async hangUp(call: OutgoingCall, timeoutMs: number): Promise<void> {
    const dialog = this.dialogs.get(call.callId);
    if (!dialog) throw new Error(`BYE ${call.caller} -> ${call.callee}: the call has already ended`);
    dialog.cseq++;
    const branch = this.newBranch();
    const text = formatSipMessage(`BYE ${dialog.target} SIP/2.0`, [
      ['Via', this.via(branch)], ['Max-Forwards', '70'], ['From', dialog.from], ['To', dialog.to], ['Call-ID', call.callId], ['CSeq', `${dialog.cseq} BYE`],
    ]);
    try {
      const response = await this.transact(text, branch, 'BYE', timeoutMs);
      if (response.status >= 300) throw new Error(`BYE ${call.caller} -> ${call.callee}: ${response.status} ${response.reason}`);
    } finally {
      this.dialogs.delete(call.callId);
    }
  }

  /** Whether a call this UA placed is still up: neither side has hung it up. */
  isUp(call: OutgoingCall): boolean {
    return this.dialogs.has(call.callId);
  }

  /** The last call this UA answered for `callee`. */
  incomingFor(callee: string): IncomingCall | undefined {
    return this.latestByCallee.get(callee);
  }

  async close(): Promise<void> {
    for (const transaction of [...this.transactions.values()]) transaction.abort(new Error('user agent closed'));
    for (const invite of this.answered.values()) this.cancel(invite.retransmit);
    this.answered.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private newId(): string {
    return `${this.idPrefix}-${(this.nextId++).toString(36)}`;
  }

  private newBranch(): string {
    return `z9hG4bK-${this.newId()}`;
  }

  private via(branch: string): string {
    return `SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`;
  }

  private cancel(timer: TimerHandle | undefined): void {
    if (timer !== undefined) this.clock.clearTimer(timer);
  }

  private send(text: string, port = this.options.serverPort, address = '127.0.0.1'): void {
    this.socket.send(text, port, address);
  }

  /**
   * One client transaction: sends `text`, retransmits it on T1 doubling (up to T2 for non-INVITE; an INVITE
   * stops at its first provisional) and resolves with the final response, or rejects after `timeoutMs`.
   */
  private transact(text: string, branch: string, method: string, timeoutMs: number, onProvisional?: (response: SipMessage) => void): Promise<SipMessage> {
    const invite = method === 'INVITE';
    return new Promise((resolve, reject) => {
      let interval = T1_MS;
      let retransmit: TimerHandle | undefined;
      const resend = () => {
        this.send(text);
        this.counters.retransmissions++;
        interval = invite ? interval * 2 : Math.min(interval * 2, T2_MS);
        retransmit = this.clock.setTimer(interval, resend);
      };
      const finish = () => {
        this.cancel(retransmit);
        this.clock.clearTimer(timeout);
        this.transactions.delete(branch);
      };
      const timeout = this.clock.setTimer(timeoutMs, () => {
        finish();
        reject(new Error(`${method}: no final response in time`));
      });
      this.transactions.set(branch, {
        onResponse: (response) => {
          if (response.status >= 200) {
            finish();
            resolve(response);
            return;
          }
          if (invite) {
            this.cancel(retransmit);
            retransmit = undefined;
          }
          onProvisional?.(response);
        },
        abort: (error) => {
          finish();
          reject(error);
        },
      });
      retransmit = this.clock.setTimer(interval, resend);
      this.send(text);
    });
  }

  private receive(data: Buffer, from: dgram.RemoteInfo): void {
    const message = parseSipMessage(data);
    if (!message) {
      this.counters.unparsable++;
      return;
    }
    if (message.method === undefined) this.onResponse(message);
    else this.onRequest(message, from);
  }

  private onResponse(response: SipMessage): void {
    const branch = paramOf(headerOf(response, 'via'), 'branch');
    const transaction = branch === undefined ? undefined : this.transactions.get(branch);
    if (transaction) return transaction.onResponse(response);
    if (cseqOf(response)?.method !== 'INVITE' || response.status < 200) return;
    // A final response again: our ACK was lost.
    const ack = response.status < 300 ? this.dialogs.get(headerOf(response, 'call-id') ?? '')?.ack : this.failureAcks.get(branch ?? '');
    if (ack !== undefined) this.send(ack);
  }

  private onRequest(request: SipMessage, from: dgram.RemoteInfo): void {
    const callId = headerOf(request, 'call-id') ?? '';
    const reply = (status: number, reason: string) => this.send(this.response(request, status, reason), from.port, from.address);
    switch (request.method) {
      case 'INVITE':
        return this.onInvite(request, from);
      case 'ACK': {
        const invite = this.answered.get(callId);
        if (!invite) return;
        if (invite.call.state === 'answered') invite.call.state = 'confirmed';
        this.cancel(invite.retransmit);
        invite.retransmit = undefined;
        return;
      }
      case 'BYE': {
        const incoming = this.answered.get(callId);
        const outgoing = this.dialogs.get(callId);
        if (!incoming && !outgoing) return reply(481, 'Call/Transaction Does Not Exist');
        if (incoming) {
          incoming.call.state = 'ended';
          this.cancel(incoming.retransmit);
          this.answered.delete(callId);
        }
        this.dialogs.delete(callId);
        return reply(200, 'OK');
      }
      case 'CANCEL':
      case 'OPTIONS':
        // Calls are answered at once, so a CANCEL finds nothing left to cancel.
        return reply(200, 'OK');
      default:
        return reply(501, 'Not Implemented');
    }
  }

  private onInvite(request: SipMessage, from: dgram.RemoteInfo): void {
    const callId = headerOf(request, 'call-id') ?? '';
    const cseq = cseqOf(request)?.seq ?? 0;
    const known = this.answered.get(callId);
    if (known && known.cseq === cseq) {
      this.send(known.final, from.port, from.address);
      return;
    }
    const callee = userOf(request.uri ?? '') ?? userOf(headerOf(request, 'to') ?? '') ?? '';
    const answerPort = this.options.answerPort?.(callee);
    if (answerPort === undefined) {
      this.send(this.response(request, 480, 'Temporarily Unavailable', this.newId()), from.port, from.address);
      return;
    }
    // A re-INVITE keeps the dialog's tag and gets the same answer.
    const toTag = paramOf(headerOf(request, 'to'), 'tag') ?? this.newId();
    const contact: Header = ['Contact', `<sip:${callee}@127.0.0.1:${this.port}>`];
    const call: IncomingCall = known?.call ?? { callId, callee, media: audioAddress(request.body), state: 'answered' };
    if (known) this.cancel(known.retransmit);
    else this.send(this.response(request, 180, 'Ringing', toTag, [contact]), from.port, from.address);
    const final = this.response(request, 200, 'OK', toTag, [contact, ['Content-Type', 'application/sdp']], audioDescription(answerPort, this.nextSessionId++));
    const invite: AnsweredInvite = { call, cseq, final, retransmit: undefined };
    this.answered.set(callId, invite);
    this.latestByCallee.set(callee, call);
    this.send(final, from.port, from.address);
    // The 2xx is ours to retransmit until the ACK comes (RFC 3261 §13.3.1.4).
    let interval = T1_MS;
    let waited = 0;
    const resend = () => {
      waited += interval;
      if (waited >= ACK_WAIT_MS) {
        call.state = 'unacknowledged';
        this.answered.delete(callId);
        return;
      }
      this.send(final, from.port, from.address);
      this.counters.retransmissions++;
      interval = Math.min(interval * 2, T2_MS);
      invite.retransmit = this.clock.setTimer(interval, resend);
    };
    invite.retransmit = this.clock.setTimer(interval, resend);
  }

  /** A response to `request`, with its Via, From, To (tagged with `toTag` when given), Call-ID, CSeq and Record-Route. */
  private response(request: SipMessage, status: number, reason: string, toTag?: string, extra: readonly Header[] = [], body = ''): string {
    const headers: Header[] = [];
    for (const [name, value] of request.headers) {
      if (name === 'via') headers.push(['Via', value]);
      else if (name === 'record-route') headers.push(['Record-Route', value]);
    }
    const to = headerOf(request, 'to') ?? '';
    headers.push(
      ['From', headerOf(request, 'from') ?? ''],
      ['To', toTag === undefined || paramOf(to, 'tag') !== undefined ? to : `${to};tag=${toTag}`],
      ['Call-ID', headerOf(request, 'call-id') ?? ''],
      ['CSeq', headerOf(request, 'cseq') ?? ''],
      ...extra,
    );
    return formatSipMessage(`SIP/2.0 ${status} ${reason}`, headers, body);
  }
}
