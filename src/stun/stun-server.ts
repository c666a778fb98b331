// A STUN Binding server (RFC 8489 §6.3): one UDP socket per bind address tells each client the
// address and port its request came from, so phones behind NAT learn their public transport address.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { type BoundAddress, describeError, formatHostPort, ipFamily, listenError } from '../transport/address.js';
import type { TransportLog } from '../transport/types.js';
import { bindingSuccess, decodeStun, METHOD_BINDING, unknownAttributeError, unknownRequiredAttributes } from './stun-message.js';

export interface StunServerOptions {
  bind: string[];
  /** 0 takes any free port (each socket its own) */
  port: number;
  /** SOFTWARE attribute of every response; none when empty */
  software?: string;
  onLog?: TransportLog;
}

interface BoundSocket extends BoundAddress {
  socket: Socket;
}

export class StunServer {
  private constructor(private readonly sockets: BoundSocket[]) {}

  static async start(options: StunServerOptions): Promise<StunServer> {
    const log: TransportLog = options.onLog ?? (() => undefined);
    const sockets: BoundSocket[] = [];
    try {
      for (const address of options.bind) sockets.push(await bindSocket(address, options.port, options.software, log));
    } catch (err) {
      for (const s of sockets) s.socket.close();
      throw err;
    }
    return new StunServer(sockets);
  }

  listeners(): { address: string; port: number }[] {
    return this.sockets.map((s) => ({ address: s.address, port: s.port }));
  }

  async close(): Promise<void> {
    await Promise.all(this.sockets.map((s) => new Promise<void>((resolve) => s.socket.close(() => resolve()))));
  }
}

function bindSocket(address: string, port: number, software: string | undefined, log: TransportLog): Promise<BoundSocket> {
  const family = ipFamily(address);
  if (family === undefined) return Promise.reject(listenError('STUN', address, port, 'not an IP address'));
  // '::' must not also take IPv4, which belongs to the '0.0.0.0' socket.
  const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: address === '::' });
  return new Promise((resolve, reject) => {
    const onBindError = (err: Error): void => {
      socket.close();
      reject(listenError('STUN', address, port, err));
    };
    socket.once('error', onBindError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onBindError);
      const bound = socket.address().port;
      socket.on('error', (err) => log('warn', `STUN socket ${formatHostPort(address, bound)} error: ${describeError(err)}`));
      socket.on('message', (data: Buffer, from: RemoteInfo) => answer(socket, data, from, software, log));
      resolve({ address, family, port: bound, socket });
    });
  });
}

/** Answers Binding requests only: indications (keep-alives), responses and other methods get nothing. */
function answer(socket: Socket, data: Buffer, from: RemoteInfo, software: string | undefined, log: TransportLog): void {
  const request = decodeStun(data);
  if (request === undefined || request.cls !== 'request' || request.method !== METHOD_BINDING) return;
  // A forged source port 0 cannot be answered (send would throw).
  if (from.port === 0) return;
  const unknown = unknownRequiredAttributes(request);
  const response = unknown.length > 0 ? unknownAttributeError(request, unknown, software) : bindingSuccess(request, from, software);
  if (response === undefined) return;
  socket.send(response, from.port, from.address, (err) => {
    if (err) log('debug', `STUN response to ${formatHostPort(from.address, from.port)} failed: ${describeError(err)}`);
  });
}
