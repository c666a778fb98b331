import dgram from 'node:dgram';
import net from 'node:net';

const HOST = '127.0.0.1';
const MAX_ATTEMPTS = 50;

/** A socket held open so that the port it occupies cannot be handed out twice. */
interface Reservation {
  port: number;
  release(): Promise<void>;
}

function listenTcp(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: HOST, exclusive: true }, () => resolve(server));
  });
}

function bindUdp(port: number): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind({ port, address: HOST, exclusive: true }, () => resolve(socket));
  });
}

function closeTcp(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function closeUdp(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** Reserves `port` on both TCP and UDP, or returns undefined if either is taken. */
async function reserve(port: number): Promise<Reservation | undefined> {
  const tcp = await listenTcp(port);
  if (!tcp) return undefined;
  const actual = (tcp.address() as net.AddressInfo).port;
  const udp = await bindUdp(actual);
  if (!udp) {
    await closeTcp(tcp);
    return undefined;
  }
  return { port: actual, release: async () => { await Promise.all([closeTcp(tcp), closeUdp(udp)]); } };
}

async function releaseAll(reservations: Reservation[]): Promise<void> {
  await Promise.all(reservations.map((r) => r.release()));
}

/** `n` distinct ports, each free for both UDP and TCP on 127.0.0.1 (SIP listens on both). */
export async function freePorts(n: number): Promise<number[]> {
  const held: Reservation[] = [];
  try {
    for (let attempt = 0; held.length < n && attempt < MAX_ATTEMPTS * n; attempt++) {
      const reservation = await reserve(0);
      if (reservation) held.push(reservation);
    }
    if (held.length < n) throw new Error(`could not find ${n} free UDP+TCP ports on ${HOST}`);
    return held.map((r) => r.port);
  } finally {
    await releaseAll(held);
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/**
 * The first of `n` consecutive ports free for UDP and TCP: some programs bind neighbours of the
 * port they are given (baresip puts SIP over TLS on its SIP port + 1).
 */
export async function freeConsecutivePorts(n: number): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const first = await reserve(0);
    if (!first) continue;
    const held: Reservation[] = [first];
    try {
      for (let offset = 1; offset < n && first.port + offset <= 65535; offset++) {
        const next = await reserve(first.port + offset);
        if (!next) break;
        held.push(next);
      }
      if (held.length === n) return first.port;
    } finally {
      await releaseAll(held);
    }
  }
  throw new Error(`could not find ${n} consecutive free UDP+TCP ports on ${HOST}`);
}
