// Header names and the structured header values routing reads: name-addr (From, To, Contact,
// Route), Via, CSeq and digest credentials. Every parser returns null on malformed input and
// never throws; each runs in time linear in its input.

import type { CSeq, Credentials, NameAddr, Via } from './message.js';
import { isDigit, isTokenChar, isWhitespace, scanHost, skipWhitespace } from './chars.js';
import { formatHeaderParams, quote, quotedStringEnd, readHeaderParams, setParam, unquote } from './params.js';
import { parseUri } from './uri.js';

const COMPACT_FORMS = new Map<string, string>([
  ['i', 'call-id'],
  ['m', 'contact'],
  ['e', 'content-encoding'],
  ['l', 'content-length'],
  ['c', 'content-type'],
  ['f', 'from'],
  ['s', 'subject'],
  ['k', 'supported'],
  ['t', 'to'],
  ['v', 'via'],
  ['o', 'event'],
  ['r', 'refer-to'],
  ['b', 'referred-by'],
  ['u', 'allow-events'],
  ['x', 'session-expires'],
  ['a', 'accept-contact'],
  ['j', 'reject-contact'],
  ['d', 'request-disposition'],
  ['y', 'identity'],
  ['n', 'identity-info'],
]);

// Bounded so that a peer sending endless invented header names cannot grow it without limit.
const KEY_CACHE_LIMIT = 4096;
const keyCache = new Map<string, string>();

/** Lowercase long form of a header name ('V' and 'Via' both give 'via'). */
export function canonicalHeaderKey(name: string): string {
  const cached = keyCache.get(name);
  if (cached !== undefined) return cached;
  const lower = name.toLowerCase();
  const key = lower.length === 1 ? (COMPACT_FORMS.get(lower) ?? lower) : lower;
  if (keyCache.size < KEY_CACHE_LIMIT) keyCache.set(name, key);
  return key;
}

/**
 * Splits a comma-separated header value into its trimmed elements, ignoring commas inside quoted
 * strings and <...>. An empty value has no elements; empty elements ("a,,b") are kept so that
 * strict callers can reject them.
 *
 * Callers must not use this on headers whose single value contains bare commas: WWW-Authenticate,
 * Authorization, Proxy-Authenticate, Proxy-Authorization (comma-separated auth-params), Date
 * ("Sat, 13 Nov 2010 ..."), Retry-After comments, and From/To/Call-ID/CSeq, which are single-valued.
 */
export function splitHeaderValues(value: string): string[] {
  if (value.indexOf(',') < 0) {
    const only = value.trim();
    return only.length === 0 ? [] : [only];
  }
  const out: string[] = [];
  let start = 0;
  let inQuotes = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuotes) {
      if (c === 92) i++;
      else if (c === 34) inQuotes = false;
    } else if (c === 34) inQuotes = true;
    else if (c === 60) inAngle = true;
    else if (c === 62) inAngle = false;
    else if (c === 44 && !inAngle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out;
}

/**
 * Parameters written as ';a=b;c' (the leading ';' may be omitted). Names are lowercased, quoted
 * values unquoted, flags map to null. Reading stops at the first malformed parameter.
 */
export function parseParams(text: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  const first = skipWhitespace(text, 0);
  readHeaderParams(first < text.length && text.charCodeAt(first) !== 59 ? `;${text}` : text, 0, out);
  return out;
}

/**
 * name-addr (`"Display" <uri>;params`, `Display <uri>`) or addr-spec (`uri;params`). In the
 * addr-spec form the parameters belong to the header, not the URI (RFC 3261 §20.10), and a URI
 * with '?' or ',' is malformed because it would need angle brackets.
 */
export function parseNameAddr(text: string): NameAddr | null {
  const n = text.length;
  let i = skipWhitespace(text, 0);
  let display: string | undefined;
  let uriText: string;
  if (i < n && text.charCodeAt(i) === 34) {
    const end = quotedStringEnd(text, i);
    if (end < 0) return null;
    display = unquote(text, i + 1, end - 1);
    i = skipWhitespace(text, end);
    if (i >= n || text.charCodeAt(i) !== 60) return null;
  } else {
    let j = i;
    while (j < n && isDisplayTokenChar(text.charCodeAt(j))) j++;
    if (j < n && text.charCodeAt(j) === 60) {
      const tokens = text.slice(i, j).trim();
      if (tokens.length > 0) display = tokens;
      i = j;
    }
  }
  if (i < n && text.charCodeAt(i) === 60) {
    const close = text.indexOf('>', i + 1);
    if (close < 0) return null;
    uriText = text.slice(i + 1, close);
    i = close + 1;
  } else {
    const start = i;
    while (i < n && text.charCodeAt(i) !== 59 && !isWhitespace(text.charCodeAt(i))) i++;
    uriText = text.slice(start, i);
    if (uriText.indexOf('?') >= 0 || uriText.indexOf(',') >= 0) return null;
  }
  const uri = parseUri(uriText);
  if (!uri) return null;
  const params: Record<string, string | null> = {};
  const end = readHeaderParams(text, i, params);
  if (end < 0 || skipWhitespace(text, end) !== n) return null;
  return display === undefined ? { uri, uriText, params } : { display, uri, uriText, params };
}

/** Writes `uriText` (keep it in step with `uri` when changing either), always in angle brackets. */
export function formatNameAddr(na: NameAddr): string {
  const display = na.display === undefined ? '' : `${quote(na.display)} `;
  return `${display}<${na.uriText}>${formatHeaderParams(na.params)}`;
}

/** One Via value: `SIP / 2.0 / UDP host[:port] *(;param)`, LWS allowed where RFC 3261 allows it. */
export function parseVia(text: string): Via | null {
  const n = text.length;
  let i = skipWhitespace(text, 0);
  const nameStart = i;
  i = skipToken(text, i);
  const protocolName = text.slice(nameStart, i);
  i = skipSlash(text, i);
  if (i < 0 || protocolName.length === 0) return null;
  const versionStart = i;
  i = skipToken(text, i);
  const protocolVersion = text.slice(versionStart, i);
  i = skipSlash(text, i);
  if (i < 0 || protocolVersion.length === 0) return null;
  const transportStart = i;
  i = skipToken(text, i);
  if (i === transportStart || i >= n || !isWhitespace(text.charCodeAt(i))) return null;
  const transport = text.slice(transportStart, i).toUpperCase();
  i = skipWhitespace(text, i);
  const hostStart = i;
  i = scanHost(text, i);
  if (i <= hostStart) return null;
  const via: Via = { protocol: `${protocolName}/${protocolVersion}`, transport, host: text.slice(hostStart, i), params: {} };
  const afterHost = skipWhitespace(text, i);
  if (afterHost < n && text.charCodeAt(afterHost) === 58) {
    const portStart = skipWhitespace(text, afterHost + 1);
    i = portStart;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    const port = Number(text.slice(portStart, i));
    if (i === portStart || i - portStart > 5 || port > 65535) return null;
    via.port = port;
  }
  const end = readHeaderParams(text, i, via.params);
  if (end < 0 || skipWhitespace(text, end) !== n) return null;
  return via;
}

export function formatVia(v: Via): string {
  const port = v.port === undefined ? '' : `:${v.port}`;
  return `${v.protocol}/${v.transport} ${v.host}${port}${formatHeaderParams(v.params)}`;
}

const MAX_CSEQ = 0xffffffff;

/** `1*DIGIT LWS Method`, the number fitting 32 bits unsigned (RFC 3261 §20.16). */
export function parseCSeq(text: string): CSeq | null {
  const n = text.length;
  let i = skipWhitespace(text, 0);
  const digitsStart = i;
  while (i < n && isDigit(text.charCodeAt(i))) i++;
  if (i === digitsStart || i - digitsStart > 10 || i >= n || !isWhitespace(text.charCodeAt(i))) return null;
  const seq = Number(text.slice(digitsStart, i));
  if (seq > MAX_CSEQ) return null;
  const methodStart = skipWhitespace(text, i);
  const methodEnd = skipToken(text, methodStart);
  if (methodEnd === methodStart || skipWhitespace(text, methodEnd) !== n) return null;
  return { seq, method: text.slice(methodStart, methodEnd) };
}

/**
 * Authorization / Proxy-Authorization: `scheme name=value, name="value", ...`. Names are
 * lowercased and values unquoted. A Digest value with malformed parameters is null; another
 * scheme whose parameters do not read as name=value pairs (Basic's token68) keeps only its scheme.
 */
export function parseCredentials(text: string): Credentials | null {
  const n = text.length;
  const schemeStart = skipWhitespace(text, 0);
  const schemeEnd = skipToken(text, schemeStart);
  if (schemeEnd === schemeStart || (schemeEnd < n && !isWhitespace(text.charCodeAt(schemeEnd)))) return null;
  const scheme = text.slice(schemeStart, schemeEnd);
  const params = readAuthParams(text, schemeEnd);
  if (params) return { scheme, params };
  return scheme.toLowerCase() === 'digest' ? null : { scheme, params: {} };
}

function readAuthParams(text: string, i: number): Record<string, string> | null {
  const n = text.length;
  const params: Record<string, string> = {};
  i = skipWhitespace(text, i);
  while (i < n) {
    const nameStart = i;
    i = skipToken(text, i);
    if (i === nameStart) return null;
    const name = text.slice(nameStart, i).toLowerCase();
    i = skipWhitespace(text, i);
    if (i >= n || text.charCodeAt(i) !== 61) return null;
    i = skipWhitespace(text, i + 1);
    let value: string;
    if (i < n && text.charCodeAt(i) === 34) {
      const end = quotedStringEnd(text, i);
      if (end < 0) return null;
      value = unquote(text, i + 1, end - 1);
      i = end;
    } else {
      const valueStart = i;
      while (i < n && text.charCodeAt(i) !== 44 && !isWhitespace(text.charCodeAt(i))) i++;
      if (i === valueStart) return null;
      value = text.slice(valueStart, i);
    }
    setParam(params, name, value);
    i = skipWhitespace(text, i);
    if (i < n) {
      if (text.charCodeAt(i) !== 44) return null;
      i = skipWhitespace(text, i + 1);
      if (i >= n) return null;
    }
  }
  return params;
}

/** Characters of an unquoted display name: tokens, LWS, and (liberally) non-ASCII text. */
function isDisplayTokenChar(c: number): boolean {
  return isTokenChar(c) || isWhitespace(c) || c >= 128;
}

function skipToken(text: string, i: number): number {
  while (i < text.length && isTokenChar(text.charCodeAt(i))) i++;
  return i;
}

/** Skips `SWS "/" SWS`; -1 when there is no slash. */
function skipSlash(text: string, i: number): number {
  i = skipWhitespace(text, i);
  if (i >= text.length || text.charCodeAt(i) !== 47) return -1;
  return skipWhitespace(text, i + 1);
}
