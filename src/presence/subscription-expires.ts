// How long a subscription lasts (RFC 6665 §4.2.1.1): what the subscriber asks for in Expires,
// refused below the minimum (423 with Min-Expires), cut down to the maximum, 0 to end it.

export interface ExpiresPolicy {
  minSeconds: number;
  maxSeconds: number;
  /** when the SUBSCRIBE has no Expires */
  defaultSeconds: number;
}

export type ExpiresGrant =
  | { ok: true; seconds: number }
  | { ok: false; status: 400; reason: string }
  | { ok: false; status: 423; minSeconds: number };

export function grantExpires(header: string | undefined, policy: ExpiresPolicy): ExpiresGrant {
  if (header === undefined) return { ok: true, seconds: policy.defaultSeconds };
  const text = header.trim();
  // Number() would also accept '', '0x10' and '1e2'
  if (!/^[0-9]{1,10}$/.test(text)) return { ok: false, status: 400, reason: 'Bad Request - Malformed Expires header' };
  const asked = Number(text);
  if (asked === 0) return { ok: true, seconds: 0 };
  if (asked < policy.minSeconds) return { ok: false, status: 423, minSeconds: policy.minSeconds };
  return { ok: true, seconds: Math.min(asked, policy.maxSeconds) };
}
