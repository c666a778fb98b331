// DTMF carried in SIP INFO bodies: application/dtmf-relay ("Signal=5\r\nDuration=160") as most
// phones send it, and the bare application/dtmf form.
import { digitToEvent, eventToDigit } from './rfc4733.js';

export const DTMF_RELAY_CONTENT_TYPE = 'application/dtmf-relay';
export const DTMF_CONTENT_TYPE = 'application/dtmf';

export interface DtmfInfo {
  digit: string;
  /** milliseconds, when the body gave a valid one */
  durationMs: number | undefined;
}

/** The key in an INFO body, or undefined when the body is not DTMF or names no DTMF key. */
export function parseDtmfInfo(contentType: string | undefined, body: string): DtmfInfo | undefined {
  if (contentType === undefined) return undefined;
  const mediaType = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === DTMF_CONTENT_TYPE) {
    const digit = parseSignal(body);
    return digit === undefined ? undefined : { digit, durationMs: undefined };
  }
  if (mediaType !== DTMF_RELAY_CONTENT_TYPE) return undefined;

  let signal: string | undefined;
  let duration: string | undefined;
  for (const line of body.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1);
    if (key === 'signal') signal ??= value;
    else if (key === 'duration') duration ??= value;
  }
  const digit = signal === undefined ? undefined : parseSignal(signal);
  if (digit === undefined) return undefined;
  return { digit, durationMs: duration === undefined ? undefined : parseDuration(duration) };
}

/** The application/dtmf-relay body announcing `digit` for `durationMs`. */
export function buildDtmfRelayBody(digit: string, durationMs: number): string {
  const event = digitToEvent(digit);
  if (event === undefined) throw new RangeError(`not a DTMF key: ${JSON.stringify(digit)}`);
  if (!(durationMs >= 0) || !Number.isFinite(durationMs)) throw new RangeError(`bad DTMF duration ${durationMs} ms`);
  return `Signal=${eventToDigit(event)}\r\nDuration=${Math.round(durationMs)}\r\n`;
}

/** A key written as itself or as its RFC 4733 event number (10 is *, 11 is #). */
function parseSignal(text: string): string | undefined {
  const value = text.trim();
  if (/^\d{2}$/.test(value)) return eventToDigit(Number(value));
  const event = digitToEvent(value);
  return event === undefined ? undefined : eventToDigit(event);
}

function parseDuration(text: string): number | undefined {
  const value = text.trim();
  return /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}
