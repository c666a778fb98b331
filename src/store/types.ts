// Repository interfaces, one per aggregate. The SQLite implementation lives beside this file;
// a PostgreSQL backend implements the same interfaces. Times are epoch milliseconds.

import type { MailOutbox } from './sqlite-mail-outbox.js';
import type { VoicemailRepository } from './sqlite-voicemail.js';

export interface Domain {
  id: number;
  name: string;               // lowercase host name or IP, also the digest realm
  isDefault: boolean;
}

export interface Extension {
  id: number;
  domain: string;
  number: string;
  displayName: string;
  /** digest HA1 = H(number:realm:password) per algorithm; the plain password is never stored */
  ha1Md5: string;
  ha1Sha256: string;
  /** free-form per-extension settings for later features (forwarding, DND, ...) */
  settings: Record<string, unknown>;
  /** audio may go phone to phone, bypassing the relay, when the other party allows it too and neither is behind NAT */
  directMedia: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface NewExtension {
  domain: string;
  number: string;
  displayName?: string;
  ha1Md5: string;
  ha1Sha256: string;
  settings?: Record<string, unknown>;
  directMedia?: boolean;      // default false
}

export interface ExtensionPatch {
  displayName?: string;
  ha1Md5?: string;
  ha1Sha256?: string;
  settings?: Record<string, unknown>;
  directMedia?: boolean;
}

export interface Binding {
  domain: string;
  number: string;
  /** the Contact header value exactly as registered (params and escaped headers kept) */
  contact: string;
  /** the contact URI as written, the key of the binding within the AOR */
  contactUri: string;
  q: number;                  // 0..1, default 1
  expiresAt: number;
  callId: string;
  cseq: number;
  /** where the REGISTER came from, for NAT traversal */
  transport: string;          // 'UDP' | 'TCP' | 'TLS'
  sourceAddress: string;
  sourcePort: number;
  userAgent: string;
  registeredAt: number;
}

export interface CallRecord {
  id: number;
  callId: string;             // Call-ID of the inbound leg
  domain: string;
  caller: string;
  callee: string;
  startedAt: number;
  answeredAt: number | null;
  endedAt: number;
  durationSeconds: number;    // answered time, 0 when not answered
  disposition: 'answered' | 'busy' | 'no_answer' | 'cancelled' | 'failed';
  finalStatus: number;        // final SIP status sent to the caller (200 when answered)
  hangupBy: 'caller' | 'callee' | 'system' | null;
  /** why the system ended it, when it did: null for an ordinary end */
  endReason: EndReason | null;
}

export type EndReason = 'media_timeout' | 'ack_timeout' | 'hangup_api' | 'shutdown';

export type NewCallRecord = Omit<CallRecord, 'id'>;

export interface CallRecordFilter {
  domain?: string;
  caller?: string;
  callee?: string;
  disposition?: CallRecord['disposition'];
  endReason?: EndReason;
  from?: number;              // startedAt >= from
  to?: number;                // startedAt < to
  limit?: number;             // default 100, max 1000
  offset?: number;
}

export interface ApiToken {
  id: number;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface DomainRepository {
  list(): Domain[];
  get(name: string): Domain | undefined;
  /** creates the domain if missing and marks it default (clearing any other default) */
  ensureDefault(name: string): Domain;
  create(name: string): Domain;
  delete(name: string): boolean;
}

export interface ExtensionRepository {
  create(input: NewExtension): Extension;   // throws ConflictError when (domain, number) exists
  get(id: number): Extension | undefined;
  find(domain: string, number: string): Extension | undefined;
  list(domain?: string): Extension[];
  update(id: number, patch: ExtensionPatch): Extension | undefined;
  /** deletes the extension and its bindings in one transaction */
  delete(id: number): boolean;
}

export interface BindingRepository {
  /** insert or replace by (domain, number, contactUri) */
  upsert(binding: Binding): void;
  remove(domain: string, number: string, contactUri: string): void;
  removeAll(domain: string, number: string): void;
  list(domain?: string, number?: string): Binding[];
  /** deletes bindings with expiresAt <= now, returns how many */
  removeExpired(now: number): number;
}

export interface CallRecordRepository {
  insert(record: NewCallRecord): CallRecord;
  get(id: number): CallRecord | undefined;
  query(filter: CallRecordFilter): { total: number; items: CallRecord[] };
}

export interface TokenRepository {
  /** stores only a hash of the secret */
  create(name: string, secretHash: string): ApiToken;
  list(): ApiToken[];
  findByHash(secretHash: string): ApiToken | undefined;
  touch(id: number, at: number): void;
  delete(id: number): boolean;
}

export interface SettingsRepository {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

// --- Services: the numbers that run a Lua service, and the services' own data ---

/** A dialled number that runs a Lua service instead of ringing an extension. */
export interface ServiceNumber {
  id: number;
  domain: string;
  number: string;
  /** the service's name (its file lua/services/<name>.lua) */
  service: string;
  /** handed to the service with every call */
  args: Record<string, unknown>;
  /** dialled instead when the service fails before answering; null: an error response */
  fallback: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface NewServiceNumber {
  domain: string;
  number: string;
  service: string;
  args?: Record<string, unknown>;   // default {}
  fallback?: string | null;         // default null
}

/** What a replace sets; the domain and number stay. */
export interface ServiceNumberTarget {
  service: string;
  args: Record<string, unknown>;
  fallback: string | null;
}

export interface ServiceNumberRepository {
  /** throws ConflictError when (domain, number) exists, UnknownDomainError when the domain does not */
  create(input: NewServiceNumber): ServiceNumber;
  /** looked up for every dialled number that is no extension */
  find(domain: string, number: string): ServiceNumber | undefined;
  list(domain?: string): ServiceNumber[];
  /** undefined when there is no such number */
  replace(domain: string, number: string, target: ServiceNumberTarget): ServiceNumber | undefined;
  delete(domain: string, number: string): boolean;
}

/** One item of a service's data (a ring group, a mailbox, ...): a JSON document named by kind and key. */
export interface ServiceDataItem {
  domain: string;
  /** 'ring-groups', 'mailboxes', ... (src/services/data/kinds.ts) */
  kind: string;
  key: string;
  body: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface ServiceDataRepository {
  /** read by the services during calls */
  get(domain: string, kind: string, key: string): ServiceDataItem | undefined;
  /** every domain when domain is undefined; ordered by domain, then key */
  list(domain: string | undefined, kind: string): ServiceDataItem[];
  /** throws ConflictError when the item exists, UnknownDomainError when the domain does not */
  create(domain: string, kind: string, key: string, body: Record<string, unknown>): ServiceDataItem;
  /** creates or replaces; throws UnknownDomainError when the domain does not exist */
  put(domain: string, kind: string, key: string, body: Record<string, unknown>): ServiceDataItem;
  delete(domain: string, kind: string, key: string): boolean;
}

export interface Store {
  domains: DomainRepository;
  extensions: ExtensionRepository;
  bindings: BindingRepository;
  callRecords: CallRecordRepository;
  tokens: TokenRepository;
  settings: SettingsRepository;
  serviceNumbers: ServiceNumberRepository;
  serviceData: ServiceDataRepository;
  voicemail: VoicemailRepository;
  mailOutbox: MailOutbox;
  /** runs fn in one database transaction */
  transaction<T>(fn: () => T): T;
  close(): void;
}

export class ConflictError extends Error {}
