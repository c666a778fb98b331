// Bytes -> SipRequest/SipResponse. Only the start line, the header lines and Content-Length are
// read here; header values stay as received and are parsed on demand by the message accessors.
// Every scan is linear in the input and nothing here throws.

import { EMPTY_BODY, SipRequest, SipResponse, type HeaderField } from './message.js';
import { canonicalHeaderKey } from './headers.js';
import { isDigits, isToken, isTokenChar, isWhitespace } from './chars.js';

export type ParseResult =
  | { ok: true; message: SipRequest | SipResponse }
  | { ok: false; error: string; request?: SipRequest };

const SIP_VERSION = /^SIP\/[0-9]{1,5}\.[0-9]{1,5}$/i;
const MAX_STATUS_DIGITS = 10;

/**
 * Parses one message. The body is cut to Content-Length when present (octets after it in a
 * datagram are ignored, RFC 4475 dblreq) and copied, so `data` may be reused afterwards. Bare LF
 * line endings are accepted, and a missing blank line after the headers means an empty body.
 */
export function parseMessage(data: Buffer): ParseResult {
  let start = 0;
  while (start < data.length && (data[start] === 13 || data[start] === 10)) start++;
  if (start >= data.length) return { ok: false, error: 'Bad Request - Empty message' };
  const bodyStart = findBodyStart(data, start);
  const text = data.toString('utf8', start, bodyStart < 0 ? data.length : bodyStart);

  const firstLineEnd = lineEnd(text, 0);
  const startLine = trimEnd(text, 0, contentEnd(text, 0, firstLineEnd));
  const headers: HeaderField[] = [];
  const headerError = readHeaders(text, firstLineEnd + 1, headers);

  if (startsWithSipVersion(startLine)) {
    const response = parseStatusLine(startLine, headers);
    if (!response) return { ok: false, error: 'Bad Request - Malformed Status-Line' };
    if (headerError) return { ok: false, error: headerError };
    const body = readBody(data, bodyStart, headers);
    if (typeof body === 'string') return { ok: false, error: body };
    response.body = body;
    return { ok: true, message: response };
  }

  const request = parseRequestLine(startLine, headers);
  if (!request) return { ok: false, error: 'Bad Request - Malformed start line' };
  if (request.malformed) return { ok: false, error: 'Bad Request - Malformed Request-Line', request: request.message };
  if (headerError) return { ok: false, error: headerError, request: request.message };
  const body = readBody(data, bodyStart, headers);
  if (typeof body === 'string') return { ok: false, error: body, request: request.message };
  request.message.body = body;
  return { ok: true, message: request.message };
}

/** Index of the first body octet, after the blank line (CRLF or bare LF); -1 when there is none. */
function findBodyStart(data: Buffer, start: number): number {
  let lf = data.indexOf(10, start);
  while (lf >= 0) {
    let next = lf + 1;
    if (data[next] === 13) next++;
    if (data[next] === 10) return next + 1;
    lf = data.indexOf(10, lf + 1);
  }
  return -1;
}

/** Index of the LF ending the line that starts at `from`, or text.length. */
function lineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  return lf < 0 ? text.length : lf;
}

/** Line end without its CR. */
function contentEnd(text: string, from: number, end: number): number {
  return end > from && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
}

function trimEnd(text: string, from: number, end: number): string {
  while (end > from && isWhitespace(text.charCodeAt(end - 1))) end--;
  return text.slice(from, end);
}

/** Appends the header lines, unfolding continuation lines; returns an error reason or undefined. */
function readHeaders(text: string, pos: number, headers: HeaderField[]): string | undefined {
  while (pos < text.length) {
    const end = lineEnd(text, pos);
    const contentStop = contentEnd(text, pos, end);
    if (contentStop === pos) return undefined;
    if (isWhitespace(text.charCodeAt(pos))) {
      const last = headers[headers.length - 1];
      if (!last) return 'Bad Request - Malformed header line';
      const more = trimmed(text, pos, contentStop);
      if (more.length > 0) last.value = last.value.length > 0 ? `${last.value} ${more}` : more;
    } else {
      const colon = text.indexOf(':', pos);
      if (colon < 0 || colon >= contentStop) return 'Bad Request - Malformed header line';
      let nameEnd = colon;
      while (nameEnd > pos && isWhitespace(text.charCodeAt(nameEnd - 1))) nameEnd--;
      for (let i = pos; i < nameEnd; i++) {
        if (!isTokenChar(text.charCodeAt(i))) return 'Bad Request - Malformed header name';
      }
      const name = text.slice(pos, nameEnd);
      headers.push({ key: canonicalHeaderKey(name), name, value: trimmed(text, colon + 1, contentStop) });
    }
    pos = end + 1;
  }
  return undefined;
}

function trimmed(text: string, from: number, end: number): string {
  while (from < end && isWhitespace(text.charCodeAt(from))) from++;
  while (end > from && isWhitespace(text.charCodeAt(end - 1))) end--;
  return text.slice(from, end);
}

function startsWithSipVersion(line: string): boolean {
  return line.length >= 4 && line.slice(0, 4).toUpperCase() === 'SIP/';
}

function parseStatusLine(line: string, headers: HeaderField[]): SipResponse | null {
  const sp = line.indexOf(' ');
  if (sp < 0) return null;
  const version = line.slice(0, sp);
  const codeEnd = line.indexOf(' ', sp + 1);
  const code = line.slice(sp + 1, codeEnd < 0 ? line.length : codeEnd);
  if (!SIP_VERSION.test(version) || code.length > MAX_STATUS_DIGITS || !isDigits(code)) return null;
  const reason = codeEnd < 0 ? '' : line.slice(codeEnd + 1);
  return new SipResponse(Number(code), reason, headers, EMPTY_BODY, version);
}

/**
 * `Method SP Request-URI SP SIP-Version` with single spaces (RFC 4475 lwsstart, lwsruri). Null
 * when the line does not even start with a method token; `malformed` when it does but the rest
 * is wrong, so the caller can still answer 400.
 */
function parseRequestLine(line: string, headers: HeaderField[]): { message: SipRequest; malformed: boolean } | null {
  const sp = line.indexOf(' ');
  const method = sp < 0 ? line : line.slice(0, sp);
  if (!isToken(method)) return null;
  const lastSp = line.lastIndexOf(' ');
  const uri = sp < 0 ? '' : line.slice(sp + 1, lastSp > sp ? lastSp : line.length);
  const version = lastSp > sp ? line.slice(lastSp + 1) : '';
  const malformed = uri.length === 0 || hasWhitespace(uri) || !SIP_VERSION.test(version);
  return { message: new SipRequest(method, uri, headers, EMPTY_BODY, version), malformed };
}

function hasWhitespace(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (isWhitespace(s.charCodeAt(i))) return true;
  return false;
}

/** The body per Content-Length, or an error reason. */
function readBody(data: Buffer, bodyStart: number, headers: HeaderField[]): Buffer | string {
  let length = -1;
  for (const h of headers) {
    if (h.key !== 'content-length') continue;
    if (!isDigits(h.value)) return 'Bad Request - Malformed Content-Length';
    const value = Number(h.value);
    if (length >= 0 && value !== length) return 'Bad Request - Conflicting Content-Length values';
    length = value;
  }
  const available = bodyStart < 0 ? 0 : data.length - bodyStart;
  if (length > available) return 'Bad Request - Content-Length exceeds message';
  const size = length < 0 ? available : length;
  return size === 0 ? EMPTY_BODY : Buffer.from(data.subarray(bodyStart, bodyStart + size));
}
