// SIP over UDP: one socket per bind address, each datagram one message. Requests and responses
// leave from the bound SIP port so peers (and NATs) see the same address they send to.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Endpoint } from '../sip/message.js';
import { type BoundAddress, destinationFamily, describeError, formatHostPort, ipFamily, listenError } from './address.js';
import { advertisedAddress, chooseBound } from './local-address.js';
import type { Listener, MessageHandler, Transport, TransportLog } from './types.js';

interface BoundSocket extends BoundAddress {
  socket: Socket;
}

const CR = 0x0d;
const LF = 0x0a;

export class UdpTransport implements Transport {
  private readonly sockets: BoundSocket[];
  private readonly log: TransportLog;

  private constructor(sockets: BoundSocket[], log: TransportLog) {
    this.sockets = sockets;
    this.log = log;
  }

  static async open(bind: string[], port: number, onMessage: MessageHandler, log: TransportLog): Promise<UdpTransport> {
    const sockets: BoundSocket[] = [];
    try {
      for (const address of bind) sockets.push(await bindSocket(address, port, onMessage, log));
    } catch (err) {
      for (const s of sockets) s.socket.close();
      throw err;
    }
    return new UdpTransport(sockets, log);
  }

  listeners(): Listener[] {
    return this.sockets.map((s) => ({ transport: 'UDP', address: s.address, port: s.port }));
  }

  send(data: Buffer, dest: Endpoint): void {
    const bound = this.boundFor(dest);
    bound.socket.send(data, dest.port, dest.address, (err) => {
      if (err) {
        this.log('warn', `UDP send to ${formatHostPort(dest.address, dest.port)} failed: ${describeError(err)}`);
      }
    });
  }

  localEndpointFor(dest: Endpoint): { address: string; port: number } {
    const bound = this.boundFor(dest);
    return { address: advertisedAddress(bound, dest.address), port: bound.port };
  }

  close(): Promise<void> {
    return Promise.all(this.sockets.map((s) => new Promise<void>((resolve) => s.socket.close(() => resolve())))).then(
      () => undefined,
    );
  }

  private boundFor(dest: Endpoint): BoundSocket {
    const family = destinationFamily(dest);
    const bound = chooseBound(this.sockets, dest.address, family);
    if (bound === undefined) throw new Error(`no UDP listener for IPv${family} destination ${dest.address}`);
    return bound;
  }
}

const UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

function bindSocket(address: string, port: number, onMessage: MessageHandler, log: TransportLog): Promise<BoundSocket> {
  const family = ipFamily(address);
  if (family === undefined) return Promise.reject(listenError('UDP', address, port, 'not an IP address'));
  // '::' must not also take IPv4, which belongs to the '0.0.0.0' socket.
  // A burst of a few thousand datagrams (phones re-registering after a power cut, a call storm)
  // must wait in the kernel while the event loop is busy, not be dropped: ask for a large receive
  // buffer; the kernel caps it at net.core.rmem_max.
  const socket = createSocket({
    type: family === 6 ? 'udp6' : 'udp4',
    ipv6Only: address === '::',
    recvBufferSize: UDP_RECEIVE_BUFFER_BYTES,
  });
  return new Promise((resolve, reject) => {
    const onBindError = (err: Error): void => {
      socket.close();
      reject(listenError('UDP', address, port, err));
    };
    socket.once('error', onBindError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onBindError);
      socket.on('error', (err) => log('warn', `UDP socket ${formatHostPort(address, port)} error: ${describeError(err)}`));
      socket.on('message', (data: Buffer, from: RemoteInfo) => {
        if (isKeepAlive(data)) return;
        onMessage(data, { transport: 'UDP', address: from.address, port: from.port });
      });
      resolve({ address, family, port: socket.address().port, socket });
    });
  });
}

/** Phones send bare CRLFs to keep NAT bindings open; they carry no message. */
function isKeepAlive(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== CR && data[i] !== LF) return false;
  }
  return true;
}
