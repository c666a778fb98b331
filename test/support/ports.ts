import dgram from 'node:dgram';
import net from 'node:net';

const HOST = '127.0.0.1';
/** ports tried before giving up: taken ones cost a failed bind each, which is cheap */
const MAX_ATTEMPTS = 500;

// Ports are handed out from 10000-19999: below the kernel's ephemeral range (32768 up), from which it
// picks a port for every socket bound to port 0 (RTP peers, client connections), and below the server's
// default RTP range (20000 up). A port the kernel picked for our probe could be handed to another
// socket before the program we start binds it (seen: SIPp failing to bind its RTP port); one from this
// range is only taken by whom we give it.
const RANGE_START = 10_000;
const RANGE_SIZE = 10_000;
// each test process starts at its own place in the range, so parallel test files seldom probe alike
let cursor = (process.pid * 7919) % RANGE_SIZE;

/** One search at a time in this process: two walking the range side by side would break each other's blocks. */
let searching: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(search: () => Promise<T>): Promise<T> {
  const result = searching.then(search, search);
  searching = result.catch(() => undefined);
  return result;
}

function nextCandidate(): number {
  cursor = (cursor + 1) % RANGE_SIZE;
  return RANGE_START + cursor;
}

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
export function freePorts(n: number): Promise<number[]> {
  return oneAtATime(() => searchFreePorts(n));
}

async function searchFreePorts(n: number): Promise<number[]> {
  const held: Reservation[] = [];
  try {
    for (let attempt = 0; held.length < n && attempt < MAX_ATTEMPTS * n; attempt++) {
      const reservation = await reserve(nextCandidate());
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
export function freeConsecutivePorts(n: number): Promise<number> {
  return oneAtATime(() => searchConsecutivePorts(n));
}

async function searchConsecutivePorts(n: number): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const first = await reserve(nextCandidate());
    if (!first) continue;
    const held: Reservation[] = [first];
    try {
      for (let offset = 1; offset < n && first.port + offset < RANGE_START + RANGE_SIZE; offset++) {
        const next = await reserve(first.port + offset);
        if (!next) break;
        held.push(next);
      }
      // the next search starts after this block, or after the port that cut it short: starting one port
      // further would meet the same taken port again, and a few held by a parallel test file would use
      // up every attempt (seen in CI: no 1,004 consecutive ports)
      cursor = (first.port - RANGE_START + held.length) % RANGE_SIZE;
      if (held.length === n) return first.port;
    } finally {
      await releaseAll(held);
    }
  }
  throw new Error(`could not find ${n} consecutive free UDP+TCP ports on ${HOST}`);
}
