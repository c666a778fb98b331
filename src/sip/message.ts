// Public surface of the SIP message layer. Everything above the parser talks to these types only.
// Header values are kept as received (byte-exact for unknown headers); the typed accessors parse
// on first use and cache, so routing pays only for what it reads.

export type TransportName = 'UDP' | 'TCP' | 'TLS';

/** sip:, sips: or tel: URI. Other schemes parse with scheme set and host empty (see isSipUri). */
export interface SipUri {
  scheme: string;             // lowercase: 'sip' | 'sips' | 'tel' | other
  user?: string;              // still %-escaped as on the wire
  password?: string;
  host: string;               // IPv6 kept in brackets: '[::1]'
  port?: number;
  params: Record<string, string | null>;
  headers?: string;           // raw text after '?', without the '?'
  /** for tel: the number, for unknown schemes everything after ':' */
  opaque?: string;
}

export interface NameAddr {
  display?: string;           // unquoted and unescaped
  uri: SipUri;
  uriText: string;            // the URI exactly as written
  params: Record<string, string | null>; // header params, e.g. tag, expires, q
}

export interface Via {
  protocol: string;           // 'SIP/2.0'
  transport: string;          // uppercase, e.g. 'UDP'
  host: string;               // IPv6 in brackets
  port?: number;
  params: Record<string, string | null>; // branch, received, rport (null when empty), maddr, ttl
}

export interface CSeq { seq: number; method: string }

export interface Credentials {
  scheme: string;             // 'Digest'
  params: Record<string, string>; // unquoted values: username realm nonce uri response algorithm cnonce nc qop opaque
}

export interface HeaderField {
  /** canonical lowercase long name ('v' -> 'via'); used for lookup */
  key: string;
  /** name as received or as set, used when serializing */
  name: string;
  /** value as received, one line, LWS folding collapsed to one space, not otherwise touched */
  value: string;
}

/**
 * Where a message came from / goes to. `connectionId` lets responses and in-dialog requests reuse the
 * TCP/TLS connection a message arrived on.
 */
export interface Endpoint {
  transport: TransportName;
  address: string;            // IP literal, IPv6 without brackets
  port: number;
  connectionId?: number;
  /** TCP/TLS responses: the Via sent-by port to connect to at `address` if connection `connectionId` has closed (RFC 3261 §18.2.2) */
  fallbackPort?: number;
}

import { canonicalHeaderKey, parseCSeq, parseNameAddr, parseVia, splitHeaderValues } from './headers.js';

export abstract class SipMessage {
  abstract readonly isRequest: boolean;
  headers: HeaderField[];
  body: Buffer;
  /** set by the transport layer on receipt */
  source?: Endpoint;
  // Typed views of headers, parsed on first use; undefined until then, null when malformed.
  private parsedCSeq: CSeq | null | undefined;
  private parsedFrom: NameAddr | null | undefined;
  private parsedTo: NameAddr | null | undefined;
  private parsedVias: Via[] | null | undefined;
  private parsedContacts: NameAddr[] | '*' | null | undefined;
  private parsedRoutes: NameAddr[] | null | undefined;
  private parsedRecordRoutes: NameAddr[] | null | undefined;

  constructor(headers: HeaderField[] = [], body: Buffer = EMPTY_BODY) {
    this.headers = headers;
    this.body = body;
  }

  get(key: string): string | undefined {
    const k = canonicalHeaderKey(key);
    for (const h of this.headers) if (h.key === k) return h.value;
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Every value of a header, splitting comma-separated lists and joining repeated lines. */
  getAll(key: string): string[] {
    const k = canonicalHeaderKey(key);
    const out: string[] = [];
    for (const h of this.headers) if (h.key === k) out.push(...splitHeaderValues(h.value));
    return out;
  }

  add(name: string, value: string): this {
    const key = canonicalHeaderKey(name);
    this.headers.push({ key, name, value });
    this.forget(key);
    return this;
  }

  /** Insert before the first line of the same header (Via, Record-Route), or at the top. */
  prepend(name: string, value: string): this {
    const key = canonicalHeaderKey(name);
    const i = this.headers.findIndex((h) => h.key === key);
    this.headers.splice(i >= 0 ? i : 0, 0, { key, name, value });
    this.forget(key);
    return this;
  }

  remove(name: string): this {
    const key = canonicalHeaderKey(name);
    this.headers = this.headers.filter((h) => h.key !== key);
    this.forget(key);
    return this;
  }

  get callId(): string {
    return this.get('call-id') ?? '';
  }

  cseq(): CSeq | null {
    if (this.parsedCSeq === undefined) {
      const v = this.get('cseq');
      this.parsedCSeq = v === undefined ? null : parseCSeq(v);
    }
    return this.parsedCSeq;
  }

  from(): NameAddr | null {
    if (this.parsedFrom === undefined) {
      const v = this.get('from');
      this.parsedFrom = v === undefined ? null : parseNameAddr(v);
    }
    return this.parsedFrom;
  }

  to(): NameAddr | null {
    if (this.parsedTo === undefined) {
      const v = this.get('to');
      this.parsedTo = v === undefined ? null : parseNameAddr(v);
    }
    return this.parsedTo;
  }

  fromTag(): string | undefined {
    return this.from()?.params.tag ?? undefined;
  }

  toTag(): string | undefined {
    return this.to()?.params.tag ?? undefined;
  }

  /** All Via values, top first; null if any is malformed. */
  vias(): Via[] | null {
    if (this.parsedVias === undefined) this.parsedVias = parseAll(this.getAll('via'), parseVia);
    return this.parsedVias;
  }

  topVia(): Via | undefined {
    return this.vias()?.[0];
  }

  /** Contact values; '*' for the wildcard; null if any is malformed. */
  contacts(): NameAddr[] | '*' | null {
    if (this.parsedContacts === undefined) {
      const values = this.getAll('contact');
      this.parsedContacts = values.length === 1 && values[0].trim() === '*' ? '*' : parseAll(values, parseNameAddr);
    }
    return this.parsedContacts;
  }

  /** Record-Route or Route values in order; null if malformed. */
  routeSet(name: 'route' | 'record-route'): NameAddr[] | null {
    if (name === 'route') {
      if (this.parsedRoutes === undefined) this.parsedRoutes = parseAll(this.getAll(name), parseNameAddr);
      return this.parsedRoutes;
    }
    if (this.parsedRecordRoutes === undefined) this.parsedRecordRoutes = parseAll(this.getAll(name), parseNameAddr);
    return this.parsedRecordRoutes;
  }

  maxForwards(): number | undefined {
    const v = this.get('max-forwards');
    if (v === undefined) return undefined;
    const digits = v.trim();
    // Number() would also accept '', '0x10' and '1e2'
    return /^[0-9]{1,10}$/.test(digits) ? Number(digits) : undefined;
  }

  /** Option tags from Supported / Require / Unsupported / Proxy-Require, lowercase. */
  optionTags(name: 'supported' | 'require' | 'proxy-require' | 'unsupported'): string[] {
    return this.getAll(name).map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0);
  }

  /** Discards cached parses; call after editing `headers` directly. */
  invalidate(): void {
    this.parsedCSeq = this.parsedFrom = this.parsedTo = undefined;
    this.parsedVias = this.parsedContacts = this.parsedRoutes = this.parsedRecordRoutes = undefined;
  }

  private forget(key: string): void {
    switch (key) {
      case 'cseq': this.parsedCSeq = undefined; break;
      case 'from': this.parsedFrom = undefined; break;
      case 'to': this.parsedTo = undefined; break;
      case 'via': this.parsedVias = undefined; break;
      case 'contact': this.parsedContacts = undefined; break;
      case 'route': this.parsedRoutes = undefined; break;
      case 'record-route': this.parsedRecordRoutes = undefined; break;
    }
  }
}

export const EMPTY_BODY: Buffer = Buffer.alloc(0);

/** Every value parsed, or null as soon as one is malformed. */
function parseAll<T>(values: string[], parse: (text: string) => T | null): T[] | null {
  const out: T[] = [];
  for (const v of values) {
    const p = parse(v);
    if (p === null) return null;
    out.push(p);
  }
  return out;
}

export class SipRequest extends SipMessage {
  readonly isRequest = true;
  method: string;
  /** Request-URI exactly as received or set */
  uri: string;
  version: string;
  private parsedUri: SipUri | null | undefined;

  constructor(method: string, uri: string, headers?: HeaderField[], body?: Buffer, version = 'SIP/2.0') {
    super(headers, body);
    this.method = method;
    this.uri = uri;
    this.version = version;
  }

  requestUri(): SipUri | null {
    if (this.parsedUri === undefined) this.parsedUri = parseUriLazy(this.uri);
    return this.parsedUri;
  }

  setUri(uri: string): void {
    this.uri = uri;
    this.parsedUri = undefined;
  }
}

export class SipResponse extends SipMessage {
  readonly isRequest = false;
  status: number;
  reason: string;
  version: string;

  constructor(status: number, reason: string, headers?: HeaderField[], body?: Buffer, version = 'SIP/2.0') {
    super(headers, body);
    this.status = status;
    this.reason = reason;
    this.version = version;
  }
}

export type AnyMessage = SipRequest | SipResponse;

import { parseUri as parseUriLazy } from './uri.js';
