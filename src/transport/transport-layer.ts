// The bottom of the SIP stack: turns sockets into framed messages with their source Endpoint and
// sends bytes to an Endpoint over the right socket or connection. Knows nothing of SIP syntax
// beyond stream framing.
import type { Endpoint, TransportName } from '../sip/message.js';
import { describeError, ipFamily } from './address.js';
import { ConnectionLimiter } from './connection-limits.js';
import { StreamTransport } from './stream-transport.js';
import type { Listener, MessageHandler, SendFailureHandler, Transport, TransportLog } from './types.js';
import { UdpTransport } from './udp-transport.js';

export type { Listener, TransportLog } from './types.js';

export interface TransportOptions {
  /** IP addresses to listen on, e.g. ['0.0.0.0', '::'] (all interfaces) or ['127.0.0.1'] or ['::1'] */
  bind: string[];
  /** UDP and TCP; 0 disables both */
  sipPort: number;
  /** 0 disables TLS */
  tlsPort: number;
  /** PEM, required when tlsPort > 0 */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** default 16 KiB: stream connections exceeding it without a blank line are closed */
  maxHeaderBytes?: number;
  /** default 64 KiB */
  maxBodyBytes?: number;
  /** stream connections idle this long are closed (default 10 min) */
  idleTimeoutMs?: number;
  /** inbound TCP and TLS connections open at once, both together (default 10,000); more are closed at once */
  maxConnections?: number;
  /** inbound TCP and TLS connections open at once from one IP address (default 100); more are closed at once */
  maxConnectionsPerIp?: number;
  /** one framed SIP message (UDP: one datagram) */
  onMessage: (data: Buffer, source: Endpoint) => void;
  onLog?: TransportLog;
  /**
   * A TCP/TLS send failed after send() returned: an outbound connection failed before it was
   * established, or a connection closed with data still queued. `dest` is that connection's remote
   * end with its connectionId; messages sent to it may never have left.
   */
  onSendFailure?: (dest: Endpoint, err: Error) => void;
}

const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60 * 1000;
const DEFAULT_MAX_CONNECTIONS = 10_000;
const DEFAULT_MAX_CONNECTIONS_PER_IP = 100;

export class TransportLayer {
  private readonly udp: UdpTransport | undefined;
  private readonly tcp: StreamTransport | undefined;
  private readonly tls: StreamTransport | undefined;

  private constructor(udp: UdpTransport | undefined, tcp: StreamTransport | undefined, tls: StreamTransport | undefined) {
    this.udp = udp;
    this.tcp = tcp;
    this.tls = tls;
  }

  /** Rejects with a one-line Error, e.g. "cannot listen on UDP 127.0.0.1:5060: address already in use". */
  static async start(opts: TransportOptions): Promise<TransportLayer> {
    validate(opts);
    const log: TransportLog = opts.onLog ?? (() => undefined);
    const onMessage = guardHandler(opts.onMessage, log);
    let connectionIds = 0;
    const streamOptions = {
      limits: {
        maxHeaderBytes: opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
        maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      },
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      nextConnectionId: () => ++connectionIds,
      limiter: new ConnectionLimiter(
        {
          maxConnections: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
          maxConnectionsPerIp: opts.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP,
        },
        log,
      ),
      onMessage,
      onSendFailure: guardFailureHandler(opts.onSendFailure, log),
      log,
    };

    const opened: Transport[] = [];
    const track = <T extends Transport>(transport: T): T => {
      opened.push(transport);
      return transport;
    };
    try {
      const udp = opts.sipPort > 0 ? track(await UdpTransport.open(opts.bind, opts.sipPort, onMessage, log)) : undefined;
      const tcp =
        opts.sipPort > 0
          ? track(await StreamTransport.open(opts.bind, opts.sipPort, { ...streamOptions, transport: 'TCP' }))
          : undefined;
      const tls =
        opts.tlsPort > 0
          ? track(await StreamTransport.open(opts.bind, opts.tlsPort, { ...streamOptions, transport: 'TLS', tls: opts.tls }))
          : undefined;
      const layer = new TransportLayer(udp, tcp, tls);
      log('info', 'transport listening', { listeners: layer.listeners() });
      return layer;
    } catch (err) {
      await Promise.all(opened.map((t) => t.close()));
      throw err;
    }
  }

  /** Actual bound addresses and ports. */
  listeners(): Listener[] {
    return [this.udp, this.tcp, this.tls].flatMap((t) => t?.listeners() ?? []);
  }

  /** Throws an Error when the message cannot be handed to a socket at all; later failures are logged. */
  send(data: Buffer, dest: Endpoint): void {
    this.transport(dest.transport).send(data, dest);
  }

  /**
   * The address:port to put in Via sent-by / Contact for messages sent to dest: the listener's
   * address, or for a wildcard listener the local address of the connection or route to dest.
   */
  localEndpointFor(dest: Endpoint): { address: string; port: number } {
    return this.transport(dest.transport).localEndpointFor(dest);
  }

  isReliable(t: TransportName): boolean {
    return t !== 'UDP';
  }

  async close(): Promise<void> {
    await Promise.all([this.udp, this.tcp, this.tls].map((t) => t?.close()));
  }

  private transport(name: TransportName): Transport {
    const transport = name === 'UDP' ? this.udp : name === 'TCP' ? this.tcp : name === 'TLS' ? this.tls : undefined;
    if (transport === undefined) throw new Error(`transport ${String(name)} is not enabled`);
    return transport;
  }
}

function validate(opts: TransportOptions): void {
  if (opts.bind.length === 0) throw new Error('no address to listen on: bind is empty');
  for (const address of opts.bind) {
    if (ipFamily(address) === undefined) throw new Error(`cannot listen on "${address}": not an IP address`);
  }
  for (const [name, port] of [['sipPort', opts.sipPort], ['tlsPort', opts.tlsPort]] as const) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${name} must be 0..65535, got ${port}`);
  }
  for (const [name, limit] of [['maxConnections', opts.maxConnections], ['maxConnectionsPerIp', opts.maxConnectionsPerIp]] as const) {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new Error(`${name} must be a positive integer, got ${limit}`);
  }
  if (opts.tlsPort > 0 && opts.tls === undefined) throw new Error('TLS needs a key and a certificate (tls option)');
}

/** A throwing consumer must not break framing of the bytes that follow on the same connection. */
function guardHandler(onMessage: TransportOptions['onMessage'], log: TransportLog): MessageHandler {
  return (data, source) => {
    try {
      onMessage(data, source);
    } catch (err) {
      log('warn', `message handler failed: ${describeError(err)}`, { source });
    }
  };
}

function guardFailureHandler(onSendFailure: TransportOptions['onSendFailure'], log: TransportLog): SendFailureHandler {
  return (dest, err) => {
    if (onSendFailure === undefined) return;
    try {
      onSendFailure(dest, err);
    } catch (handlerErr) {
      log('warn', `send failure handler failed: ${describeError(handlerErr)}`, { dest });
    }
  };
}
