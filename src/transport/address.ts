// IP literal helpers shared by the UDP and stream transports.
import { isIP } from 'node:net';
import type { Endpoint } from '../sip/message.js';

export type IpFamily = 4 | 6;

/** A socket or server bound to one address, with its family resolved once. */
export interface BoundAddress {
  address: string;
  family: IpFamily;
  port: number;
}

export function ipFamily(address: string): IpFamily | undefined {
  const family = isIP(address);
  return family === 4 || family === 6 ? family : undefined;
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

export function formatHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The family of a destination, or a one-line Error saying why it cannot be sent to. */
export function destinationFamily(dest: Endpoint): IpFamily {
  const family = ipFamily(dest.address);
  if (family === undefined) throw new Error(`destination must be an IP address, got "${dest.address}"`);
  if (!Number.isInteger(dest.port) || dest.port < 1 || dest.port > 65535) {
    throw new Error(`destination port must be 1..65535, got ${dest.port}`);
  }
  return family;
}

const ERROR_TEXT: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed by peer',
};

/** A one-line reason for an error: socket error codes in words, otherwise the first line of the message. */
export function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && ERROR_TEXT[code] !== undefined) return ERROR_TEXT[code];
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n', 1)[0];
}

export function listenError(transport: string, address: string, port: number, err: unknown): Error {
  return new Error(`cannot listen on ${transport} ${formatHostPort(address, port)}: ${describeError(err)}`);
}
