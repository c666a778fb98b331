// SIP over TCP or TLS: servers on every bind address plus a table of open connections, inbound
// and outbound, so responses and later requests reuse the connection a peer already has.
import { connect as connectTcp, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { connect as connectTls, createServer as createTlsServer } from 'node:tls';
import type { Endpoint } from '../sip/message.js';
import type { ConnectionLimiter } from './connection-limits.js';
import { type BoundAddress, destinationFamily, describeError, formatHostPort, ipFamily, isWildcard, listenError } from './address.js';
import { advertisedAddress, chooseBound } from './local-address.js';
import { type ConnectionSettings, StreamConnection } from './stream-connection.js';
import type { FramingLimits } from './stream-framer.js';
import type { Listener, MessageHandler, SendFailureHandler, Transport, TransportLog } from './types.js';

export interface StreamTransportOptions {
  transport: 'TCP' | 'TLS';
  tls?: { key: string | Buffer; cert: string | Buffer };
  limits: FramingLimits;
  idleTimeoutMs: number;
  /** shared across TCP and TLS so an id names one connection */
  nextConnectionId: () => number;
  /** shared across TCP and TLS so the caps count both */
  limiter: ConnectionLimiter;
  onMessage: MessageHandler;
  /** an outbound connection failed before it was established, or a connection with unsent data failed */
  onSendFailure: SendFailureHandler;
  log: TransportLog;
}

interface BoundServer extends BoundAddress {
  server: Server;
}

const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export class StreamTransport implements Transport {
  private readonly options: StreamTransportOptions;
  private readonly settings: ConnectionSettings;
  private readonly servers: BoundServer[] = [];
  private readonly connections = new Map<number, StreamConnection>();
  /** most recent open connection per remote "address port" */
  private readonly byRemote = new Map<string, StreamConnection>();

  private constructor(options: StreamTransportOptions) {
    this.options = options;
    this.settings = {
      limits: options.limits,
      idleTimeoutMs: options.idleTimeoutMs,
      onMessage: options.onMessage,
      onClosed: (connection) => this.forget(connection),
      onSendFailure: options.onSendFailure,
      log: options.log,
    };
  }

  static async open(bind: string[], port: number, options: StreamTransportOptions): Promise<StreamTransport> {
    const transport = new StreamTransport(options);
    try {
      for (const address of bind) transport.servers.push(await transport.listen(address, port));
    } catch (err) {
      await transport.close();
      throw err;
    }
    return transport;
  }

  listeners(): Listener[] {
    return this.servers.map((s) => ({ transport: this.options.transport, address: s.address, port: s.port }));
  }

  /**
   * Writes on the connection dest names, or the open one to dest's address and port, or a new one.
   * A response whose request connection has closed carries `fallbackPort` (RFC 3261 §18.2.2): it
   * goes to the request's source address and that port (the Via sent-by port), not to the peer's
   * ephemeral source port, where nobody listens.
   */
  send(data: Buffer, dest: Endpoint): void {
    let connection = this.reusableConnection(dest);
    if (connection === undefined && dest.fallbackPort !== undefined) {
      const fallback: Endpoint = { transport: dest.transport, address: dest.address, port: dest.fallbackPort };
      connection = this.reusableConnection(fallback) ?? this.connect(fallback);
    }
    (connection ?? this.connect(dest)).write(data);
  }

  localEndpointFor(dest: Endpoint): { address: string; port: number } {
    const bound = this.serverFor(dest);
    const connection = this.reusableConnection(dest);
    return { address: advertisedAddress(bound, dest.address, connection?.localAddress), port: bound.port };
  }

  async close(): Promise<void> {
    for (const connection of this.connections.values()) connection.close('transport closing', 'debug', true);
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.server.close(() => resolve()))));
  }

  private reusableConnection(dest: Endpoint): StreamConnection | undefined {
    if (dest.connectionId !== undefined) {
      const byId = this.connections.get(dest.connectionId);
      if (byId !== undefined && byId.isOpen) return byId;
      // The peer's source port of a closed connection is ephemeral; the fallback port is where it listens.
      if (dest.fallbackPort !== undefined) return undefined;
    }
    const byAddress = this.byRemote.get(remoteKey(dest.address, dest.port));
    return byAddress !== undefined && byAddress.isOpen ? byAddress : undefined;
  }

  private serverFor(dest: Endpoint): BoundServer {
    const family = destinationFamily(dest);
    const bound = chooseBound(this.servers, dest.address, family);
    if (bound === undefined) {
      throw new Error(`no ${this.options.transport} listener for IPv${family} destination ${dest.address}`);
    }
    return bound;
  }

  private connect(dest: Endpoint): StreamConnection {
    const bound = this.serverFor(dest);
    const target = {
      host: dest.address,
      port: dest.port,
      localAddress: isWildcard(bound.address) ? undefined : bound.address,
    };
    const tls = this.options.transport === 'TLS';
    // Phones and small providers present self-signed certificates, so the peer is not verified yet.
    const socket: Socket = tls ? connectTls({ ...target, rejectUnauthorized: false }) : connectTcp(target);
    const connection = this.register(socket, dest.address, dest.port, false);
    socket.once(tls ? 'secureConnect' : 'connect', () => connection.markEstablished());
    this.options.log('debug', `connecting ${this.options.transport} to ${formatHostPort(dest.address, dest.port)}`, {
      connectionId: connection.id,
    });
    return connection;
  }

  /**
   * Every inbound socket, before any TLS handshake: counted against the connection caps until it
   * closes, or destroyed at once when a cap is reached. Returns whether it was admitted.
   */
  private admit(raw: Socket): boolean {
    const address = raw.remoteAddress;
    if (address === undefined) {
      raw.destroy();
      return false;
    }
    if (!this.options.limiter.admit(address, this.options.transport)) {
      raw.destroy();
      return false;
    }
    raw.once('close', () => this.options.limiter.release(address));
    return true;
  }

  private accept(socket: Socket): void {
    const { remoteAddress, remotePort } = socket;
    if (remoteAddress === undefined || remotePort === undefined) {
      socket.destroy();
      return;
    }
    this.register(socket, remoteAddress, remotePort, true);
  }

  private register(socket: Socket, address: string, port: number, established: boolean): StreamConnection {
    const id = this.options.nextConnectionId();
    const remote: Endpoint = { transport: this.options.transport, address, port };
    const connection = new StreamConnection(id, socket, remote, established, this.settings);
    this.connections.set(id, connection);
    this.byRemote.set(remoteKey(address, port), connection);
    return connection;
  }

  private forget(connection: StreamConnection): void {
    this.connections.delete(connection.id);
    const key = remoteKey(connection.remote.address, connection.remote.port);
    if (this.byRemote.get(key) === connection) this.byRemote.delete(key);
  }

  private listen(address: string, port: number): Promise<BoundServer> {
    const name = this.options.transport;
    const family = ipFamily(address);
    if (family === undefined) return Promise.reject(listenError(name, address, port, 'not an IP address'));
    let server: Server;
    try {
      server = this.createServer();
    } catch (err) {
      return Promise.reject(listenError(name, address, port, `invalid key or certificate (${describeError(err)})`));
    }
    return new Promise((resolve, reject) => {
      const onListenError = (err: Error): void => {
        server.close();
        reject(listenError(name, address, port, err));
      };
      server.once('error', onListenError);
      // '::' must not also take IPv4, which belongs to the '0.0.0.0' server.
      server.listen({ host: address, port, ipv6Only: address === '::', exclusive: true }, () => {
        server.off('error', onListenError);
        server.on('error', (err) => {
          this.options.log('warn', `${name} server ${formatHostPort(address, port)} error: ${describeError(err)}`);
        });
        const bound = server.address();
        resolve({ address, family, port: typeof bound === 'object' && bound !== null ? bound.port : port, server });
      });
    });
  }

  private createServer(): Server {
    if (this.options.transport === 'TCP') {
      return createTcpServer((socket) => {
        if (this.admit(socket)) this.accept(socket);
      });
    }
    const credentials = this.options.tls;
    if (credentials === undefined) throw new Error('TLS needs a key and a certificate');
    const server = createTlsServer(
      { key: credentials.key, cert: credentials.cert, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS },
      (socket) => this.accept(socket),
    );
    // 'connection' carries the raw TCP socket, so a refused peer costs no handshake.
    server.on('connection', (raw: Socket) => void this.admit(raw));
    server.on('tlsClientError', (err, socket) => {
      this.options.log('debug', `TLS handshake with ${socket.remoteAddress ?? 'unknown'} failed: ${describeError(err)}`);
    });
    return server;
  }
}

function remoteKey(address: string, port: number): string {
  return `${address} ${port}`;
}
