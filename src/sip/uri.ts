// SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966). Other schemes are carried opaquely so that
// headers naming them (RFC 4475 unksm2) still parse; deciding whether a scheme is acceptable is
// the caller's business (416 for a Request-URI).

import type { SipUri } from './message.js';
import {
  isDigit,
  isHexDigit,
  isPasswordChar,
  isUriHeaderChar,
  isUriParamChar,
  isUserChar,
  scanHost,
} from './chars.js';
import { setParam } from './params.js';

export function parseUri(text: string): SipUri | null {
  const colon = schemeEnd(text);
  if (colon < 0 || colon === text.length - 1) return null;
  for (let i = colon + 1; i < text.length; i++) if (!isUriChar(text.charCodeAt(i))) return null;
  const scheme = text.slice(0, colon).toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(scheme, text, colon + 1);
  if (scheme === 'tel') return parseTelUri(text, colon + 1);
  return { scheme, host: '', params: {}, opaque: text.slice(colon + 1) };
}

export function formatUri(u: SipUri): string {
  if (u.scheme !== 'sip' && u.scheme !== 'sips') {
    return u.scheme === 'tel' ? `tel:${u.opaque ?? ''}${formatUriParams(u.params)}` : `${u.scheme}:${u.opaque ?? ''}`;
  }
  let out = `${u.scheme}:`;
  if (u.user !== undefined) out += u.password !== undefined ? `${u.user}:${u.password}@` : `${u.user}@`;
  out += u.host;
  if (u.port !== undefined) out += `:${u.port}`;
  out += formatUriParams(u.params);
  if (u.headers !== undefined) out += `?${u.headers}`;
  return out;
}

/** Parameters that make two URIs differ when only one of them carries it (RFC 3261 §19.1.4). */
const SIGNIFICANT_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'];

/** URI equality per RFC 3261 §19.1.4; URI headers are compared as written rather than one by one. */
export function uriEquals(a: SipUri, b: SipUri): boolean {
  if (a.scheme !== b.scheme) return false;
  if (a.scheme === 'tel') return telNumber(a.opaque) === telNumber(b.opaque) && sameCommonParams(a, b);
  if (a.scheme !== 'sip' && a.scheme !== 'sips') return a.opaque === b.opaque;
  if (unescapeOptional(a.user) !== unescapeOptional(b.user)) return false;
  if (unescapeOptional(a.password) !== unescapeOptional(b.password)) return false;
  if (a.host.toLowerCase() !== b.host.toLowerCase() || a.port !== b.port) return false;
  for (const name of SIGNIFICANT_PARAMS) if (Object.hasOwn(a.params, name) !== Object.hasOwn(b.params, name)) return false;
  return sameCommonParams(a, b) && (a.headers ?? '') === (b.headers ?? '');
}

/** Decodes %XX escapes as UTF-8; malformed escapes are kept as written. */
export function unescapeUserPart(s: string): string {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < s.length && isHexDigit(s.charCodeAt(i + 1)) && isHexDigit(s.charCodeAt(i + 2))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 128) {
      bytes.push(c);
    } else {
      const cp = s.codePointAt(i) ?? c;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
      if (cp > 0xffff) i++;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function schemeEnd(text: string): number {
  const first = text.charCodeAt(0);
  if (!isAlpha(first)) return -1;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) return i;
    if (!isAlpha(c) && !isDigit(c) && c !== 43 && c !== 45 && c !== 46) return -1;
  }
  return -1;
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Visible ASCII that may appear in some URI component; excludes the characters that delimit a URI in a header. */
function isUriChar(c: number): boolean {
  return c > 32 && c < 127 && c !== 60 && c !== 62 && c !== 34;
}

function parseSipUri(scheme: string, text: string, start: number): SipUri | null {
  const n = text.length;
  const uri: SipUri = { scheme, host: '', params: {} };
  let i = start;
  const at = text.indexOf('@', start);
  if (at >= 0) {
    const colon = text.indexOf(':', start);
    const userEnd = colon >= 0 && colon < at ? colon : at;
    if (userEnd === start || !scanEscaped(text, start, userEnd, isUserChar)) return null;
    uri.user = text.slice(start, userEnd);
    if (userEnd < at) {
      if (!scanEscaped(text, userEnd + 1, at, isPasswordChar)) return null;
      uri.password = text.slice(userEnd + 1, at);
    }
    i = at + 1;
  }
  const hostEnd = scanHost(text, i);
  if (hostEnd <= i) return null;
  uri.host = text.slice(i, hostEnd);
  i = hostEnd;
  if (i < n && text.charCodeAt(i) === 58) {
    const portStart = ++i;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    if (i === portStart || i - portStart > 5) return null;
    const port = Number(text.slice(portStart, i));
    if (port > 65535) return null;
    uri.port = port;
  }
  i = readUriParams(text, i, uri.params);
  if (i < 0) return null;
  if (i < n && text.charCodeAt(i) === 63) {
    if (!scanEscaped(text, i + 1, n, isUriHeaderChar)) return null;
    uri.headers = text.slice(i + 1);
    i = n;
  }
  return i === n ? uri : null;
}

function parseTelUri(text: string, start: number): SipUri | null {
  const semi = text.indexOf(';', start);
  const numberEnd = semi < 0 ? text.length : semi;
  if (numberEnd === start) return null;
  const uri: SipUri = { scheme: 'tel', host: '', params: {}, opaque: text.slice(start, numberEnd) };
  return readUriParams(text, numberEnd, uri.params) === text.length ? uri : null;
}

/** Reads `*(";" pname ["=" pvalue])`; returns the index after them, or -1 when malformed. */
function readUriParams(text: string, i: number, out: Record<string, string | null>): number {
  const n = text.length;
  while (i < n && text.charCodeAt(i) === 59) {
    const nameStart = i + 1;
    let j = nameStart;
    while (j < n && isUriParamChar(text.charCodeAt(j))) j++;
    if (j === nameStart || !scanEscaped(text, nameStart, j, isUriParamChar)) return -1;
    const name = text.slice(nameStart, j).toLowerCase();
    let value: string | null = null;
    if (j < n && text.charCodeAt(j) === 61) {
      const valueStart = j + 1;
      j = valueStart;
      while (j < n && isUriParamChar(text.charCodeAt(j))) j++;
      if (j === valueStart || !scanEscaped(text, valueStart, j, isUriParamChar)) return -1;
      value = text.slice(valueStart, j);
    }
    setParam(out, name, value);
    i = j;
  }
  return i;
}

/** True when every character of text[from, to) is allowed and every '%' starts a valid escape. */
function scanEscaped(text: string, from: number, to: number, allowed: (c: number) => boolean): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!allowed(c)) return false;
    if (c === 37) {
      if (i + 2 >= to) return false;
      if (!isHexDigit(text.charCodeAt(i + 1)) || !isHexDigit(text.charCodeAt(i + 2))) return false;
      i += 2;
    }
  }
  return true;
}

function formatUriParams(params: Record<string, string | null>): string {
  let out = '';
  for (const name in params) {
    const value = params[name];
    out += value === null ? `;${name}` : `;${name}=${value}`;
  }
  return out;
}

function sameCommonParams(a: SipUri, b: SipUri): boolean {
  for (const name in a.params) {
    if (!Object.hasOwn(b.params, name)) continue;
    const av = a.params[name];
    const bv = b.params[name];
    if (av === null || bv === null ? av !== bv : unescapeUserPart(av).toLowerCase() !== unescapeUserPart(bv).toLowerCase()) {
      return false;
    }
  }
  return true;
}

function unescapeOptional(s: string | undefined): string | undefined {
  return s === undefined ? undefined : unescapeUserPart(s);
}

/** tel numbers compare without their visual separators (RFC 3966 §4). */
function telNumber(opaque: string | undefined): string {
  return (opaque ?? '').replace(/[-.()]/g, '');
}
