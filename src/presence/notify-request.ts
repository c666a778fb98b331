// The two NOTIFYs MWI sends: one inside a subscription's dialog, and an unsolicited one to a
// registered phone that never subscribed.

import type { Dialog } from '../dialog/dialog.js';
import { newCallId, newTag } from '../sip/builders.js';
import { SipRequest } from '../sip/message.js';
import { MESSAGE_SUMMARY_EVENT, MESSAGE_SUMMARY_TYPE } from './message-summary.js';

export function dialogNotify(dialog: Dialog, event: string, state: string, contact: string, body: Buffer): SipRequest {
  const req = dialog.createRequest('NOTIFY');
  req.add('Contact', `<${contact}>`);
  req.add('Event', event);
  req.add('Subscription-State', state);
  return withSummary(req, body);
}

/**
 * Out of any dialog, as Asterisk sends unsolicited MWI: From and To name the mailbox, and
 * `Subscription-State: active` is kept because RFC 6665 requires it in every NOTIFY and some phones check.
 */
export function unsolicitedNotify(target: { contactUri: string; domain: string; mailbox: string }, contact: string, body: Buffer): SipRequest {
  const account = `<sip:${target.mailbox}@${target.domain}>`;
  const req = new SipRequest('NOTIFY', target.contactUri);
  req.add('Max-Forwards', '70');
  req.add('From', `${account};tag=${newTag()}`);
  req.add('To', account);
  req.add('Call-ID', newCallId(target.domain));
  req.add('CSeq', '1 NOTIFY');
  req.add('Contact', `<${contact}>`);
  req.add('Event', MESSAGE_SUMMARY_EVENT);
  req.add('Subscription-State', 'active');
  return withSummary(req, body);
}

/** A final NOTIFY may go without a body (RFC 6665 §4.2.2) when the counts could not be read. */
function withSummary(req: SipRequest, body: Buffer): SipRequest {
  if (body.length > 0) req.add('Content-Type', MESSAGE_SUMMARY_TYPE);
  req.body = body;
  return req;
}
