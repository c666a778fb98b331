// A 200 to REGISTER lists each binding with the expiry actually granted (RFC 3261 §10.3 step 8).
// The stored Contact text is kept byte-exact, so only its expires header parameter is replaced.

/** The contact text with any `expires` header parameter replaced by `;expires=<seconds>`. */
export function withExpiresParam(contact: string, seconds: number): string {
  const start = headerParamsStart(contact);
  const parts = splitOutsideQuotes(contact.slice(start), 59);
  let out = contact.slice(0, start) + parts[0];
  for (let i = 1; i < parts.length; i++) {
    if (!isExpiresParam(parts[i])) out += `;${parts[i]}`;
  }
  return `${out};expires=${seconds}`;
}

/** After `<...>` in name-addr form; in addr-spec form every `;` parameter is a header parameter. */
function headerParamsStart(contact: string): number {
  let inQuotes = false;
  for (let i = 0; i < contact.length; i++) {
    const c = contact.charCodeAt(i);
    if (inQuotes) {
      if (c === 92) i++;
      else if (c === 34) inQuotes = false;
    } else if (c === 34) {
      inQuotes = true;
    } else if (c === 60) {
      const close = contact.indexOf('>', i);
      return close < 0 ? contact.length : close + 1;
    }
  }
  const semi = contact.indexOf(';');
  return semi < 0 ? contact.length : semi;
}

function splitOutsideQuotes(text: string, separator: number): string[] {
  const parts: string[] = [];
  let inQuotes = false;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inQuotes) {
      if (c === 92) i++;
      else if (c === 34) inQuotes = false;
    } else if (c === 34) {
      inQuotes = true;
    } else if (c === separator) {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts;
}

function isExpiresParam(param: string): boolean {
  const eq = param.indexOf('=');
  return (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase() === 'expires';
}
