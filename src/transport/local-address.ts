// Via sent-by and Contact are written synchronously while a message is built, so the kernel's
// source-address choice for a wildcard listener is approximated from the interface table:
// an address on the destination's subnet, else the first global address of the family.
import { BlockList } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type BoundAddress, type IpFamily, isWildcard } from './address.js';

interface LocalSubnet {
  address: string;
  family: IpFamily;
  internal: boolean;
  linkLocal: boolean;
  subnet: BlockList;
}

const INTERFACE_REFRESH_MS = 30_000;
let subnets: LocalSubnet[] = [];
let subnetsReadAt = -Infinity;

function localSubnets(): LocalSubnet[] {
  const now = performance.now();
  if (now - subnetsReadAt < INTERFACE_REFRESH_MS) return subnets;
  const fresh: LocalSubnet[] = [];
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      const family: IpFamily = a.family === 'IPv6' ? 6 : 4;
      const prefix = Number(a.cidr?.split('/')[1] ?? (family === 4 ? 32 : 128));
      const subnet = new BlockList();
      subnet.addSubnet(a.address, prefix, family === 4 ? 'ipv4' : 'ipv6');
      fresh.push({ address: a.address, family, internal: a.internal, linkLocal: a.address.startsWith('fe80:'), subnet });
    }
  }
  subnets = fresh;
  subnetsReadAt = now;
  return subnets;
}

/** The local address the machine most likely uses to reach dest. */
export function routeSourceAddress(dest: string, family: IpFamily): string {
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const all = localSubnets();
  let fallback: string | undefined;
  for (const s of all) {
    if (s.family !== family) continue;
    if (s.subnet.check(dest, type)) return s.address;
    if (fallback === undefined && !s.internal && !s.linkLocal) fallback = s.address;
  }
  return fallback ?? (family === 4 ? '127.0.0.1' : '::1');
}

/** The bound socket/server of dest's family to send from; with several, the one on dest's route. */
export function chooseBound<T extends BoundAddress>(bound: readonly T[], dest: string, family: IpFamily): T | undefined {
  let first: T | undefined;
  let candidates = 0;
  for (const b of bound) {
    if (b.family !== family) continue;
    first ??= b;
    candidates++;
  }
  if (candidates <= 1 || first === undefined) return first;
  const preferred = routeSourceAddress(dest, family);
  return bound.find((b) => b.family === family && b.address === preferred) ?? first;
}

/** The sent-by for a message leaving through `bound`: its own address, or for a wildcard the route's. */
export function advertisedAddress(bound: BoundAddress, dest: string, connectionLocal?: string): string {
  if (!isWildcard(bound.address)) return bound.address;
  return connectionLocal ?? routeSourceAddress(dest, bound.family);
}
