import type { Logger } from 'pino';
import type { RequestAuthenticator } from '../auth/request-authenticator.js';
import { Dialog, dialogId } from '../dialog/dialog.js';
import type { DomainDirectory } from '../registrar/domain-directory.js';
import type { LocationService } from '../registrar/location-service.js';
import { createResponse, newTag } from '../sip/builders.js';
import { splitHeaderValues } from '../sip/headers.js';
import { EMPTY_BODY, type Endpoint, type SipRequest, type SipResponse, type TransportName } from '../sip/message.js';
import { unescapeUserPart } from '../sip/uri.js';
import type { SipStack } from '../stack/sip-stack.js';
import type { Binding } from '../store/types.js';
import type { Clock } from '../transaction/clock.js';
import type { ClientTransactionUser, ServerTransaction } from '../transaction/layer.js';
import { formatMessageSummary, MESSAGE_SUMMARY_EVENT, MESSAGE_SUMMARY_TYPE, type MessageCounts } from './message-summary.js';
import { dialogNotify, unsolicitedNotify } from './notify-request.js';
import { grantExpires, type ExpiresGrant, type ExpiresPolicy } from './subscription-expires.js';
import { subscriptionState, type Subscription, type SubscriptionEnd } from './subscription.js';

/** Shortest subscription accepted; shorter ones get 423 with Min-Expires. */
export const MWI_MIN_EXPIRES_SECONDS = 60;
/** Longer subscriptions are granted this long; phones refresh before it runs out. */
export const MWI_MAX_EXPIRES_SECONDS = 3600;
/** For a SUBSCRIBE without Expires (RFC 3842 suggests no value; an hour is what phones ask for). */
export const MWI_DEFAULT_EXPIRES_SECONDS = 3600;
/** Phones that never subscribe (many Grandstream and Yealink set-ups) still get their lamp lit. */
export const MWI_UNSOLICITED = true;
/** On shutdown phones are told to subscribe again after this long: enough for a restart. */
const SHUTDOWN_RETRY_AFTER_SECONDS = 30;

/**
 * NOTIFY responses after which the subscription is gone (RFC 6665 §4.2.2, RFC 5057 §5.1): the
 * subscriber no longer knows the dialog, refuses the event, or cannot be reached.
 */
const SUBSCRIPTION_ENDING_STATUSES = new Set([404, 405, 408, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501, 502, 604]);

export type MailboxCounts = (domain: string, mailbox: string) => MessageCounts;

export interface MwiServiceDeps {
  stack: Pick<SipStack, 'sendRequest' | 'contactUri'>;
  auth: Pick<RequestAuthenticator, 'authenticate'>;
  domains: Pick<DomainDirectory, 'resolve'>;
  location: Pick<LocationService, 'lookup'>;
  counts: MailboxCounts;
  clock: Clock;
  logger: Logger;
  /** default MWI_MIN_EXPIRES_SECONDS */
  minExpires?: number;
  /** default MWI_MAX_EXPIRES_SECONDS */
  maxExpires?: number;
  /** default MWI_DEFAULT_EXPIRES_SECONDS */
  defaultExpires?: number;
  /** default MWI_UNSOLICITED */
  unsolicited?: boolean;
}

/**
 * Message waiting indication (RFC 3842): phones SUBSCRIBE to their own mailbox with
 * `Event: message-summary` and get a NOTIFY at once and on every change; registered phones that
 * never subscribe get unsolicited NOTIFYs instead.
 */
export class MwiService {
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly byMailbox = new Map<string, Set<Subscription>>();
  private readonly policy: ExpiresPolicy;
  private readonly unsolicited: boolean;
  private accepting = true;

  constructor(private readonly deps: MwiServiceDeps) {
    this.policy = {
      minSeconds: deps.minExpires ?? MWI_MIN_EXPIRES_SECONDS,
      maxSeconds: deps.maxExpires ?? MWI_MAX_EXPIRES_SECONDS,
      defaultSeconds: deps.defaultExpires ?? MWI_DEFAULT_EXPIRES_SECONDS,
    };
    this.unsolicited = deps.unsolicited ?? MWI_UNSOLICITED;
  }

  /** An out-of-dialog SUBSCRIBE. */
  handleSubscribe(req: SipRequest, tx: ServerTransaction): void {
    const tag = newTag();
    const reject = (status: number, reason?: string) => tx.respond(createResponse(req, status, reason, tag));
    if (!this.accepting) return reject(503, 'Service Unavailable - shutting down');
    if (eventPackage(req) !== MESSAGE_SUMMARY_EVENT) return tx.respond(badEvent(req, tag));
    if (!acceptsSummary(req.get('accept'))) {
      const res = createResponse(req, 406, 'Not Acceptable', tag);
      res.add('Accept', MESSAGE_SUMMARY_TYPE);
      return tx.respond(res);
    }
    const domain = this.deps.domains.resolve(req.from()?.uri.host);
    const auth = this.deps.auth.authenticate(req, domain, tag);
    if (!auth.ok) {
      if (auth.reason !== 'missing') this.deps.logger.info({ from: req.source?.address, why: auth.reason }, 'SUBSCRIBE authentication failed');
      return tx.respond(auth.response);
    }
    const uri = req.requestUri();
    if (this.deps.domains.resolve(uri?.host) !== domain) return reject(403, 'Forbidden - another domain');
    if (!uri?.user) return reject(404, 'Not Found - no mailbox in the Request-URI');
    const mailbox = unescapeUserPart(uri.user);
    if (mailbox !== auth.extension.number) return reject(403, 'Forbidden - not your mailbox');
    const grant = grantExpires(req.get('expires'), this.policy);
    if (!grant.ok) return tx.respond(expiresRefused(req, grant, tag));

    const dialog = Dialog.asUas(req, tag, 'confirmed');
    const event = req.get('event')?.trim() ?? MESSAGE_SUMMARY_EVENT;
    const sub: Subscription = { dialog, domain, mailbox, event, expiresAt: 0, timer: undefined };
    const body = this.summary(domain, mailbox);
    const res = this.accepted(req, dialog, grant.seconds);
    for (const h of req.headers) if (h.key === 'record-route') res.add(h.name, h.value);
    tx.respond(res);
    // Expires: 0 asks for the state once (RFC 6665 §4.4.3): one final NOTIFY, nothing kept
    if (grant.seconds === 0) return this.notifyEnd(sub, { reason: 'timeout' }, body);
    this.subscriptions.set(dialog.id, sub);
    let subs = this.byMailbox.get(mailboxKey(domain, mailbox));
    if (!subs) this.byMailbox.set(mailboxKey(domain, mailbox), (subs = new Set()));
    subs.add(sub);
    this.deps.logger.debug({ domain, mailbox, from: req.source?.address, expires: grant.seconds }, 'MWI subscription');
    this.refresh(sub, grant.seconds, body);
  }

  /**
   * A request carrying a To tag: true when it belongs to one of our subscriptions. Refreshes are not
   * challenged again: only the authenticated subscriber learned the dialog's identifiers.
   */
  handleInDialog(req: SipRequest, tx: ServerTransaction): boolean {
    const sub = this.subscriptions.get(dialogId(req.callId, req.toTag() ?? '', req.fromTag() ?? ''));
    if (!sub) return false;
    if (req.method !== 'SUBSCRIBE') {
      const res = createResponse(req, 405, 'Method Not Allowed');
      res.add('Allow', 'SUBSCRIBE');
      tx.respond(res);
      return true;
    }
    if (!sub.dialog.acceptRemoteRequest(req)) {
      tx.respond(createResponse(req, 500, 'Server Internal Error - CSeq out of order'));
      return true;
    }
    if (eventPackage(req) !== MESSAGE_SUMMARY_EVENT) {
      tx.respond(badEvent(req));
      return true;
    }
    const grant = grantExpires(req.get('expires'), this.policy);
    if (!grant.ok) {
      tx.respond(expiresRefused(req, grant));
      return true;
    }
    // SUBSCRIBE refreshes the remote target (RFC 6665 §4.1.2.1)
    sub.dialog.refreshTarget(req);
    const body = this.summary(sub.domain, sub.mailbox);
    tx.respond(this.accepted(req, sub.dialog, grant.seconds));
    if (grant.seconds === 0) {
      this.deps.logger.debug({ domain: sub.domain, mailbox: sub.mailbox }, 'MWI unsubscribed');
      this.end(sub, { reason: 'timeout' }, body);
    } else {
      this.refresh(sub, grant.seconds, body);
    }
    return true;
  }

  /**
   * The mailbox's counts changed: a NOTIFY to every subscription of it, or, when nobody subscribed
   * and unsolicited MWI is on, one to every registered contact of the extension of the same number.
   */
  mailboxChanged(domain: string, mailbox: string): void {
    if (!this.accepting) return;
    let body: Buffer;
    try {
      body = this.summary(domain, mailbox);
    } catch (err) {
      this.deps.logger.warn({ err: String(err), domain, mailbox }, 'could not read message counts; phones not notified');
      return;
    }
    const subs = this.byMailbox.get(mailboxKey(domain, mailbox));
    if (subs && subs.size > 0) {
      for (const sub of subs) this.notify(sub, subscriptionState({ active: true, expiresSeconds: this.remainingSeconds(sub) }), body);
      return;
    }
    if (!this.unsolicited) return;
    for (const binding of this.deps.location.lookup(domain, mailbox)) this.notifyBinding(binding, domain, mailbox, body);
  }

  /**
   * A phone registered that was not before (started, or moved): with unsolicited MWI on and messages
   * waiting, it hears so at once rather than at the next message. A mailbox with subscribers is left to
   * them: the phone subscribes itself.
   */
  phoneRegistered(domain: string, mailbox: string, bindings: readonly Binding[]): void {
    if (!this.accepting || !this.unsolicited || (this.byMailbox.get(mailboxKey(domain, mailbox))?.size ?? 0) > 0) return;
    let counts;
    try {
      counts = this.deps.counts(domain, mailbox);
    } catch (err) {
      this.deps.logger.warn({ err: String(err), domain, mailbox }, 'could not read message counts; registered phone not notified');
      return;
    }
    if (counts.newCount === 0) return;
    const body = Buffer.from(formatMessageSummary(`sip:${mailbox}@${domain}`, counts));
    for (const binding of bindings) this.notifyBinding(binding, domain, mailbox, body);
  }

  /** Ends every subscription with a final NOTIFY and takes no new ones. */
  close(): void {
    this.accepting = false;
    for (const sub of [...this.subscriptions.values()]) {
      this.end(sub, { reason: 'probation', retryAfterSeconds: SHUTDOWN_RETRY_AFTER_SECONDS }, this.finalSummary(sub));
    }
  }

  /** Read before the 200 goes out, so a store that fails costs the phone a 500 and not a half-made subscription. */
  private summary(domain: string, mailbox: string): Buffer {
    return Buffer.from(formatMessageSummary(`sip:${mailbox}@${domain}`, this.deps.counts(domain, mailbox)));
  }

  /** A subscription ends even when the counts cannot be read; its last NOTIFY then has no body. */
  private finalSummary(sub: Subscription): Buffer {
    try {
      return this.summary(sub.domain, sub.mailbox);
    } catch (err) {
      this.deps.logger.warn({ err: String(err), domain: sub.domain, mailbox: sub.mailbox }, 'could not read message counts for the final MWI NOTIFY');
      return EMPTY_BODY;
    }
  }

  private accepted(req: SipRequest, dialog: Dialog, seconds: number): SipResponse {
    const res = createResponse(req, 200, 'OK', dialog.localTag);
    res.add('Contact', `<${this.deps.stack.contactUri(dialog.nextHop() ?? req.source ?? LOOPBACK)}>`);
    res.add('Expires', String(seconds));
    return res;
  }

  /** A new or refreshed lifetime; RFC 6665 §4.2.1.2 wants the current state sent after each. */
  private refresh(sub: Subscription, seconds: number, body: Buffer): void {
    this.stopTimer(sub);
    sub.expiresAt = this.deps.clock.now() + seconds * 1000;
    sub.timer = this.deps.clock.setTimer(seconds * 1000, () => {
      sub.timer = undefined;
      this.deps.logger.debug({ domain: sub.domain, mailbox: sub.mailbox }, 'MWI subscription expired');
      this.end(sub, { reason: 'timeout' }, this.finalSummary(sub));
    });
    this.notify(sub, subscriptionState({ active: true, expiresSeconds: seconds }), body);
  }

  private end(sub: Subscription, end: SubscriptionEnd, body: Buffer): void {
    this.forget(sub);
    this.notifyEnd(sub, end, body);
  }

  private notifyEnd(sub: Subscription, end: SubscriptionEnd, body: Buffer): void {
    this.notify(sub, subscriptionState({ active: false, end }), body);
  }

  private forget(sub: Subscription): void {
    if (this.subscriptions.get(sub.dialog.id) !== sub) return;
    this.subscriptions.delete(sub.dialog.id);
    this.stopTimer(sub);
    const key = mailboxKey(sub.domain, sub.mailbox);
    const subs = this.byMailbox.get(key);
    subs?.delete(sub);
    if (subs?.size === 0) this.byMailbox.delete(key);
  }

  private stopTimer(sub: Subscription): void {
    if (sub.timer !== undefined) this.deps.clock.clearTimer(sub.timer);
    sub.timer = undefined;
  }

  private notify(sub: Subscription, state: string, body: Buffer): void {
    const dest = sub.dialog.nextHop();
    if (!dest) {
      this.deps.logger.warn({ mailbox: sub.mailbox, target: sub.dialog.remoteTarget }, 'MWI subscriber unreachable; subscription dropped');
      return this.forget(sub);
    }
    const drop = (why: string) => {
      if (this.subscriptions.get(sub.dialog.id) !== sub) return;
      this.deps.logger.info({ domain: sub.domain, mailbox: sub.mailbox, why }, 'MWI subscription dropped');
      this.forget(sub);
    };
    const user: ClientTransactionUser = {
      onResponse: (res) => {
        if (SUBSCRIPTION_ENDING_STATUSES.has(res.status)) drop(`NOTIFY answered ${res.status}`);
      },
      onTimeout: () => drop('NOTIFY timed out'),
      onTransportError: () => drop('NOTIFY could not be sent'),
    };
    const notify = dialogNotify(sub.dialog, sub.event, state, this.deps.stack.contactUri(dest), body);
    this.send(notify, dest, user, () => drop('NOTIFY could not be sent'));
  }

  private notifyBinding(binding: Binding, domain: string, mailbox: string, body: Buffer): void {
    const dest: Endpoint = { transport: binding.transport as TransportName, address: binding.sourceAddress, port: binding.sourcePort };
    const notify = unsolicitedNotify({ contactUri: binding.contactUri, domain, mailbox }, this.deps.stack.contactUri(dest), body);
    const log = (why: string) => this.deps.logger.debug({ contact: binding.contactUri, why }, 'unsolicited MWI NOTIFY not delivered');
    const user: ClientTransactionUser = {
      onResponse: (res) => {
        if (res.status >= 300) log(`answered ${res.status}`);
      },
      onTimeout: () => log('timed out'),
      onTransportError: () => log('transport error'),
    };
    this.send(notify, dest, user, () => log('could not be sent'));
  }

  private send(req: SipRequest, dest: Endpoint, user: ClientTransactionUser, failed: () => void): void {
    try {
      this.deps.stack.sendRequest(req, dest, user);
    } catch (err) {
      this.deps.logger.warn({ err: String(err), to: dest.address }, 'could not send MWI NOTIFY');
      failed();
    }
  }

  private remainingSeconds(sub: Subscription): number {
    return Math.max(0, Math.ceil((sub.expiresAt - this.deps.clock.now()) / 1000));
  }
}

const LOOPBACK: Endpoint = { transport: 'UDP', address: '127.0.0.1', port: 5060 };

function mailboxKey(domain: string, mailbox: string): string {
  return `${domain.toLowerCase()}\u0000${mailbox}`;
}

/** The event package without parameters; a SUBSCRIBE without Event has none we serve (RFC 6665 §8.2.1). */
function eventPackage(req: SipRequest): string | undefined {
  const value = req.get('event');
  return value === undefined ? undefined : value.split(';')[0].trim().toLowerCase();
}

function badEvent(req: SipRequest, tag?: string): SipResponse {
  const res = createResponse(req, 489, 'Bad Event', tag);
  res.add('Allow-Events', MESSAGE_SUMMARY_EVENT);
  return res;
}

function expiresRefused(req: SipRequest, grant: Exclude<ExpiresGrant, { ok: true }>, tag?: string): SipResponse {
  if (grant.status === 400) return createResponse(req, 400, grant.reason, tag);
  const res = createResponse(req, 423, 'Interval Too Brief', tag);
  res.add('Min-Expires', String(grant.minSeconds));
  return res;
}

/** No Accept means the package's default type (RFC 6665 §7.2); otherwise it must be listed or covered by a wildcard. */
function acceptsSummary(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return splitHeaderValues(accept).some((v) => {
    const type = v.split(';')[0].trim().toLowerCase();
    return type === MESSAGE_SUMMARY_TYPE || type === 'application/*' || type === '*/*';
  });
}
