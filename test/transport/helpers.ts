// Shared test plumbing: layers on free loopback ports, and bounded waits for messages.
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Endpoint } from '../../src/sip/message.js';
import { TransportLayer, type TransportOptions } from '../../src/transport/transport-layer.js';

export interface Received {
  data: Buffer;
  source: Endpoint;
}

/** Collects what a layer delivers and lets a test wait for the n-th item with a deadline. */
export class Inbox {
  readonly items: Received[] = [];
  private waiters: Array<() => void> = [];

  readonly onMessage = (data: Buffer, source: Endpoint): void => {
    this.items.push({ data: Buffer.from(data), source });
    for (const wake of this.waiters.splice(0)) wake();
  };

  async waitFor(count: number, timeoutMs = 2000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages within ${timeoutMs} ms, got ${this.items.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.items;
  }
}

/** A port that was free a moment ago on address (TCP probe). */
export function probeFreePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: address, port: 0 }, () => {
      const bound = server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Port 0 disables a transport, so tests pick free ports and retry the rare collision. */
export async function startOnFreePorts(
  opts: Omit<TransportOptions, 'sipPort' | 'tlsPort'> & { tcp?: boolean; tlsEnabled?: boolean },
): Promise<TransportLayer> {
  const { tcp = true, tlsEnabled = false, ...rest } = opts;
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    const sipPort = tcp ? await probeFreePort(opts.bind[0]) : 0;
    const tlsPort = tlsEnabled ? await probeFreePort(opts.bind[0]) : 0;
    try {
      return await TransportLayer.start({ ...rest, sipPort, tlsPort });
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error) || !err.message.includes('address already in use')) throw err;
    }
  }
  throw lastError;
}

export function portOf(layer: TransportLayer, transport: 'UDP' | 'TCP' | 'TLS', address: string): number {
  const listener = layer.listeners().find((l) => l.transport === transport && l.address === address);
  if (listener === undefined) throw new Error(`no ${transport} listener on ${address}`);
  return listener.port;
}

/** IPv6 tests must fail, not skip, on a machine without ::1. */
export function requireIpv6Loopback(): void {
  const present = Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === '::1'));
  if (!present) throw new Error('IPv6 loopback ::1 is not configured on this machine (see `ip -6 addr`); IPv6 tests cannot run');
}

export function sipRequest(method: string, body = '', extraHeaders: string[] = []): Buffer {
  const lines = [
    `${method} sip:bob@example.com SIP/2.0`,
    'Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-test',
    'Call-ID: test-call',
    'CSeq: 1 ' + method,
    ...extraHeaders,
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
