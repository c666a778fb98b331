// Repository interfaces, one per aggregate. The SQLite implementation lives beside this file;
// a PostgreSQL backend implements the same interfaces. Times are epoch milliseconds.

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

export interface Store {
  domains: DomainRepository;
  extensions: ExtensionRepository;
  bindings: BindingRepository;
  callRecords: CallRecordRepository;
  tokens: TokenRepository;
  settings: SettingsRepository;
  /** runs fn in one database transaction */
  transaction<T>(fn: () => T): T;
  close(): void;
}

export class ConflictError extends Error {}
