import type { Logger } from 'pino';
import { RateLimitedLog, type SipTrace } from '../log/logger.js';
import { createResponse, newBranch, newTag } from '../sip/builders.js';
import { formatVia, splitHeaderValues } from '../sip/headers.js';
import type { Endpoint, SipResponse } from '../sip/message.js';
import { SipRequest } from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';
import { serialize } from '../sip/serializer.js';
import { validateRequest, validateResponse } from '../sip/validate.js';
import type { Clock } from '../transaction/clock.js';
import {
  TransactionLayer,
  type ClientTransaction,
  type ClientTransactionUser,
  type ServerTransaction,
  type TimerValues,
} from '../transaction/layer.js';
import { TransportLayer, type Listener, type TransportOptions } from '../transport/transport-layer.js';

/** What sits on top of the SIP stack (the PBX core) and receives what the stack cannot handle itself. */
export interface StackUser {
  onRequest(req: SipRequest, tx: ServerTransaction): void;
  onAck(ack: SipRequest): void;
  onStrayResponse(res: SipResponse): void;
}

export interface SipStackOptions {
  transport: Omit<TransportOptions, 'onMessage' | 'onLog' | 'onSendFailure'>;
  clock: Clock;
  timers: () => TimerValues;
  logger: Logger;
  trace?: SipTrace;
  /** product name for User-Agent and Server headers */
  userAgent: string;
  /** larger messages are dropped unparsed (streams also cap the body at this size) */
  maxMessageBytes: number;
}

/**
 * The SIP stack as one object: transport, parser, validation and transactions wired together.
 * It knows nothing of extensions or calls; the PBX core plugs in as the StackUser.
 */
export class SipStack {
  readonly transactions: TransactionLayer;
  private transport!: TransportLayer;
  private user: StackUser | undefined;
  private readonly badMessageLog: RateLimitedLog;

  private constructor(private readonly opts: SipStackOptions) {
    this.badMessageLog = new RateLimitedLog((msg, fields) => opts.logger.warn(fields, msg));
    // Timer callbacks reach the PBX too (timeouts, transport errors): they get the same guard.
    const clock: Clock = { ...opts.clock, setTimer: (ms, fn) => opts.clock.setTimer(ms, () => this.dispatch(fn)) };
    this.transactions = new TransactionLayer({
      clock,
      timers: opts.timers,
      encode: (msg) => this.encode(msg),
      send: (data, dest) => this.sendEncoded(data, dest),
      isReliable: (t) => t !== 'UDP',
      onRequest: (req, tx) => this.deliverRequest(req, tx),
      onAck: (ack) => this.dispatch(() => this.user?.onAck(ack)),
      onStrayResponse: (res) => this.dispatch(() => this.user?.onStrayResponse(res)),
    });
  }

  static async start(opts: SipStackOptions): Promise<SipStack> {
    const stack = new SipStack(opts);
    stack.transport = await TransportLayer.start({
      ...opts.transport,
      onMessage: (data, source) => stack.receive(data, source),
      onSendFailure: (dest, err) => stack.dispatch(() => stack.transactions.transportFailed(dest, err)),
      onLog: (level, msg, fields) => opts.logger[level](fields ?? {}, msg),
    });
    return stack;
  }

  setUser(user: StackUser): void {
    this.user = user;
  }

  listeners(): Listener[] {
    return this.transport.listeners();
  }

  /** sends a request in a new client transaction; adds our Via with a fresh branch */
  sendRequest(req: SipRequest, dest: Endpoint, user: ClientTransactionUser): ClientTransaction {
    req.prepend('Via', this.viaFor(dest));
    return this.transactions.sendRequest(req, dest, user);
  }

  /** ACK for a 2xx: a transaction of its own per RFC 3261 §17.1.1.3, sent without one */
  sendAck(ack: SipRequest, dest: Endpoint): void {
    ack.prepend('Via', this.viaFor(dest));
    this.transactions.sendStateless(ack, dest);
  }

  /** CANCEL shares its INVITE's top Via (RFC 3261 §9.1), so it is sent as built */
  sendCancel(cancel: SipRequest, dest: Endpoint): void {
    this.transactions.sendRequest(cancel, dest, IGNORE_RESPONSES);
  }

  /** a message sent before, again and unchanged (an ACK for a retransmitted 2xx) */
  resend(msg: SipRequest, dest: Endpoint): void {
    this.transactions.sendStateless(msg, dest);
  }

  findInviteFor(cancel: SipRequest): ServerTransaction | undefined {
    return this.transactions.findInviteFor(cancel);
  }

  viaFor(dest: Endpoint): string {
    const local = this.transport.localEndpointFor(dest);
    return `SIP/2.0/${dest.transport} ${hostPort(local.address, local.port)};branch=${newBranch()};rport`;
  }

  /** the local address a message to `remote` leaves from (for SDP) */
  localAddressFor(remote: string): string {
    return this.transport.localEndpointFor({ transport: 'UDP', address: remote, port: 5060 }).address;
  }

  /** our Contact URI as seen from dest */
  contactUri(dest: Endpoint, user?: string): string {
    const local = this.transport.localEndpointFor(dest);
    const scheme = dest.transport === 'TLS' ? 'sips' : 'sip';
    const transportParam = dest.transport === 'UDP' || dest.transport === 'TLS' ? '' : `;transport=${dest.transport.toLowerCase()}`;
    return `${scheme}:${user ? `${user}@` : ''}${hostPort(local.address, local.port)}${transportParam}`;
  }

  async close(): Promise<void> {
    this.transactions.shutdown();
    await this.transport.close();
  }

  private encode(msg: SipRequest | SipResponse): Buffer {
    const product = msg instanceof SipRequest ? 'User-Agent' : 'Server';
    if (!msg.has(product)) msg.add(product, this.opts.userAgent);
    return serialize(msg);
  }

  private sendEncoded(data: Buffer, dest: Endpoint): void {
    this.opts.trace?.record('out', dest.transport, dest.address, dest.port, data);
    this.transport.send(data, dest);
  }

  private receive(data: Buffer, source: Endpoint): void {
    this.opts.trace?.record('in', source.transport, source.address, source.port, data);
    if (data.length > this.opts.maxMessageBytes) {
      this.badMessageLog.write('dropped oversized SIP message', { bytes: data.length, from: source.address, port: source.port });
      return;
    }
    const parsed = parseMessage(data);
    if (!parsed.ok) {
      this.badMessageLog.write('malformed SIP message', { error: parsed.error, from: source.address, port: source.port });
      if (parsed.request && parsed.request.method !== 'ACK') this.replyStateless(parsed.request, 400, parsed.error, source);
      return;
    }
    const msg = parsed.message;
    msg.source = source;
    if (msg instanceof SipRequest) {
      const fault = validateRequest(msg);
      if (fault) {
        this.badMessageLog.write('rejected SIP request', { status: fault.status, reason: fault.reason, from: source.address });
        if (msg.method !== 'ACK') this.replyStateless(msg, fault.status, fault.reason, source);
        return;
      }
      stampReceived(msg, source);
    } else if (!validateResponse(msg)) {
      this.badMessageLog.write('dropped malformed SIP response', { from: source.address, port: source.port });
      return;
    }
    this.dispatch(() => this.transactions.receive(msg));
  }

  /** Every request gets an answer: 503 before the PBX is attached, 500 when its handler fails. */
  private deliverRequest(req: SipRequest, tx: ServerTransaction): void {
    const user = this.user;
    if (!user) return tx.respond(createResponse(req, 503, 'Service Unavailable - starting', newTag()));
    try {
      user.onRequest(req, tx);
    } catch (err) {
      this.opts.logger.error({ err }, 'error while handling a SIP request');
      if (tx.state === 'Trying' || tx.state === 'Proceeding') tx.respond(createResponse(req, 500, 'Server Internal Error', newTag()));
    }
  }

  private replyStateless(req: SipRequest, status: number, reason: string, source: Endpoint): void {
    try {
      const res = createResponse(req, status, reason, newTag());
      this.sendEncoded(this.encode(res), source);
    } catch (err) {
      this.opts.logger.debug({ err: String(err) }, 'could not answer a malformed request');
    }
  }

  /** One failing handler must never take the stack down with it. */
  private dispatch(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.logger.error({ err }, 'error while handling a SIP message');
    }
  }
}

const IGNORE_RESPONSES: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };

export function hostPort(address: string, port: number): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** RFC 3261 §18.2.1 and RFC 3581: note where the request really came from in its top Via. */
function stampReceived(req: SipRequest, source: Endpoint): void {
  const via = req.topVia();
  if (!via) return;
  const wantsRport = 'rport' in via.params;
  const sentByHost = via.host.startsWith('[') ? via.host.slice(1, -1) : via.host;
  if (!wantsRport && sentByHost === source.address) return;
  const params: Record<string, string | null> = { ...via.params, received: source.address };
  if (wantsRport) params.rport = String(source.port);
  const i = req.headers.findIndex((h) => h.key === 'via');
  const sameLine = splitHeaderValues(req.headers[i].value).slice(1);
  req.headers[i] = { ...req.headers[i], value: [formatVia({ ...via, params }), ...sameLine].join(', ') };
  // the cached parse stays valid once it carries the same parameters as the new text
  via.params = params;
}
