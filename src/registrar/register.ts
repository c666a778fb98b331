// REGISTER processing, RFC 3261 §10.3 steps 6-8, for a request already authenticated and
// authorized for its address of record. Every contact is validated before anything changes, so a
// REGISTER is applied whole or not at all.
import type { NameAddr } from '../sip/message.js';
import { uriEquals } from '../sip/uri.js';
import type { Binding } from '../store/types.js';
import { withExpiresParam } from './contact-expires.js';
import type { LocationService } from './location-service.js';
import { detachFromMessage } from '../sip/detach.js';

/** seconds */
export interface RegisterPolicy {
  minExpires: number;
  defaultExpires: number;
  maxExpires: number;
}

export type RegisterOutcome =
  /** Contact header values to return, each with ;expires=N */
  | { status: 200; contacts: string[] }
  | { status: 423; minExpires: number }
  | { status: 400; reason: string }
  | { status: 500; reason: string };

export interface RegisterInput {
  domain: string;
  number: string;
  /** from req.contacts(): [] when there is no Contact, null when one is malformed */
  contacts: NameAddr[] | '*' | null;
  /** the raw Contact values in the same order, stored exactly as received */
  contactTexts: string[];
  /** the Expires header value, if any */
  expiresHeader: string | undefined;
  callId: string;
  cseq: number;
  source: { transport: string; address: string; port: number };
  userAgent: string;
}

const DELTA_SECONDS = /^[0-9]+$/;
const QVALUE = /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/;
const OUT_OF_ORDER: RegisterOutcome = { status: 500, reason: 'Out of order REGISTER' };

/** undefined when absent or malformed: RFC 3261 §20.10 has malformed expiries fall back to a default. */
function parseDeltaSeconds(text: string | null | undefined): number | undefined {
  if (text === undefined || text === null) return undefined;
  const trimmed = text.trim();
  return DELTA_SECONDS.test(trimmed) ? Number(trimmed) : undefined;
}

/** The contact's q, 1 when absent, undefined when malformed. */
function parseQ(params: NameAddr['params']): number | undefined {
  if (!Object.hasOwn(params, 'q')) return 1;
  const text = params.q;
  return text !== null && QVALUE.test(text) ? Number(text) : undefined;
}

/** True when a later contact of the same request names the same URI; the last one wins. */
function supersededLater(contacts: NameAddr[], i: number): boolean {
  for (let j = i + 1; j < contacts.length; j++) if (uriEquals(contacts[i].uri, contacts[j].uri)) return true;
  return false;
}

/** Same Call-ID with a CSeq not above the stored one: an old or replayed request (§10.3 step 7). */
function isOutOfOrder(existing: Binding, input: RegisterInput): boolean {
  return existing.callId === input.callId && input.cseq <= existing.cseq;
}

function currentBindings(input: RegisterInput, location: LocationService, now: number): RegisterOutcome {
  const contacts = location.lookup(input.domain, input.number)
    .map((b) => withExpiresParam(b.contact, Math.max(0, Math.ceil((b.expiresAt - now) / 1000))));
  return { status: 200, contacts };
}

function removeAllBindings(input: RegisterInput, location: LocationService): RegisterOutcome {
  if (input.contactTexts.length !== 1 || parseDeltaSeconds(input.expiresHeader) !== 0) {
    return { status: 400, reason: 'Wildcard Contact requires Expires: 0 and no other Contact' };
  }
  for (const existing of location.lookup(input.domain, input.number)) {
    if (isOutOfOrder(existing, input)) return OUT_OF_ORDER;
  }
  location.removeAll(input.domain, input.number);
  return { status: 200, contacts: [] };
}

export function processRegister(input: RegisterInput, location: LocationService, policy: RegisterPolicy, now: number): RegisterOutcome {
  const { contacts } = input;
  if (contacts === null) return { status: 400, reason: 'Malformed Contact header' };
  if (contacts === '*') return removeAllBindings(input, location);
  if (contacts.length === 0) return currentBindings(input, location, now);
  if (input.contactTexts.length !== contacts.length) return { status: 400, reason: 'Malformed Contact header' };

  const headerExpires = parseDeltaSeconds(input.expiresHeader);
  const expiries: number[] = [];
  const qs: number[] = [];
  for (const contact of contacts) {
    const requested = parseDeltaSeconds(contact.params.expires) ?? headerExpires ?? policy.defaultExpires;
    if (requested !== 0 && requested < policy.minExpires) return { status: 423, minExpires: policy.minExpires };
    const q = parseQ(contact.params);
    if (q === undefined) return { status: 400, reason: 'Invalid q value in Contact' };
    expiries.push(Math.min(requested, policy.maxExpires));
    qs.push(q);
  }

  const removals: Binding[] = [];
  const upserts: Binding[] = [];
  for (let i = 0; i < contacts.length; i++) {
    if (supersededLater(contacts, i)) continue;
    const contact = contacts[i];
    const existing = location.find(input.domain, input.number, contact);
    if (existing && isOutOfOrder(existing, input)) return OUT_OF_ORDER;
    if (existing && (expiries[i] === 0 || existing.contactUri !== contact.uriText)) removals.push(existing);
    if (expiries[i] === 0) continue;
    upserts.push({
      domain: input.domain,
      number: input.number,
      contact: detachFromMessage(input.contactTexts[i]),
      contactUri: detachFromMessage(contact.uriText),
      q: qs[i],
      expiresAt: now + expiries[i] * 1000,
      callId: detachFromMessage(input.callId),
      cseq: input.cseq,
      transport: input.source.transport,
      sourceAddress: input.source.address,
      sourcePort: input.source.port,
      userAgent: detachFromMessage(input.userAgent),
      registeredAt: now,
    });
  }
  location.update(removals, upserts);
  return currentBindings(input, location, now);
}

