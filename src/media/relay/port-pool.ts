import dgram from 'node:dgram';

import type { SocketFamily } from './relay-leg.js';

/** An RTP socket on an even port and its RTCP socket on the next one (RFC 3550 §11). */
export interface PortPair {
  rtpPort: number;
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
}

export class PortRangeError extends Error {}

/** "20000-29999" as numbers; PortRangeError names what is wrong. */
export function parsePortRange(text: string): { first: number; last: number } {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  if (!m) throw new PortRangeError(`RTP port range "${text}": expected first-last, like 20000-29999`);
  const first = Number(m[1]);
  const last = Number(m[2]);
  checkRange(first, last);
  return { first, last };
}

function checkRange(first: number, last: number): void {
  if (!Number.isInteger(first) || !Number.isInteger(last) || first < 1024 || last > 65535 || last - first < 3) {
    throw new PortRangeError(`RTP port range ${first}-${last}: needs at least 4 ports between 1024 and 65535`);
  }
}

/**
 * Even ports of the configured range, handed out least recently used first so that stray packets of an
 * ended call do not reach the next call on the same port. Binding is the caller's: each engine binds its
 * own kind of socket.
 */
export class PortNumbers {
  private readonly free: number[] = [];
  private head = 0;
  private readonly inUse = new Set<number>();

  constructor(readonly first: number, readonly last: number) {
    checkRange(first, last);
    for (let p = first + (first % 2); p + 1 <= last; p += 2) this.free.push(p);
  }

  /** the first even port of the range */
  get firstEven(): number {
    return this.first + (this.first % 2);
  }

  get capacity(): number {
    return this.free.length - this.head + this.inUse.size;
  }

  get used(): number {
    return this.inUse.size;
  }

  /** The least recently used port that `bind` takes (returns a value for), or undefined when none does. */
  async allocate<T>(bind: (port: number) => T | undefined | Promise<T | undefined>): Promise<{ port: number; bound: T } | undefined> {
    const tries = this.free.length - this.head;
    for (let i = 0; i < tries; i++) {
      const port = this.take();
      if (port === undefined) return undefined;
      const bound = await bind(port);
      if (bound !== undefined) {
        this.inUse.add(port);
        return { port, bound };
      }
      // another program holds it: try it again only after the rest of the range
      this.free.push(port);
    }
    return undefined;
  }

  /** Gives a port back; false when it was not handed out. */
  release(port: number): boolean {
    if (!this.inUse.delete(port)) return false;
    this.free.push(port);
    return true;
  }

  private take(): number | undefined {
    if (this.head >= this.free.length) return undefined;
    const port = this.free[this.head++];
    // compact now and then so the array does not grow with every call
    if (this.head > 1024 && this.head * 2 > this.free.length) {
      this.free.splice(0, this.head);
      this.head = 0;
    }
    return port;
  }
}

/** Port pairs bound as Node UDP sockets on the wildcard address. */
export class PortPool {
  private readonly numbers: PortNumbers;

  constructor(first: number, last: number) {
    this.numbers = new PortNumbers(first, last);
  }

  get capacity(): number {
    return this.numbers.capacity;
  }

  get used(): number {
    return this.numbers.used;
  }

  /** Binds a pair on the wildcard address of `family`; undefined when every port is taken. */
  async allocate(family: SocketFamily): Promise<PortPair | undefined> {
    return (await this.numbers.allocate((port) => bindPair(port, family)))?.bound;
  }

  release(pair: PortPair): void {
    if (!this.numbers.release(pair.rtpPort)) return;
    pair.rtp.close();
    pair.rtcp.close();
  }
}

async function bindPair(port: number, family: SocketFamily): Promise<PortPair | undefined> {
  const rtp = await bindOne(port, family);
  if (!rtp) return undefined;
  const rtcp = await bindOne(port + 1, family);
  if (!rtcp) {
    rtp.close();
    return undefined;
  }
  return { rtpPort: port, rtp, rtcp };
}

function bindOne(port: number, family: SocketFamily): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
    const onError = () => {
      socket.close();
      resolve(undefined);
    };
    socket.once('error', onError);
    socket.bind(port, family === 6 ? '::' : '0.0.0.0', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
