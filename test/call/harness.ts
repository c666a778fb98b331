// Fakes around CallManager: a SIP stack that records what it is asked to send, server transactions
// that record their responses, and a real LocationService / DomainDirectory over in-memory stores.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { RequestAuthenticator } from '../../src/auth/request-authenticator.js';
import { CallManager } from '../../src/call/call-manager.js';
import type { ApplicationDirectory, ServiceContext } from '../../src/call/local-call.js';
import type { MediaRelay } from '../../src/media/relay/media-relay.js';
import { DomainDirectory } from '../../src/registrar/domain-directory.js';
import { LocationService } from '../../src/registrar/location-service.js';
import { createResponse } from '../../src/sip/builders.js';
import type { Endpoint, SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import type { SipStack } from '../../src/stack/sip-stack.js';
import type { Binding, Domain, DomainRepository, Extension, NewCallRecord } from '../../src/store/types.js';
import type { ClientTransaction, ClientTransactionUser, ServerTransaction } from '../../src/transaction/layer.js';
import type { TransactionState } from '../../src/transaction/transaction-state.js';
import { MemoryBindingRepository } from '../registrar/memory-bindings.js';
import { FakeClock } from '../support/fake-clock.js';

export const START = 1_700_000_000_000;
export const CALLER_SOURCE: Endpoint = { transport: 'UDP', address: '198.51.100.10', port: 5060 };
export const CALLER_TAG = 'callertag';
export const CALLER_CALL_ID = 'caller-call-1@198.51.100.10';
export const CALLER_VIA_BRANCH = 'z9hG4bKcaller1';
export const CALLER_CONTACT = 'sip:100@198.51.100.10:5060';
/** an IP literal, so the caller's dialog has a next hop */
export const CALLER_RECORD_ROUTE = '<sip:198.51.100.50;lr>';
export const OFFER_SDP = 'v=0\r\no=alice 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
export const ANSWER_SDP = 'v=0\r\no=bob 2 2 IN IP4 192.0.2.21\r\ns=-\r\nc=IN IP4 192.0.2.21\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n';
export const LATE_ANSWER_SDP = 'v=0\r\no=alice 3 3 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n';

export const DEVICE_A: Endpoint = { transport: 'UDP', address: '192.0.2.21', port: 5060 };
export const DEVICE_B: Endpoint = { transport: 'UDP', address: '192.0.2.22', port: 5062 };
export const DEVICE_A_URI = 'sip:200@192.0.2.21:5060';
export const DEVICE_B_URI = 'sip:200@192.0.2.22:5062';

export function parse<T extends SipRequest | SipResponse>(lines: string[], body = ''): T {
  const bodyBytes = Buffer.from(body);
  const text = `${lines.join('\r\n')}\r\nContent-Length: ${bodyBytes.length}\r\n\r\n`;
  const result = parseMessage(Buffer.concat([Buffer.from(text), bodyBytes]));
  assert.ok(result.ok, result.ok ? '' : result.error);
  return result.message as T;
}

// ---------------------------------------------------------------- fake transactions and stack

export class FakeServerTransaction implements ServerTransaction {
  readonly responses: SipResponse[] = [];
  state: TransactionState = 'Proceeding';
  onAckTimeout?: () => void;
  constructor(readonly request: SipRequest) {}
  get lastResponse(): SipResponse | undefined {
    return this.responses[this.responses.length - 1];
  }
  respond(res: SipResponse): void {
    this.responses.push(res);
  }
  statuses(): number[] {
    return this.responses.map((r) => r.status);
  }
  /** the only final response, asserting there is exactly one */
  final(): SipResponse {
    const finals = this.responses.filter((r) => r.status >= 200);
    assert.equal(finals.length, 1, `one final response expected, got ${finals.map((r) => r.status).join(',')}`);
    return finals[0];
  }
}

export class FakeClientTransaction implements ClientTransaction {
  state: TransactionState = 'Calling';
  terminated = 0;
  constructor(readonly request: SipRequest) {}
  terminate(): void {
    this.terminated++;
  }
}

export interface SentRequest {
  req: SipRequest;
  dest: Endpoint;
  user: ClientTransactionUser;
  tx: FakeClientTransaction;
}

export const OUR_ADDRESS = '203.0.113.1';

export class FakeStack {
  readonly requests: SentRequest[] = [];
  readonly acks: { ack: SipRequest; dest: Endpoint }[] = [];
  readonly cancels: { cancel: SipRequest; dest: Endpoint }[] = [];
  readonly resends: { msg: SipRequest; dest: Endpoint }[] = [];
  /** what findInviteFor answers: the caller's INVITE transaction when the test sets it */
  inviteTx: ServerTransaction | undefined;
  private branchSeq = 0;

  sendRequest(req: SipRequest, dest: Endpoint, user: ClientTransactionUser): ClientTransaction {
    // like the real stack: our own Via with a fresh branch on top
    req.prepend('Via', `SIP/2.0/${dest.transport} ${OUR_ADDRESS}:5060;branch=z9hG4bKours${++this.branchSeq};rport`);
    const tx = new FakeClientTransaction(req);
    this.requests.push({ req, dest, user, tx });
    return tx;
  }
  sendAck(ack: SipRequest, dest: Endpoint): void {
    ack.prepend('Via', `SIP/2.0/${dest.transport} ${OUR_ADDRESS}:5060;branch=z9hG4bKack${++this.branchSeq};rport`);
    this.acks.push({ ack, dest });
  }
  sendCancel(cancel: SipRequest, dest: Endpoint): void {
    this.cancels.push({ cancel, dest });
  }
  resend(msg: SipRequest, dest: Endpoint): void {
    this.resends.push({ msg, dest });
  }
  findInviteFor(_cancel: SipRequest): ServerTransaction | undefined {
    return this.inviteTx;
  }
  /** distinguishable per destination so tests can see which Contact was used */
  contactUri(dest: Endpoint): string {
    return `sip:${OUR_ADDRESS}:5060;x-peer=${dest.address}`;
  }

  byMethod(method: string): SentRequest[] {
    return this.requests.filter((s) => s.req.method === method);
  }
}

// ---------------------------------------------------------------- stores

class MemoryDomainRepository implements DomainRepository {
  private readonly rows: Domain[] = [];
  list(): Domain[] {
    return [...this.rows];
  }
  get(name: string): Domain | undefined {
    return this.rows.find((d) => d.name === name);
  }
  ensureDefault(name: string): Domain {
    for (const d of this.rows) d.isDefault = false;
    const d = this.get(name) ?? this.create(name);
    d.isDefault = true;
    return d;
  }
  create(name: string): Domain {
    const d: Domain = { id: this.rows.length + 1, name, isDefault: false };
    this.rows.push(d);
    return d;
  }
  delete(name: string): boolean {
    const i = this.rows.findIndex((d) => d.name === name);
    if (i < 0) return false;
    this.rows.splice(i, 1);
    return true;
  }
}

function extension(domain: string, number: string, displayName: string, directMedia = false): Extension {
  return { id: 0, domain, number, displayName, ha1Md5: '', ha1Sha256: '', settings: {}, directMedia, createdAt: START, updatedAt: START };
}

export function binding(contactUri: string, at: Endpoint, extra: Partial<Binding> = {}): Binding {
  return {
    domain: 'example.com', number: '200', contact: `<${contactUri}>`, contactUri, q: 1, expiresAt: START + 3_600_000,
    callId: `reg-${contactUri}`, cseq: 1, transport: at.transport, sourceAddress: at.address, sourcePort: at.port, userAgent: 'phone',
    registeredAt: START, ...extra,
  };
}

// ---------------------------------------------------------------- the fixture

export interface Harness {
  clock: FakeClock;
  stack: FakeStack;
  location: LocationService;
  manager: CallManager;
  records: NewCallRecord[];
  noAnswerSeconds: number;
}

/** What a test adds to the fixture: services, and extensions beside 100 (Alice), 200 (Bob) and other.com's 300 (Carol). */
export interface SetupOptions {
  applications?: ApplicationDirectory;
  extensionService?: ApplicationDirectory;
  /** what the services get; the server answers service numbers only with it and `media` */
  services?: ServiceContext;
  /** more extensions of example.com */
  extensions?: readonly { number: string; displayName: string }[];
  /** every extension lets audio go phone to phone */
  directMedia?: boolean;
}

/** `media` builds the relay that anchors the calls' media, on the harness's clock; without it SDP passes through. */
export function setup(
  bindings: Binding[] = [binding(DEVICE_A_URI, DEVICE_A), binding(DEVICE_B_URI, DEVICE_B, { registeredAt: START - 1 })],
  media?: (clock: FakeClock) => MediaRelay,
  options: SetupOptions = {},
): Harness {
  const clock = new FakeClock(START);
  const stack = new FakeStack();
  const domainRepo = new MemoryDomainRepository();
  domainRepo.ensureDefault('example.com');
  domainRepo.create('other.com');
  const domains = new DomainDirectory(domainRepo);
  const location = new LocationService(new MemoryBindingRepository(), clock);
  location.update([], bindings);
  const direct = options.directMedia ?? false;
  const extensions = [
    extension('example.com', '100', 'Alice', direct),
    extension('example.com', '200', 'Bob', direct),
    extension('other.com', '300', 'Carol', direct),
    ...(options.extensions ?? []).map((e) => extension('example.com', e.number, e.displayName, direct)),
  ];
  const auth = {
    authenticate: (req: SipRequest, realm: string) => {
      const number = req.from()?.uri.user ?? '';
      const ext = extensions.find((e) => e.domain === realm && e.number === number) ?? extension(realm, number, '');
      return { ok: true as const, extension: ext };
    },
  } as unknown as RequestAuthenticator;
  const records: NewCallRecord[] = [];
  const h: Harness = {
    clock,
    stack,
    location,
    records,
    noAnswerSeconds: 30,
    manager: undefined as unknown as CallManager,
  };
  h.manager = new CallManager({
    stack: stack as unknown as SipStack,
    domains,
    auth,
    extensions: { find: (domain, number) => extensions.find((e) => e.domain === domain && e.number === number) },
    location,
    noAnswerTimeoutSeconds: () => h.noAnswerSeconds,
    media: media?.(clock),
    applications: options.applications,
    extensionService: options.extensionService,
    services: options.services,
    clock,
    logger: pino({ level: 'silent' }),
    onCallEnded: (rec) => records.push(rec),
  });
  return h;
}

// ---------------------------------------------------------------- messages on the caller's leg

export interface InviteOptions {
  sdp?: boolean;
  extra?: string[];
  requestUri?: string;
  from?: string;
}

export function callerInvite(opts: InviteOptions = {}): SipRequest {
  const sdp = opts.sdp ?? true;
  const req = parse<SipRequest>([
    `INVITE ${opts.requestUri ?? 'sip:200@example.com'} SIP/2.0`,
    `Via: SIP/2.0/UDP 198.51.100.10:5060;branch=${CALLER_VIA_BRANCH};rport`,
    'Max-Forwards: 70',
    `From: ${opts.from ?? '"Alice" <sip:100@example.com>'};tag=${CALLER_TAG}`,
    'To: <sip:200@example.com>',
    `Call-ID: ${CALLER_CALL_ID}`,
    'CSeq: 10 INVITE',
    `Contact: <${CALLER_CONTACT}>`,
    `Record-Route: ${CALLER_RECORD_ROUTE}`,
    ...(sdp ? ['Content-Type: application/sdp'] : []),
    ...(opts.extra ?? []),
  ], sdp ? OFFER_SDP : '');
  req.source = CALLER_SOURCE;
  return req;
}

/** A request from the caller inside its dialog with us (To carries the tag we gave it). */
export function callerInDialog(method: string, seq: number, ourTag: string, extra: string[] = [], body = ''): SipRequest {
  const req = parse<SipRequest>([
    `${method} sip:${OUR_ADDRESS}:5060 SIP/2.0`,
    `Via: SIP/2.0/UDP 198.51.100.50;branch=z9hG4bKin${method}${seq}`,
    `Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKc${method}${seq};rport`,
    'Max-Forwards: 69',
    `From: "Alice" <sip:100@example.com>;tag=${CALLER_TAG}`,
    `To: <sip:200@example.com>;tag=${ourTag}`,
    `Call-ID: ${CALLER_CALL_ID}`,
    `CSeq: ${seq} ${method}`,
    ...extra,
  ], body);
  req.source = { transport: 'UDP', address: '198.51.100.50', port: 5060 };
  return req;
}

/** A request from device A inside its dialog with us. */
export function calleeInDialog(a: SentRequest, method: string, seq: number): SipRequest {
  const req = parse<SipRequest>([
    `${method} sip:${OUR_ADDRESS}:5060 SIP/2.0`,
    `Via: SIP/2.0/UDP ${DEVICE_A.address}:${DEVICE_A.port};branch=z9hG4bKa${method}${seq}`,
    'Max-Forwards: 70',
    'From: <sip:200@example.com>;tag=tagA',
    `To: ${a.req.get('from')}`,
    `Call-ID: ${a.req.callId}`,
    `CSeq: ${seq} ${method}`,
  ]);
  req.source = DEVICE_A;
  return req;
}

/** The caller's CANCEL of its INVITE (RFC 3261 §9.1: same Via, Call-ID, From, To, CSeq number). */
export function callerCancel(): SipRequest {
  const req = parse<SipRequest>([
    'CANCEL sip:200@example.com SIP/2.0',
    `Via: SIP/2.0/UDP 198.51.100.10:5060;branch=${CALLER_VIA_BRANCH};rport`,
    'Max-Forwards: 70',
    `From: "Alice" <sip:100@example.com>;tag=${CALLER_TAG}`,
    'To: <sip:200@example.com>',
    `Call-ID: ${CALLER_CALL_ID}`,
    'CSeq: 10 CANCEL',
  ]);
  req.source = CALLER_SOURCE;
  return req;
}

// ---------------------------------------------------------------- messages on a callee leg

export interface ResponseOptions {
  tag?: string;
  contact?: string;
  sdp?: string;
  extra?: string[];
}

/** A response from a device to the request it was sent, To tag and Contact added. */
export function reply(sent: SentRequest, status: number, opts: ResponseOptions = {}): SipResponse {
  const res = createResponse(sent.req, status, undefined, status === 100 ? undefined : opts.tag ?? 'calleetag');
  if (status !== 100 && status < 300 && opts.contact !== '') res.add('Contact', `<${opts.contact ?? sent.req.uri}>`);
  for (const line of opts.extra ?? []) {
    const i = line.indexOf(':');
    res.add(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  if (opts.sdp !== undefined) {
    res.add('Content-Type', 'application/sdp');
    res.body = Buffer.from(opts.sdp);
  }
  res.source = sent.dest;
  return res;
}

/** Delivers a response to the transaction user CallManager gave the stack. */
export function deliver(sent: SentRequest, status: number, opts: ResponseOptions = {}): SipResponse {
  const res = reply(sent, status, opts);
  sent.user.onResponse(res);
  return res;
}

/** The INVITE sent to the device at `dest` (exactly one). */
export function inviteTo(stack: FakeStack, dest: Endpoint): SentRequest {
  const found = stack.byMethod('INVITE').filter((s) => s.dest.address === dest.address && s.dest.port === dest.port);
  assert.equal(found.length, 1, `one INVITE to ${dest.address}:${dest.port}`);
  return found[0];
}

export function toTagOf(res: SipResponse): string {
  const tag = res.toTag();
  assert.ok(tag, 'response has a To tag');
  return tag;
}
