// REFER as a PBX receives it from a phone (RFC 3515, RFC 5589): what the phone asks for (Refer-To,
// with Replaces for an attended transfer, RFC 3891) and the implicit subscription that tells it how
// the transfer went, as message/sipfrag NOTIFYs in the REFER's dialog.
import type { Logger } from 'pino';
import type { Dialog } from '../dialog/dialog.js';
import { parseNameAddr } from '../sip/headers.js';
import { reasonPhrase } from '../sip/builders.js';
import type { SipStack } from '../stack/sip-stack.js';
import { unescapeUserPart } from '../sip/uri.js';
import type { ClientTransactionUser } from '../transaction/layer.js';

/** The dialog named by a Replaces header (RFC 3891 §6.1), as its owner (the REFER's sender) sees it. */
export interface ReplacesTarget {
  callId: string;
  toTag: string;
  fromTag: string;
}

export type ReferTarget = { number: string; replaces: ReplacesTarget | undefined };

/** The number and Replaces of a Refer-To header; a string saying what is wrong when it cannot be used. */
export function parseReferTo(value: string | undefined): ReferTarget | string {
  if (value === undefined) return 'the REFER has no Refer-To';
  const target = parseNameAddr(value.trim());
  if (!target) return 'the Refer-To header cannot be read';
  const uri = target.uri;
  if ((uri.scheme !== 'sip' && uri.scheme !== 'sips') || !uri.user) return 'the Refer-To is not a sip: URI with a number';
  let replaces: ReplacesTarget | undefined;
  for (const header of (uri.headers ?? '').split('&')) {
    const eq = header.indexOf('=');
    if (eq < 0 || header.slice(0, eq).toLowerCase() !== 'replaces') continue;
    const parsed = parseReplaces(decodeURIComponent(header.slice(eq + 1)));
    if (!parsed) return 'the Replaces in the Refer-To cannot be read';
    replaces = parsed;
  }
  return { number: unescapeUserPart(uri.user), replaces };
}

function parseReplaces(text: string): ReplacesTarget | undefined {
  const [callId, ...params] = text.split(';');
  let toTag: string | undefined;
  let fromTag: string | undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    const name = param.slice(0, eq).trim().toLowerCase();
    const value = param.slice(eq + 1).trim();
    if (name === 'to-tag') toTag = value;
    else if (name === 'from-tag') fromTag = value;
  }
  const id = callId?.trim();
  return id && toTag !== undefined && fromTag !== undefined ? { callId: id, toTag, fromTag } : undefined;
}

const IGNORE_RESPONSES: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };

/** The REFER's implicit subscription: progress as sipfrag NOTIFYs, the last one terminating it. */
export class ReferProgress {
  private done = false;

  constructor(
    private readonly deps: { stack: Pick<SipStack, 'sendRequest'>; logger: Logger },
    private readonly dialog: Dialog,
  ) {}

  /** A provisional status (100 Trying, 180 Ringing). */
  progress(status: number): void {
    if (!this.done) this.notify(status, 'active;expires=60');
  }

  /** The transfer's outcome: 200 when the transferee is connected, else why not. Later calls are ignored. */
  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.notify(status, 'terminated;reason=noresource');
  }

  private notify(status: number, state: string): void {
    const dest = this.dialog.nextHop();
    if (!dest || this.dialog.state === 'terminated') return;
    const notify = this.dialog.createRequest('NOTIFY');
    notify.add('Event', 'refer');
    notify.add('Subscription-State', state);
    notify.add('Content-Type', 'message/sipfrag;version=2.0');
    notify.body = Buffer.from(`SIP/2.0 ${status} ${reasonPhrase(status)}\r\n`);
    try {
      this.deps.stack.sendRequest(notify, dest, IGNORE_RESPONSES);
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'could not send a transfer NOTIFY');
    }
  }
}

