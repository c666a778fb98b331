// Shared shapes of the transport layer's parts; the public facade re-exports what callers need.
import type { Endpoint, TransportName } from '../sip/message.js';

export interface Listener {
  transport: TransportName;
  address: string;
  port: number;
}

export type TransportLog = (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;

export type MessageHandler = (data: Buffer, source: Endpoint) => void;

/** `dest` is the failed connection's remote end, with its connectionId. */
export type SendFailureHandler = (dest: Endpoint, err: Error) => void;

/** One transport protocol (UDP, TCP or TLS) on all bind addresses. */
export interface Transport {
  listeners(): Listener[];
  send(data: Buffer, dest: Endpoint): void;
  localEndpointFor(dest: Endpoint): { address: string; port: number };
  close(): Promise<void>;
}
