// Just enough MIME to check what the SMTP server received (mailparser is not installed): headers
// with folding and RFC 2047 words, multipart bodies, base64 and quoted-printable.

export interface MimePart {
  /** lowercase names, unfolded and decoded values */
  headers: Map<string, string>;
  /** the body after its transfer encoding is undone; empty for a multipart */
  body: Buffer;
  parts: MimePart[];
}

export function parseMime(raw: Buffer): MimePart {
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const headerText = split < 0 ? text : text.slice(0, split);
  const bodyText = split < 0 ? '' : text.slice(split + 4);
  const headers = parseHeaders(headerText);
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = parameter(type, 'boundary');
  if (type.toLowerCase().startsWith('multipart/') && boundary !== undefined) {
    const sections = bodyText.split(`--${boundary}`);
    // sections[0] is the preamble; the last one starts with "--" (the closing delimiter)
    const parts = sections.slice(1, -1).map((section) => parseMime(Buffer.from(section.replace(/^\r\n/, '').replace(/\r\n$/, ''), 'latin1')));
    return { headers, body: Buffer.alloc(0), parts };
  }
  return { headers, body: decodeBody(bodyText, headers.get('content-transfer-encoding')), parts: [] };
}

/** Every leaf part, depth first. */
export function leaves(part: MimePart): MimePart[] {
  return part.parts.length === 0 ? [part] : part.parts.flatMap(leaves);
}

export function parameter(headerValue: string, name: string): string | undefined {
  const match = new RegExp(`;\\s*${name}="?([^";]*)"?`, 'i').exec(headerValue);
  return match?.[1];
}

/** A text body with the CRLF line ends of the wire turned back into \n, without the final line end. */
export function textOf(part: MimePart): string {
  return part.body.toString('utf8').replace(/\r\n/g, '\n').replace(/\n$/, '');
}

function parseHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of text.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers.set(line.slice(0, colon).trim().toLowerCase(), decodeWords(line.slice(colon + 1).trim()));
  }
  return headers;
}

/** =?UTF-8?B?...?= and =?UTF-8?Q?...?=; whitespace between two encoded words is dropped (RFC 2047). */
function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_all, _charset: string, encoding: string, data: string) => {
      const bytes = encoding.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64')
        : quotedPrintable(data.replace(/_/g, ' '));
      return bytes.toString('utf8');
    });
}

function decodeBody(text: string, encoding: string | undefined): Buffer {
  switch (encoding?.toLowerCase()) {
    case 'base64':
      return Buffer.from(text.replace(/\s+/g, ''), 'base64');
    case 'quoted-printable':
      return quotedPrintable(text.replace(/=\r\n/g, ''));
    default:
      return Buffer.from(text, 'latin1');
  }
}

function quotedPrintable(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}
