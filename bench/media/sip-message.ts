// The little SIP text handling the bench's user agent needs: it talks to one server only, so this reads
// what that server sends rather than everything RFC 3261 allows.

export interface SipMessage {
  /** Request method; undefined for a response. */
  readonly method?: string;
  readonly uri?: string;
  /** Response status; 0 for a request. */
  readonly status: number;
  readonly reason: string;
  /** In order of appearance, names in lower case and compact forms expanded. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  readonly body: string;
}

const COMPACT_NAMES: Readonly<Record<string, string>> = {
  v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type', k: 'supported',
};

/** A datagram as a SIP message; Content-Length counts bytes, so the body is cut from the bytes. */
export function parseSipMessage(data: Buffer): SipMessage | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const lines = data.toString('utf8', 0, headEnd).split('\r\n');
  const start = lines[0]!.split(' ');
  if (start.length < 3) return undefined;
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && headers.length > 0) {
      headers[headers.length - 1]![1] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.push([COMPACT_NAMES[name] ?? name, line.slice(colon + 1).trim()]);
  }
  const declared = Number(headers.find(([name]) => name === 'content-length')?.[1] ?? Number.NaN);
  const rest = data.subarray(headEnd + 4);
  const body = (Number.isInteger(declared) && declared >= 0 ? rest.subarray(0, declared) : rest).toString('utf8');
  if (start[0] === 'SIP/2.0') {
    const status = Number(start[1]);
    if (!Number.isInteger(status) || status < 100 || status > 699) return undefined;
    return { status, reason: start.slice(2).join(' '), headers, body };
  }
  if (start[2] !== 'SIP/2.0') return undefined;
  return { method: start[0], uri: start[1], status: 0, reason: '', headers, body };
}

export const headerOf = (message: SipMessage, name: string): string | undefined => message.headers.find(([n]) => n === name)?.[1];

export const headersOf = (message: SipMessage, name: string): string[] =>
  message.headers.filter(([n]) => n === name).map(([, value]) => value);

/** A header parameter such as the tag of From/To or the branch of Via. */
export function paramOf(value: string | undefined, name: string): string | undefined {
  return value === undefined ? undefined : new RegExp(`;\\s*${name}=([^;>,\\s]+)`, 'i').exec(value)?.[1];
}

/** The URI of a name-addr (`"Name" <sip:u@h>;tag=x`) or of a bare addr-spec. */
export function uriOf(value: string): string {
  const open = value.indexOf('<');
  if (open >= 0) return value.slice(open + 1, value.indexOf('>', open));
  return value.split(';')[0]!.trim();
}

/** The user part of a SIP URI or name-addr. */
export function userOf(value: string): string | undefined {
  return /^sips?:([^@;>]+)@/i.exec(uriOf(value))?.[1];
}

export function cseqOf(message: SipMessage): { seq: number; method: string } | undefined {
  const [seq, method] = (headerOf(message, 'cseq') ?? '').split(/\s+/);
  const n = Number(seq);
  return Number.isInteger(n) && method ? { seq: n, method } : undefined;
}

/** A message ready to send: `headers` in order, then Content-Length for `body`. */
export function formatSipMessage(startLine: string, headers: ReadonlyArray<readonly [string, string]>, body = ''): string {
  const lines = [startLine, ...headers.map(([name, value]) => `${name}: ${value}`), `Content-Length: ${Buffer.byteLength(body)}`];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}
