// Character classes of the SIP grammar (RFC 3261 §25.1), as a lookup table so the scanners
// test one array slot per character instead of running regular expressions.

const TOKEN = 1;
const HOST = 2;
const USER = 4;
const PASSWORD = 8;
const URI_PARAM = 16;
const URI_HEADER = 32;
const PARAM_VALUE = 64;
const CALL_ID_WORD = 128;
const HEX = 256;

const table = new Uint16Array(128);

function mark(chars: string, flag: number): void {
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] |= flag;
}

const ALPHANUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const UNRESERVED = ALPHANUM + "-_.!~*'()";
mark(ALPHANUM + "-.!%*_+`'~", TOKEN);
// '_' is not in RFC 1035 host names but real devices use it, and accepting it costs nothing.
mark(ALPHANUM + '-._', HOST);
mark(UNRESERVED + '%&=+$,;?/', USER);
mark(UNRESERVED + '%&=+$,', PASSWORD);
mark(UNRESERVED + '%[]/:&+$', URI_PARAM);
mark(UNRESERVED + '%[]/?:+$=&', URI_HEADER);
mark(ALPHANUM + "-.!%*_+`'~:[]", PARAM_VALUE);
mark(ALPHANUM + "-.!%*_+`'~()<>:\\\"/[]?{}", CALL_ID_WORD);
mark('0123456789abcdefABCDEF', HEX);

function has(c: number, flag: number): boolean {
  return c < 128 && (table[c] & flag) !== 0;
}

export function isTokenChar(c: number): boolean {
  return has(c, TOKEN);
}

export function isWhitespace(c: number): boolean {
  return c === 32 || c === 9;
}

function isHostChar(c: number): boolean {
  return has(c, HOST);
}

export function isUserChar(c: number): boolean {
  return has(c, USER);
}

export function isPasswordChar(c: number): boolean {
  return has(c, PASSWORD);
}

export function isUriParamChar(c: number): boolean {
  return has(c, URI_PARAM);
}

export function isUriHeaderChar(c: number): boolean {
  return has(c, URI_HEADER);
}

/** gen-value without quotes: token or host (IPv6 included) */
export function isParamValueChar(c: number): boolean {
  return has(c, PARAM_VALUE);
}

export function isCallIdChar(c: number): boolean {
  return has(c, CALL_ID_WORD) || c === 64; // '@' separates the two words
}

export function isHexDigit(c: number): boolean {
  return has(c, HEX);
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function skipWhitespace(s: string, i: number): number {
  while (i < s.length && isWhitespace(s.charCodeAt(i))) i++;
  return i;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/** 1*DIGIT, bounded to 10 digits so the number stays exact and the check stays cheap */
export function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 10) return false;
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** End of the host starting at s[i] (hostname, IPv4, or IPv6 reference in brackets); -1 for a bad reference. */
export function scanHost(s: string, i: number): number {
  if (s.charCodeAt(i) === 91) {
    const close = s.indexOf(']', i);
    if (close <= i + 1) return -1;
    for (let j = i + 1; j < close; j++) {
      const c = s.charCodeAt(j);
      if (!isHexDigit(c) && c !== 58 && c !== 46) return -1;
    }
    return close + 1;
  }
  while (i < s.length && isHostChar(s.charCodeAt(i))) i++;
  return i;
}
