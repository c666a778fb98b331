// Reads a SIP response the way a peer on the wire would, independently of the server's own parser,
// so integration tests do not trust the code they test.

export interface SipReply {
  status: number;
  reason: string;
  /** header names as sent, in order */
  names: string[];
  /** every value of a header (compact forms expanded), by case-insensitive long name */
  all(name: string): string[];
  get(name: string): string | undefined;
  /** the top Via value (first value of the first Via header line) */
  topVia: string | undefined;
  text: string;
}

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type', f: 'from',
  s: 'subject', k: 'supported', t: 'to', v: 'via',
};

/** Throws when the text does not start with a SIP status line. */
export function parseSipReply(text: string): SipReply {
  const end = text.indexOf('\r\n\r\n');
  const lines = (end < 0 ? text : text.slice(0, end)).split('\r\n');
  const start = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
  if (!start) throw new Error(`not a SIP response:\n${text}`);
  const fields: { name: string; key: string; value: string }[] = [];
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line) && fields.length > 0) {
      fields[fields.length - 1]!.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const lower = name.toLowerCase();
    fields.push({ name, key: COMPACT[lower] ?? lower, value: line.slice(colon + 1).trim() });
  }
  const all = (name: string) => {
    const lower = name.toLowerCase();
    const key = COMPACT[lower] ?? lower;
    return fields.filter((f) => f.key === key).map((f) => f.value);
  };
  const via = all('via')[0];
  return {
    status: Number(start[1]),
    reason: start[2] ?? '',
    names: fields.map((f) => f.name),
    all,
    get: (name) => all(name)[0],
    topVia: via === undefined ? undefined : via.split(',')[0]!.trim(),
    text,
  };
}
