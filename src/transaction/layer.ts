import type { Endpoint, SipRequest, SipResponse, TransportName, Via } from '../sip/message.js';
import { createResponse, newTag } from '../sip/builders.js';
import type { ClientTransaction, ClientTransactionUser } from './client-transaction.js';
import type { Clock } from './clock.js';
import type { TransactionContext } from './context.js';
import { InviteClientTransaction } from './invite-client.js';
import { InviteServerTransaction } from './invite-server.js';
import { acceptedInviteKey, ackAcceptedInviteKey, clientKey, hasRfc3261Branch, mergeKey, serverKey } from './matching.js';
import { NonInviteClientTransaction } from './non-invite-client.js';
import { NonInviteServerTransaction } from './non-invite-server.js';
import type { ServerTransaction } from './server-transaction.js';
import type { TimerValues } from './timer-values.js';

export type { ClientTransaction, ClientTransactionUser } from './client-transaction.js';
export type { ServerTransaction } from './server-transaction.js';
export type { TimerValues } from './timer-values.js';
export type { TransactionState } from './transaction-state.js';

export interface TransactionLayerOptions {
  clock: Clock;
  /** read when each transaction starts, so one schedule never mixes two sets of values */
  timers: () => TimerValues;
  /** the bytes of a message as they go on the wire */
  encode: (msg: SipRequest | SipResponse) => Buffer;
  /** sends encoded bytes; throws on transport error */
  send: (data: Buffer, dest: Endpoint) => void;
  /** TCP/TLS true */
  isReliable: (transport: TransportName) => boolean;
  /** every new request including CANCEL, never ACK */
  onRequest: (req: SipRequest, tx: ServerTransaction) => void;
  /** ACKs not absorbed by a transaction: ACK for 2xx, including those matching an INVITE server transaction in Accepted */
  onAck: (ack: SipRequest) => void;
  /** responses matching no client transaction */
  onStrayResponse: (res: SipResponse) => void;
}

type ClientTx = InviteClientTransaction | NonInviteClientTransaction;
type ServerTx = InviteServerTransaction | NonInviteServerTransaction;

/**
 * Matches every message to its transaction (RFC 3261 §17.1.3, §17.2.3), creates server transactions
 * for new requests, and owns the indexes that let transactions be found and forgotten.
 */
export class TransactionLayer {
  private readonly clients = new Map<string, ClientTx>();
  private readonly servers = new Map<string, ServerTx>();
  /** §8.2.2.2 merged-request detection, by From tag, Call-ID and CSeq */
  private readonly serversByMergeKey = new Map<string, ServerTx>();
  /** INVITE server transactions in Accepted, by dialog, for the 2xx's ACK */
  private readonly acceptedInvites = new Map<string, InviteServerTransaction>();
  private readonly liveClients = new Set<ClientTx>();
  private readonly liveServers = new Set<ServerTx>();

  constructor(private readonly opts: TransactionLayerOptions) {}

  /** `msg.source` must be set. Messages without a usable top Via or CSeq cannot be matched or answered and are dropped. */
  receive(msg: SipRequest | SipResponse): void {
    if (msg.isRequest) this.receiveRequest(msg);
    else this.receiveResponse(msg);
  }

  /** `req` must already carry its top Via with a fresh branch (newBranch()); `dest` is where to send. */
  sendRequest(req: SipRequest, dest: Endpoint, user: ClientTransactionUser): ClientTransaction {
    const branch = req.topVia()?.params.branch;
    if (!branch) throw new TypeError('sendRequest: the request needs a top Via with a branch');
    if (req.method === 'ACK') throw new TypeError('sendRequest: ACK has no client transaction; use sendStateless');
    const key = clientKey(branch, req.method);
    if (this.clients.has(key)) throw new TypeError(`sendRequest: branch ${branch} is already in use for ${req.method}`);
    const ctx = this.context(dest.transport, () => {
      this.clients.delete(key);
      this.liveClients.delete(tx);
    });
    const tx: ClientTx =
      req.method === 'INVITE'
        ? new InviteClientTransaction(req, dest, user, ctx)
        : new NonInviteClientTransaction(req, dest, user, ctx);
    this.clients.set(key, tx);
    this.liveClients.add(tx);
    tx.start();
    return tx;
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2), if it is still alive. */
  findInviteFor(cancel: SipRequest): ServerTransaction | undefined {
    const via = cancel.topVia();
    if (!via) return undefined;
    const key = serverKey(cancel, via, 'INVITE');
    const tx = key === undefined ? undefined : this.servers.get(key);
    if (!(tx instanceof InviteServerTransaction)) return undefined;
    if (!hasRfc3261Branch(via) && tx.request.toTag() !== cancel.toTag()) return undefined;
    return tx;
  }

  /** For ACK to 2xx and other messages outside any transaction; throws on transport error like `send`. */
  sendStateless(msg: SipRequest | SipResponse, dest: Endpoint): void {
    this.opts.send(this.opts.encode(msg), dest);
  }

  /**
   * The transport reports that a TCP/TLS connection to `dest` failed after send() returned (refused,
   * reset, or closed with data unsent). Every live client transaction sent there that has no final
   * response yet ends with onTransportError, rather than waiting for Timer B or F. A transaction
   * matches by connectionId, or by transport, address and port. Returns how many ended.
   */
  transportFailed(dest: Endpoint, err: Error): number {
    const hit = [...this.liveClients].filter((tx) => sameDestination(tx.destination, dest));
    let ended = 0;
    // A user may start new transactions from onTransportError; only those matched here are ended.
    for (const tx of hit) if (tx.transportFailed(err)) ended++;
    return ended;
  }

  count(): { client: number; server: number } {
    return { client: this.liveClients.size, server: this.liveServers.size };
  }

  /** Ends every transaction silently and clears every timer. */
  shutdown(): void {
    for (const tx of this.liveClients) tx.halt();
    for (const tx of this.liveServers) tx.halt();
    this.liveClients.clear();
    this.liveServers.clear();
    this.clients.clear();
    this.servers.clear();
    this.serversByMergeKey.clear();
    this.acceptedInvites.clear();
  }

  private receiveResponse(res: SipResponse): void {
    const branch = res.topVia()?.params.branch;
    const cseq = res.cseq();
    const tx = branch && cseq ? this.clients.get(clientKey(branch, cseq.method)) : undefined;
    if (tx) tx.receiveResponse(res);
    else this.opts.onStrayResponse(res);
  }

  private receiveRequest(req: SipRequest): void {
    const via = req.topVia();
    if (!via || !req.cseq()) return;
    if (req.method === 'ACK') {
      this.receiveAck(req, via);
      return;
    }
    const key = serverKey(req, via, req.method);
    if (key === undefined) return;
    const existing = this.servers.get(key);
    if (existing && (hasRfc3261Branch(via) || existing.requestToTag === req.toTag())) {
      existing.receiveRequest();
      return;
    }
    const merged = req.toTag() === undefined ? mergeKey(req) : undefined;
    if (merged !== undefined && this.serversByMergeKey.has(merged)) {
      this.createServer(req, key, undefined).respond(createResponse(req, 482, undefined, newTag()));
      return;
    }
    const tx = this.createServer(req, key, merged);
    this.opts.onRequest(req, tx);
  }

  private receiveAck(ack: SipRequest, via: Via): void {
    const key = serverKey(ack, via, 'INVITE');
    const tx = key === undefined ? undefined : this.servers.get(key);
    if (tx instanceof InviteServerTransaction && (hasRfc3261Branch(via) || tx.lastResponse?.toTag() === ack.toTag())) {
      if (tx.receiveAck()) this.opts.onAck(ack);
      return;
    }
    const dialogKey = ackAcceptedInviteKey(ack);
    if (dialogKey !== undefined) this.acceptedInvites.get(dialogKey)?.acknowledge2xx();
    this.opts.onAck(ack);
  }

  private createServer(req: SipRequest, key: string, merged: string | undefined): ServerTx {
    // A colliding key can only come from an RFC 2543 request differing in To tag; it keeps the first.
    const indexed = !this.servers.has(key);
    const mergeIndexed = merged !== undefined && !this.serversByMergeKey.has(merged);
    let acceptedKey: string | undefined;
    const release = (): void => {
      if (indexed) this.servers.delete(key);
      if (mergeIndexed) this.serversByMergeKey.delete(merged);
      if (acceptedKey !== undefined && this.acceptedInvites.get(acceptedKey) === tx) this.acceptedInvites.delete(acceptedKey);
      this.liveServers.delete(tx);
    };
    const ctx = this.context(req.source?.transport ?? 'UDP', release);
    const tx: ServerTx =
      req.method === 'INVITE'
        ? this.createInviteServer(req, ctx, (k) => (acceptedKey = k))
        : new NonInviteServerTransaction(req, ctx);
    if (indexed) this.servers.set(key, tx);
    if (mergeIndexed) this.serversByMergeKey.set(merged, tx);
    this.liveServers.add(tx);
    tx.start();
    return tx;
  }

  // A method of its own so that the closure holding the request is not shared with `release`,
  // which lives as long as the transaction: V8 keeps one context per scope for all its closures.
  private createInviteServer(req: SipRequest, ctx: TransactionContext, remember: (acceptedKey: string) => void): InviteServerTransaction {
    const tx: InviteServerTransaction = new InviteServerTransaction(req, {
      ...ctx,
      accepted: (res) => {
        const key = acceptedInviteKey(req.callId, req.fromTag(), res.toTag(), req.cseq()?.seq ?? 0);
        remember(key);
        this.acceptedInvites.set(key, tx);
      },
    });
    return tx;
  }

  private context(transport: TransportName, release: () => void): TransactionContext {
    return {
      clock: this.opts.clock,
      timers: this.opts.timers(),
      reliable: this.opts.isReliable(transport),
      encode: this.opts.encode,
      send: this.opts.send,
      release,
    };
  }
}

function sameDestination(a: Endpoint, b: Endpoint): boolean {
  if (a.connectionId !== undefined && a.connectionId === b.connectionId) return true;
  return a.transport === b.transport && a.address === b.address && a.port === b.port;
}
