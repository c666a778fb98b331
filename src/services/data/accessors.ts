// How the call services read their data: one prepared lookup per item, with the defaults filled in so a
// service never meets a field missing from a document written before the field existed.
import type { Static, TObject } from 'typebox';
import type { Store } from '../../store/types.js';
import { secretHashField, withDefaults, type DataKind } from './data-kind.js';
import type { WithDefaults } from './fields.js';
import { callRestrictions, callSettings, conferenceRooms, huntGroups, ivrMenus, mailboxes, pickupGroups, ringGroups } from './kinds.js';

type Fields<Kind> = Kind extends DataKind<infer F extends TObject> ? WithDefaults<Static<F>> : never;

export type RingGroup = { number: string } & Fields<typeof ringGroups>;
export type HuntGroup = { number: string } & Fields<typeof huntGroups>;
export type IvrMenu = { name: string } & Fields<typeof ivrMenus>;
/** pinHash is for verifyPin (pin.ts); null when no PIN is set */
export type Mailbox = { number: string; pinHash: string | null } & Omit<Fields<typeof mailboxes>, 'pin'>;
export type ConferenceRoom = { number: string; pinHash: string | null } & Omit<Fields<typeof conferenceRooms>, 'pin'>;
export type PickupGroup = { name: string } & Fields<typeof pickupGroups>;
export type CallSettings = Fields<typeof callSettings>;

/** The document as stored (PINs as hashes), without defaults; undefined when there is none. */
export function getItem(store: Store, domain: string, kind: string, key: string): Record<string, unknown> | undefined {
  return store.serviceData.get(domain, kind, key)?.body;
}

function complete<T>(kind: DataKind, key: string, body: Record<string, unknown>): T {
  const item: Record<string, unknown> = { [kind.key]: key, ...withDefaults(kind, body) };
  for (const secret of kind.secrets) item[secretHashField(secret)] ??= null;
  return item as T;
}

function itemOf<T>(store: Store, kind: DataKind, domain: string, key: string): T | undefined {
  const body = getItem(store, domain, kind.kind, key);
  return body && complete<T>(kind, key, body);
}

export const ringGroupOf = (store: Store, domain: string, number: string) => itemOf<RingGroup>(store, ringGroups, domain, number);
export const huntGroupOf = (store: Store, domain: string, number: string) => itemOf<HuntGroup>(store, huntGroups, domain, number);
export const ivrMenuOf = (store: Store, domain: string, name: string) => itemOf<IvrMenu>(store, ivrMenus, domain, name);
export const conferenceRoomOf = (store: Store, domain: string, number: string) => itemOf<ConferenceRoom>(store, conferenceRooms, domain, number);
export const pickupGroupOf = (store: Store, domain: string, name: string) => itemOf<PickupGroup>(store, pickupGroups, domain, name);

/**
 * Call settings with the defaults filled in, by the stored document's JSON. Every call to an extension
 * reads its settings, and filling the defaults walks the whole schema; keyed by content, an entry can
 * never be stale, whoever writes the settings (API, feature codes, scripts).
 */
const filledSettings = new Map<string, Readonly<Record<string, unknown>>>();
/** Most extensions share a handful of settings (the defaults above all): past this, start afresh. */
const MAX_FILLED_SETTINGS = 1024;

/** Every extension has call settings: the stored ones, or the defaults. The nested parts are shared, and frozen. */
export function callSettingsOf(store: Store, domain: string, number: string): CallSettings {
  const body = getItem(store, domain, callSettings.kind, number) ?? {};
  const json = JSON.stringify(body);
  let filled = filledSettings.get(json);
  if (filled === undefined) {
    filled = deepFreeze(withDefaults(callSettings, body));
    if (filledSettings.size >= MAX_FILLED_SETTINGS) filledSettings.clear();
    filledSettings.set(json, filled);
  }
  return { [callSettings.key]: number, ...filled } as CallSettings;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const field of Object.values(value)) deepFreeze(field);
    Object.freeze(value);
  }
  return value;
}

/**
 * The stored mailbox; else, for an extension whose call settings have voicemail on, a mailbox with the
 * defaults and no PIN; else undefined.
 */
export function mailboxOf(store: Store, domain: string, number: string): Mailbox | undefined {
  const stored = itemOf<Mailbox>(store, mailboxes, domain, number);
  if (stored) return stored;
  if (!store.extensions.find(domain, number) || !callSettingsOf(store, domain, number).voicemail) return undefined;
  return complete<Mailbox>(mailboxes, number, {});
}

/** The level an extension needs to dial this number: that of the longest matching prefix, 0 when none matches. */
export function requiredLevel(store: Store, domain: string, dialled: string): number {
  let longest = '';
  let level = 0;
  for (const restriction of store.serviceData.list(domain, callRestrictions.kind)) {
    if (restriction.key.length > longest.length && dialled.startsWith(restriction.key)) {
      longest = restriction.key;
      level = restriction.body.level as number;
    }
  }
  return level;
}

/** Whether the caller's restriction level allows dialling this number. */
export function mayDial(store: Store, domain: string, caller: string, dialled: string): boolean {
  const needed = requiredLevel(store, domain, dialled);
  // every level allows a number no restriction matches: the caller's settings need not be read
  return needed === 0 || callSettingsOf(store, domain, caller).restrictionLevel >= needed;
}
