import type { Dialog } from '../dialog/dialog.js';
import type { TimerHandle } from '../transaction/clock.js';

/** One phone's subscription to one mailbox: the dialog its NOTIFYs travel in and when it ends. */
export interface Subscription {
  readonly dialog: Dialog;
  readonly domain: string;
  readonly mailbox: string;
  /** the SUBSCRIBE's Event value, echoed in every NOTIFY with its id parameter (RFC 6665 §8.2.1) */
  readonly event: string;
  expiresAt: number;
  timer: TimerHandle;
}

/**
 * Why a subscription ended (RFC 6665 §4.1.3): `timeout` when it expired or was ended with Expires: 0,
 * `probation` when the server goes away for now and the phone should subscribe again later.
 */
export type SubscriptionEnd = { reason: 'timeout' } | { reason: 'probation'; retryAfterSeconds: number };

/** The Subscription-State value of a NOTIFY. */
export function subscriptionState(state: { active: true; expiresSeconds: number } | { active: false; end: SubscriptionEnd }): string {
  if (state.active) return `active;expires=${state.expiresSeconds}`;
  const { end } = state;
  return end.reason === 'probation' ? `terminated;reason=probation;retry-after=${end.retryAfterSeconds}` : `terminated;reason=${end.reason}`;
}
