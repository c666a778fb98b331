/**
 * A copy of a string taken from a parsed message. V8 keeps substrings as views of the whole message
 * text, so a value kept for minutes or hours (a binding, a nonce) would keep the message alive with it.
 */
export function detachFromMessage(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}
