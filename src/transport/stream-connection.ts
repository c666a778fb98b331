// One TCP or TLS connection, inbound or outbound: frames what it reads, answers keep-alive pings,
// and closes itself on framing violations, idleness or a peer that stops reading.
import type { Socket } from 'node:net';
import type { Endpoint } from '../sip/message.js';
import { describeError, formatHostPort } from './address.js';
import { type FramerSink, type FramingLimits, StreamFramer } from './stream-framer.js';
import type { MessageHandler, SendFailureHandler, TransportLog } from './types.js';

export interface ConnectionSettings {
  limits: FramingLimits;
  idleTimeoutMs: number;
  onMessage: MessageHandler;
  onClosed: (connection: StreamConnection) => void;
  /** at most once per connection, when it closes: see `reportsFailure` */
  onSendFailure: SendFailureHandler;
  log: TransportLog;
}

/** A peer that lets this much pile up unread is stalled; dropping it bounds memory. */
const MAX_UNSENT_BYTES = 1024 * 1024;
const PONG = Buffer.from('\r\n', 'latin1');

export class StreamConnection implements FramerSink {
  readonly id: number;
  /** Shared by every message received here, so frozen: callers must not edit it. */
  readonly remote: Readonly<Endpoint>;
  private readonly socket: Socket;
  private readonly framer: StreamFramer;
  private readonly settings: ConnectionSettings;
  private established: boolean;
  /** writes not yet handed to the kernel */
  private unflushedWrites = 0;
  /** why the socket ended, for the failure report */
  private failure: Error | undefined;
  /** closed on purpose (transport shutdown): nothing to report */
  private quiet = false;

  /** `established` is false for an outbound socket still connecting (or handshaking). */
  constructor(id: number, socket: Socket, remote: Endpoint, established: boolean, settings: ConnectionSettings) {
    this.id = id;
    this.socket = socket;
    this.remote = Object.freeze({ ...remote, connectionId: id });
    this.established = established;
    this.settings = settings;
    this.framer = new StreamFramer(settings.limits, this);

    socket.setNoDelay(true);
    if (settings.idleTimeoutMs > 0) socket.setTimeout(settings.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.framer.push(chunk));
    socket.on('timeout', () => this.close('idle'));
    socket.on('error', (err) => this.onError(err));
    socket.on('close', () => this.onClose());
  }

  get isOpen(): boolean {
    return !this.socket.destroyed;
  }

  /** The local address of this connection's route; undefined while an outbound socket connects. */
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  markEstablished(): void {
    this.established = true;
  }

  /** Node buffers writes made while the socket is still connecting, which is the queue we need. */
  write(data: Buffer): void {
    if (this.socket.writableLength > MAX_UNSENT_BYTES) {
      this.close(`peer is not reading (${this.socket.writableLength} bytes unsent)`, 'warn');
      return;
    }
    this.unflushedWrites++;
    this.socket.write(data, (err) => {
      if (!err) this.unflushedWrites--;
    });
  }

  /** `quiet` (transport shutdown) suppresses the send-failure report. */
  close(reason: string, level: 'debug' | 'warn' = 'debug', quiet = false): void {
    if (this.socket.destroyed) return;
    this.settings.log(level, `closing ${this.describe()}: ${reason}`, { connectionId: this.id });
    this.failure ??= new Error(reason);
    this.quiet = quiet;
    this.socket.destroy();
  }

  onFrame(message: Buffer): void {
    if (!this.socket.destroyed) this.settings.onMessage(message, this.remote);
  }

  onPing(): void {
    if (!this.socket.destroyed) this.socket.write(PONG);
  }

  onViolation(reason: string): void {
    this.close(reason, 'warn');
  }

  /**
   * What was written here did not, or may not, reach the peer: an outbound connection that never got
   * established, or any connection closing with writes still queued.
   */
  private get reportsFailure(): boolean {
    return !this.quiet && (!this.established || this.unflushedWrites > 0);
  }

  /** Forgets the connection first, so a failure handler that sends again gets a new one. */
  private onClose(): void {
    this.settings.onClosed(this);
    if (!this.reportsFailure) return;
    const cause = this.failure ?? new Error('connection closed');
    const where = formatHostPort(this.remote.address, this.remote.port);
    const err = new Error(
      this.established
        ? `${this.describe()} closed with data unsent: ${describeError(cause)}`
        : `cannot connect to ${this.remote.transport} ${where}: ${describeError(cause)}`,
      { cause },
    );
    this.settings.onSendFailure({ ...this.remote }, err);
  }

  private onError(err: Error): void {
    this.failure ??= err;
    if (this.established) {
      this.settings.log('debug', `${this.describe()} error: ${describeError(err)}`, { connectionId: this.id });
    } else {
      this.settings.log(
        'warn',
        `cannot connect to ${this.remote.transport} ${formatHostPort(this.remote.address, this.remote.port)}: ${describeError(err)}`,
        { connectionId: this.id },
      );
    }
  }

  private describe(): string {
    return `${this.remote.transport} connection ${this.id} with ${formatHostPort(this.remote.address, this.remote.port)}`;
  }
}
