// STUN messages (RFC 8489, formerly RFC 5389): the 20-byte header, TLV attributes, the address
// attributes and FINGERPRINT. Only what a Binding server needs; decoding never throws.
import { ipFamily } from '../transport/address.js';

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_BYTES = 20;
export const TRANSACTION_ID_BYTES = 12;

export const METHOD_BINDING = 0x001;

export const ATTR_MAPPED_ADDRESS = 0x0001;
export const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const ATTR_ERROR_CODE = 0x0009;
export const ATTR_UNKNOWN_ATTRIBUTES = 0x000a;
export const ATTR_SOFTWARE = 0x8022;
export const ATTR_FINGERPRINT = 0x8028;

const FINGERPRINT_XOR = 0x5354554e;
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;
/** RFC 8489 §14.14: SOFTWARE holds fewer than 128 characters. */
const MAX_SOFTWARE_CHARS = 127;

export type StunClass = 'request' | 'indication' | 'success' | 'error';

export interface StunAttribute {
  type: number;
  value: Buffer;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  transactionId: Buffer;
  attributes: StunAttribute[];
}

export interface TransportAddress {
  address: string;
  port: number;
}

const CLASSES: StunClass[] = ['request', 'indication', 'success', 'error'];

/** The class bits C1 C0 sit at bits 8 and 4 of the type, between the method bits (RFC 8489 §5). */
function splitType(type: number): { method: number; cls: StunClass } {
  const cls = CLASSES[((type >> 7) & 0x2) | ((type >> 4) & 0x1)]!;
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  return { method, cls };
}

function joinType(method: number, cls: StunClass): number {
  const c = CLASSES.indexOf(cls);
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((c & 0x1) << 4) | ((c & 0x2) << 7);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as zlib); written out because zlib.crc32 needs Node 20.15 and engines says 20. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function fingerprintOf(upTo: Buffer): number {
  return (crc32(upTo) ^ FINGERPRINT_XOR) >>> 0;
}

/**
 * A STUN message, or undefined for anything else: too short, top bits set, wrong magic cookie
 * (RFC 3489 clients are not answered), length not the datagram's or not a multiple of 4, an
 * attribute overrunning the message, FINGERPRINT not last or not matching.
 */
export function decodeStun(data: Buffer): StunMessage | undefined {
  if (data.length < HEADER_BYTES) return undefined;
  const type = data.readUInt16BE(0);
  const length = data.readUInt16BE(2);
  if ((type & 0xc000) !== 0 || length % 4 !== 0 || length !== data.length - HEADER_BYTES) return undefined;
  if (data.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;

  const attributes: StunAttribute[] = [];
  let offset = HEADER_BYTES;
  while (offset < data.length) {
    if (offset + 4 > data.length) return undefined;
    const attrType = data.readUInt16BE(offset);
    const attrLength = data.readUInt16BE(offset + 2);
    const valueStart = offset + 4;
    if (valueStart + attrLength > data.length) return undefined;
    if (attrType === ATTR_FINGERPRINT) {
      const last = valueStart + attrLength === data.length;
      if (attrLength !== 4 || !last || data.readUInt32BE(valueStart) !== fingerprintOf(data.subarray(0, offset))) return undefined;
    }
    attributes.push({ type: attrType, value: data.subarray(valueStart, valueStart + attrLength) });
    offset = valueStart + ((attrLength + 3) & ~3);
  }
  const { method, cls } = splitType(type);
  return { method, cls, transactionId: data.subarray(8, HEADER_BYTES), attributes };
}

/** Encodes a message; with `fingerprint` a FINGERPRINT attribute is appended and computed. */
export function encodeStun(message: StunMessage, options: { fingerprint: boolean }): Buffer {
  const bodyLength = message.attributes.reduce((sum, a) => sum + 4 + ((a.value.length + 3) & ~3), 0);
  const total = HEADER_BYTES + bodyLength + (options.fingerprint ? 8 : 0);
  const out = Buffer.alloc(total);
  out.writeUInt16BE(joinType(message.method, message.cls), 0);
  out.writeUInt16BE(total - HEADER_BYTES, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  message.transactionId.copy(out, 8, 0, TRANSACTION_ID_BYTES);
  let offset = HEADER_BYTES;
  for (const a of message.attributes) {
    out.writeUInt16BE(a.type, offset);
    out.writeUInt16BE(a.value.length, offset + 2);
    a.value.copy(out, offset + 4);
    offset += 4 + ((a.value.length + 3) & ~3);
  }
  if (options.fingerprint) {
    out.writeUInt16BE(ATTR_FINGERPRINT, offset);
    out.writeUInt16BE(4, offset + 2);
    out.writeUInt32BE(fingerprintOf(out.subarray(0, offset)), offset + 4);
  }
  return out;
}

/** The 4 or 16 address bytes of an IP literal (an IPv6 zone such as %eth0 is dropped), or undefined. */
export function addressBytes(address: string): Buffer | undefined {
  const plain = address.replace(/%.*$/, '');
  const family = ipFamily(plain);
  if (family === 4) return Buffer.from(plain.split('.').map(Number));
  if (family !== 6) return undefined;
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes its two 16-bit groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(plain);
  const text = v4
    ? plain.slice(0, v4.index) + `${((+v4[1]! << 8) | +v4[2]!).toString(16)}:${((+v4[3]! << 8) | +v4[4]!).toString(16)}`
    : plain;
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  if (left.length + right.length > 8) return undefined;
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** RFC 5952 text: lower-case hex, the longest run of two or more zero groups as '::'. */
export function formatAddress(bytes: Buffer): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** XOR-MAPPED-ADDRESS hides the address from NATs that rewrite addresses they find in payloads. */
function xorMask(length: number, transactionId: Buffer): Buffer {
  const mask = Buffer.alloc(length);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  if (length === 16) transactionId.copy(mask, 4, 0, TRANSACTION_ID_BYTES);
  return mask;
}

/** MAPPED-ADDRESS, or XOR-MAPPED-ADDRESS when `transactionId` is given; undefined if not an IP literal. */
export function encodeAddress(endpoint: TransportAddress, transactionId?: Buffer): Buffer | undefined {
  const bytes = addressBytes(endpoint.address);
  if (bytes === undefined) return undefined;
  const value = Buffer.alloc(4 + bytes.length);
  value[1] = bytes.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  const mask = transactionId ? xorMask(bytes.length, transactionId) : undefined;
  value.writeUInt16BE(mask ? endpoint.port ^ (MAGIC_COOKIE >>> 16) : endpoint.port, 2);
  for (let i = 0; i < bytes.length; i++) value[4 + i] = bytes[i]! ^ (mask ? mask[i]! : 0);
  return value;
}

/** Reads a (XOR-)MAPPED-ADDRESS value; pass the transaction id for the XOR form. */
export function decodeAddress(value: Buffer, transactionId?: Buffer): TransportAddress | undefined {
  if (value.length < 4) return undefined;
  const length = value[1] === FAMILY_IPV4 ? 4 : value[1] === FAMILY_IPV6 ? 16 : 0;
  if (length === 0 || value.length !== 4 + length) return undefined;
  const mask = transactionId ? xorMask(length, transactionId) : undefined;
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = value[4 + i]! ^ (mask ? mask[i]! : 0);
  const port = value.readUInt16BE(2) ^ (mask ? MAGIC_COOKIE >>> 16 : 0);
  return { address: formatAddress(bytes), port };
}

function softwareValue(software: string): Buffer {
  return Buffer.from([...software].slice(0, MAX_SOFTWARE_CHARS).join(''), 'utf8');
}

/**
 * The Binding success response to `request` from `source`: XOR-MAPPED-ADDRESS, MAPPED-ADDRESS
 * for RFC 3489-era clients, SOFTWARE when given, and FINGERPRINT. Undefined if the source is not
 * an IP literal.
 */
export function bindingSuccess(request: StunMessage, source: TransportAddress, software: string | undefined): Buffer | undefined {
  const xorMapped = encodeAddress(source, request.transactionId);
  const mapped = encodeAddress(source);
  if (xorMapped === undefined || mapped === undefined) return undefined;
  const attributes: StunAttribute[] = [
    { type: ATTR_XOR_MAPPED_ADDRESS, value: xorMapped },
    { type: ATTR_MAPPED_ADDRESS, value: mapped },
  ];
  if (software) attributes.push({ type: ATTR_SOFTWARE, value: softwareValue(software) });
  return encodeStun({ method: METHOD_BINDING, cls: 'success', transactionId: request.transactionId, attributes }, { fingerprint: true });
}

/**
 * Comprehension-required attributes (0x0000-0x7FFF) that RFC 8489 defines. A Binding server without
 * credentials has nothing to do with USERNAME or MESSAGE-INTEGRITY, but it knows them; anything else in
 * that range — CHANGE-REQUEST (RFC 5780), ICE's PRIORITY — it cannot honour and must say so (§6.3.1).
 */
const UNDERSTOOD = new Set([0x0001, 0x0006, 0x0008, 0x0009, 0x000a, 0x0014, 0x0015, 0x001c, 0x001d, 0x001e, 0x0020]);

/** The comprehension-required attributes of `request` this server does not understand, in order, once each. */
export function unknownRequiredAttributes(request: StunMessage): number[] {
  const unknown: number[] = [];
  for (const a of request.attributes) {
    if (a.type < 0x8000 && !UNDERSTOOD.has(a.type) && !unknown.includes(a.type)) unknown.push(a.type);
  }
  return unknown;
}

/** The 420 (Unknown Attribute) error response listing `unknown` in UNKNOWN-ATTRIBUTES (RFC 8489 §14.8, §14.9). */
export function unknownAttributeError(request: StunMessage, unknown: readonly number[], software: string | undefined): Buffer {
  const reason = Buffer.from('Unknown Attribute', 'utf8');
  const errorCode = Buffer.alloc(4 + reason.length);
  errorCode[2] = 4;
  errorCode[3] = 20;
  reason.copy(errorCode, 4);
  const list = Buffer.alloc(unknown.length * 2);
  unknown.forEach((type, i) => list.writeUInt16BE(type, i * 2));
  const attributes: StunAttribute[] = [
    { type: ATTR_ERROR_CODE, value: errorCode },
    { type: ATTR_UNKNOWN_ATTRIBUTES, value: list },
  ];
  if (software) attributes.push({ type: ATTR_SOFTWARE, value: softwareValue(software) });
  return encodeStun({ method: request.method, cls: 'error', transactionId: request.transactionId, attributes }, { fingerprint: true });
}
