// Header parameters (`;name=value`, RFC 3261 generic-param) and quoted strings, shared by the
// name-addr, Via and URI scanners.

import { isParamValueChar, isTokenChar, skipWhitespace } from './chars.js';

/** Stores a parameter without letting a hostile name such as `__proto__` reach the prototype. */
export function setParam<T>(out: Record<string, T>, name: string, value: T): void {
  if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

/** Given s[i] === '"', returns the index just after the closing quote, or -1 when unterminated. */
export function quotedStringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
}

/** Text between an opening quote at s[from - 1] and a closing quote at s[to], quoted-pairs resolved. */
export function unquote(s: string, from: number, to: number): string {
  const inner = s.slice(from, to);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    if (inner.charCodeAt(i) === 92 && i + 1 < inner.length) i++;
    out += inner[i];
  }
  return out;
}

export function quote(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Reads `*(SEMI generic-param)` starting at s[i], LWS allowed around ';' and '='. Returns the
 * index after the last parameter (before any trailing whitespace), or -1 when one is malformed;
 * parameters read before the fault stay in `out`.
 */
export function readHeaderParams(s: string, i: number, out: Record<string, string | null>): number {
  const n = s.length;
  for (;;) {
    let j = skipWhitespace(s, i);
    if (j >= n || s.charCodeAt(j) !== 59) return i;
    j = skipWhitespace(s, j + 1);
    const nameStart = j;
    while (j < n && isTokenChar(s.charCodeAt(j))) j++;
    if (j === nameStart) return -1;
    const name = s.slice(nameStart, j).toLowerCase();
    let value: string | null = null;
    const afterName = skipWhitespace(s, j);
    if (afterName < n && s.charCodeAt(afterName) === 61) {
      let k = skipWhitespace(s, afterName + 1);
      if (k < n && s.charCodeAt(k) === 34) {
        const end = quotedStringEnd(s, k);
        if (end < 0) return -1;
        value = unquote(s, k + 1, end - 1);
        k = end;
      } else {
        const valueStart = k;
        while (k < n && isParamValueChar(s.charCodeAt(k))) k++;
        if (k === valueStart) return -1;
        value = s.slice(valueStart, k);
      }
      j = k;
    }
    setParam(out, name, value);
    i = j;
  }
}

export function formatHeaderParams(params: Record<string, string | null>): string {
  let out = '';
  for (const name in params) {
    const value = params[name];
    if (value === null) out += `;${name}`;
    else out += isPlainParamValue(value) ? `;${name}=${value}` : `;${name}=${quote(value)}`;
  }
  return out;
}

function isPlainParamValue(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) if (!isParamValueChar(value.charCodeAt(i))) return false;
  return true;
}
