/**
 * A copy of a string taken from a parsed message. V8 keeps substrings as views of the whole message
 * text, so a value kept for minutes or hours (a binding, a nonce) would keep the message alive with it.
 */
export function detachFromMessage(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/**
 * A concatenation of message substrings (a map key) made into one string of its own. V8 keeps
 * concatenations as trees of views until a character is read, then flattens them into a copy.
 */
export function flattenKey(key: string): string {
  key.charCodeAt(0);
  return key;
}
