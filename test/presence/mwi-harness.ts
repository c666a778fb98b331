// Fakes around MwiService: a SIP stack that records the NOTIFYs it is asked to send, server
// transactions that record their responses, an authenticator that trusts one header, and a real
// LocationService over an in-memory repository.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { AuthResult } from '../../src/auth/request-authenticator.js';
import { MwiService, type MwiServiceDeps } from '../../src/presence/mwi-service.js';
import { parseMessageSummary, type MessageCounts, type MessageSummary } from '../../src/presence/message-summary.js';
import { LocationService } from '../../src/registrar/location-service.js';
import { createResponse } from '../../src/sip/builders.js';
import type { Endpoint, SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import type { Binding, Extension } from '../../src/store/types.js';
import type { ClientTransaction, ClientTransactionUser, ServerTransaction } from '../../src/transaction/layer.js';
import type { TransactionState } from '../../src/transaction/transaction-state.js';
import { MemoryBindingRepository } from '../registrar/memory-bindings.js';
import { FakeClock } from '../support/fake-clock.js';

export const START = 1_700_000_000_000;
export const DOMAIN = 'example.com';
export const PHONE: Endpoint = { transport: 'UDP', address: '198.51.100.7', port: 5062 };
export const PHONE_CONTACT = 'sip:1001@198.51.100.7:5062';
export const OUR_CONTACT = 'sip:203.0.113.1:5060';

export class FakeServerTransaction implements ServerTransaction {
  readonly responses: SipResponse[] = [];
  state: TransactionState = 'Trying';
  constructor(readonly request: SipRequest) {}
  respond(res: SipResponse): void {
    this.responses.push(res);
  }
  /** the only response, asserting there is exactly one */
  sole(): SipResponse {
    assert.equal(this.responses.length, 1, `one response expected, got ${this.responses.map((r) => r.status).join(',')}`);
    return this.responses[0];
  }
}

export interface SentRequest {
  req: SipRequest;
  dest: Endpoint;
  user: ClientTransactionUser;
}

export class FakeStack {
  readonly sent: SentRequest[] = [];
  /** when set, sendRequest throws it, as the transport does for an unusable destination */
  failWith: Error | undefined;
  private branches = 0;

  sendRequest(req: SipRequest, dest: Endpoint, user: ClientTransactionUser): ClientTransaction {
    if (this.failWith) throw this.failWith;
    req.prepend('Via', `SIP/2.0/${dest.transport} 203.0.113.1:5060;branch=z9hG4bKmwi${++this.branches};rport`);
    this.sent.push({ req, dest, user });
    return { request: req, state: 'Trying', terminate() {} };
  }

  contactUri(): string {
    return OUR_CONTACT;
  }

  /** the NOTIFYs sent since the last call, emptying the list */
  take(): SentRequest[] {
    return this.sent.splice(0);
  }

  /** the one NOTIFY sent since the last take() */
  takeOne(): SentRequest {
    const sent = this.take();
    assert.equal(sent.length, 1, `one NOTIFY expected, got ${sent.length}`);
    return sent[0];
  }
}

/** Trusts `X-Test-User: N`, as if N had answered the challenge; anything else is challenged. */
function fakeAuth(extensions: readonly string[]) {
  return {
    authenticate(req: SipRequest, realm: string, toTag: string): AuthResult {
      const user = req.get('x-test-user');
      if (user !== undefined && extensions.includes(user)) return { ok: true, extension: extension(realm, user) };
      const res = createResponse(req, 407, undefined, toTag);
      res.add('Proxy-Authenticate', `Digest realm="${realm}", nonce="n1", algorithm=MD5`);
      return { ok: false, response: res, reason: user === undefined ? 'missing' : 'invalid' };
    },
  };
}

function extension(domain: string, number: string): Extension {
  return { id: 1, domain, number, displayName: '', ha1Md5: '', ha1Sha256: '', settings: {}, directMedia: false, createdAt: START, updatedAt: START };
}

export function binding(number: string, contactUri: string, at: Endpoint): Binding {
  return {
    domain: DOMAIN, number, contact: `<${contactUri}>`, contactUri, q: 1, expiresAt: START + 3_600_000, callId: `reg-${contactUri}`, cseq: 1,
    transport: at.transport, sourceAddress: at.address, sourcePort: at.port, userAgent: 'phone', registeredAt: START,
  };
}

export interface MwiHarness {
  clock: FakeClock;
  stack: FakeStack;
  location: LocationService;
  counts: Map<string, MessageCounts>;
  /** makes the voicemail store's counts throw `err` until called with undefined */
  failCounts(err: Error | undefined): void;
  mwi: MwiService;
}

export function setup(options: Partial<Pick<MwiServiceDeps, 'unsolicited' | 'minExpires' | 'maxExpires' | 'defaultExpires'>> = {}): MwiHarness {
  const clock = new FakeClock(START);
  const stack = new FakeStack();
  const location = new LocationService(new MemoryBindingRepository(), clock);
  const counts = new Map<string, MessageCounts>();
  let countsError: Error | undefined;
  const mwi = new MwiService({
    stack,
    auth: fakeAuth(['1001', '1002']),
    domains: { resolve: (host) => (host === 'other.com' ? 'other.com' : DOMAIN) },
    location,
    counts: (domain, mailbox) => {
      if (countsError) throw countsError;
      return counts.get(`${mailbox}@${domain}`) ?? { newCount: 0, savedCount: 0 };
    },
    clock,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  return { clock, stack, location, counts, failCounts: (err) => (countsError = err), mwi };
}

export function parse<T extends SipRequest | SipResponse>(lines: string[], body = ''): T {
  const text = `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const result = parseMessage(Buffer.from(text));
  assert.ok(result.ok, result.ok ? '' : result.error);
  return result.message as T;
}

export interface SubscribeOptions {
  user?: string;
  mailbox?: string;
  host?: string;
  /** undefined leaves the header out */
  expires?: string;
  event?: string | null;
  accept?: string;
  callId?: string;
  cseq?: number;
  toTag?: string;
  /** who the authenticator should take the sender for; null sends no credentials */
  authenticatedAs?: string | null;
  contact?: string;
  method?: string;
}

/** A SUBSCRIBE from PHONE as the stack delivers it (source set). */
export function subscribe(o: SubscribeOptions = {}): SipRequest {
  const user = o.user ?? '1001';
  const method = o.method ?? 'SUBSCRIBE';
  const host = o.host ?? DOMAIN;
  const lines = [
    `${method} sip:${o.mailbox ?? user}@${host} SIP/2.0`,
    `Via: SIP/2.0/UDP ${PHONE.address}:${PHONE.port};branch=z9hG4bKphone${o.cseq ?? 1}${o.callId ?? ''}`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${host}>;tag=phonetag`,
    `To: <sip:${o.mailbox ?? user}@${host}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? 'sub-1@198.51.100.7'}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    `Contact: <${o.contact ?? PHONE_CONTACT}>`,
  ];
  if (o.event !== null) lines.push(`Event: ${o.event ?? 'message-summary'}`);
  if (o.accept !== undefined) lines.push(`Accept: ${o.accept}`);
  if (o.expires !== undefined) lines.push(`Expires: ${o.expires}`);
  if (o.authenticatedAs !== null) lines.push(`X-Test-User: ${o.authenticatedAs ?? user}`);
  const req = parse<SipRequest>(lines);
  req.source = { ...PHONE };
  return req;
}

/** Sends an out-of-dialog SUBSCRIBE and returns its response. */
export function send(h: MwiHarness, req: SipRequest): SipResponse {
  const tx = new FakeServerTransaction(req);
  h.mwi.handleSubscribe(req, tx);
  return tx.sole();
}

/** Sends an in-dialog request; undefined when MwiService does not claim it. */
export function sendInDialog(h: MwiHarness, req: SipRequest): SipResponse | undefined {
  const tx = new FakeServerTransaction(req);
  if (!h.mwi.handleInDialog(req, tx)) {
    assert.equal(tx.responses.length, 0, 'a request not claimed is not answered');
    return undefined;
  }
  return tx.sole();
}

/** Answers a NOTIFY the way the phone would. */
export function answer(sent: SentRequest, status: number): void {
  sent.user.onResponse(createResponse(sent.req, status));
}

export function summaryOf(req: SipRequest): MessageSummary {
  const summary = parseMessageSummary(req.body.toString('utf8'));
  assert.ok(summary, `NOTIFY body is a message summary:\n${req.body.toString('utf8')}`);
  return summary;
}

export function voiceCounts(req: SipRequest): string {
  const voice = summaryOf(req).classes['voice-message'];
  assert.ok(voice, 'a Voice-Message line');
  return `${voice.newCount}/${voice.oldCount} (${voice.urgentNew}/${voice.urgentOld})`;
}
