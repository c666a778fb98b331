// A NAT built from Linux network namespaces, for tests where a phone behind NAT advertises its
// private address. Everything lives inside namespaces this module creates: the root namespace
// gains no interface, address, route or firewall rule.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnManaged, type ManagedProcess, type SpawnOptions } from './child-process.js';

const execFileAsync = promisify(execFile);

/**
 * server: the PBX host. router: the NAT between the public link and the private LAN.
 * phone: behind the NAT. public: a phone on the public link, not behind NAT.
 */
export type NatRole = 'server' | 'router' | 'phone' | 'public';

const ROLES: readonly NatRole[] = ['server', 'router', 'phone', 'public'];

export interface NatTopology {
  readonly serverAddress: string;
  /** The router's address on the public link: what the server sees as the phone's source. */
  readonly natPublicAddress: string;
  readonly phonePrivateAddress: string;
  readonly publicPhoneAddress: string;
  /** The namespace's name, for `ip netns exec` and bridgeTcpToUnix. */
  namespace(role: NatRole): string;
  /** argv that runs whatever follows it inside the role's namespace. */
  commandPrefix(role: NatRole): readonly string[];
  exec(role: NatRole, command: string, args?: readonly string[], options?: SpawnOptions): ManagedProcess;
  /** Kills what still runs inside the namespaces, then deletes them (and their links with them). */
  destroy(): Promise<void>;
}

export interface TcpBridge {
  /** Connect here (net.connect(socketPath)) to reach the TCP port inside the namespace. */
  readonly socketPath: string;
  close(): Promise<void>;
}

const NAME_PREFIX = 'sbt';
const NAME_PID = /^sbt(\d+)-/;
const PUBLIC_PREFIX_LENGTH = 24;
const PRIVATE_PREFIX_LENGTH = 24;
const PRIVATE_NETWORK = '192.168.200.0/24';
const ADDRESSES = {
  server: '10.200.1.1',
  natPublic: '10.200.1.2',
  publicPhone: '10.200.1.3',
  natPrivate: '192.168.200.1',
  phonePrivate: '192.168.200.10',
} as const;
/** Inside each namespace, so fixed names cannot clash with the host's or another run's. */
const HOST_LINK = 'eth0';
const PUBLIC_BRIDGE = 'br0';
const LAN_LINK = 'lan0';
const BRIDGE_READY_TIMEOUT_MS = 10_000;
const POLL_MS = 20;

/**
 * Runs inside the namespace: the Unix socket lives in the file system, which every network
 * namespace shares, so it carries the test process's connections to 127.0.0.1:port in there.
 * It listens only once the port accepts connections, so a ready bridge means a ready service.
 * Inline rather than a file because node --test runs every .js file under dist/test/.
 */
const FORWARDER_SCRIPT = `
const net = require('node:net');
const [socketPath, portText, host] = process.argv.slice(1);
const port = Number(portText);
const forward = (client) => {
  const upstream = net.connect(port, host);
  const end = () => { client.destroy(); upstream.destroy(); };
  for (const socket of [client, upstream]) { socket.once('error', end); socket.once('close', end); }
  client.pipe(upstream).pipe(client);
};
const probe = () => {
  const socket = net.connect(port, host);
  socket.once('connect', () => {
    socket.destroy();
    net.createServer(forward).listen(socketPath, () => console.log('ready'));
  });
  socket.once('error', () => { socket.destroy(); setTimeout(probe, 50); });
};
probe();
`;

let nextTopology = 0;
/** Namespaces not yet deleted, so a test process that exits early still removes them. */
const liveNamespaces = new Set<string>();

process.once('exit', () => {
  for (const name of liveNamespaces) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // Already gone; nothing else can be done while exiting.
    }
  }
});

async function run(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args);
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr || String(error)}`);
  }
}

function ip(...args: string[]): Promise<string> {
  return run('ip', args);
}

function inNamespace(name: string): string[] {
  return ['ip', 'netns', 'exec', name];
}

function runInNamespace(name: string, command: string, ...args: string[]): Promise<string> {
  return run('ip', ['netns', 'exec', name, command, ...args]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function namespaceNames(): Promise<string[]> {
  const listing = await ip('netns', 'list');
  return listing.split('\n').map((line) => line.split(' ')[0]!).filter((name) => name !== '');
}

/** Processes left inside would keep the namespace and its links alive after `ip netns del`. */
async function removeNamespace(name: string): Promise<void> {
  liveNamespaces.delete(name);
  const pids = (await ip('netns', 'pids', name)).split(/\s+/).filter((pid) => pid !== '');
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // It exited on its own meanwhile.
    }
  }
  await ip('netns', 'del', name);
}

/** Leftovers of crashed runs: ours by prefix (a reused pid), others' when their process is gone. */
async function removeLeftovers(ownPrefix: string): Promise<void> {
  const stale = (await namespaceNames()).filter((name) => {
    if (name.startsWith(ownPrefix)) return true;
    const pid = NAME_PID.exec(name)?.[1];
    return pid !== undefined && Number(pid) !== process.pid && !isAlive(Number(pid));
  });
  await Promise.all(stale.map(removeNamespace));
}

async function addHost(namespace: string, address: string, prefixLength: number): Promise<void> {
  await ip('-n', namespace, 'addr', 'add', `${address}/${prefixLength}`, 'dev', HOST_LINK);
  await ip('-n', namespace, 'link', 'set', HOST_LINK, 'up');
}

/** A veth pair whose ends are created directly inside the two namespaces, never in the root one. */
async function link(namespace: string, routerPort: string, router: string): Promise<void> {
  await ip('link', 'add', 'name', HOST_LINK, 'netns', namespace, 'type', 'veth', 'peer', 'name', routerPort, 'netns', router);
}

/** The public link is a bridge inside the router, with the router's public address on it. */
async function wire(names: Record<NatRole, string>): Promise<void> {
  const router = names.router;
  await ip('-n', router, 'link', 'add', PUBLIC_BRIDGE, 'type', 'bridge');
  await ip('-n', router, 'addr', 'add', `${ADDRESSES.natPublic}/${PUBLIC_PREFIX_LENGTH}`, 'dev', PUBLIC_BRIDGE);
  await ip('-n', router, 'link', 'set', PUBLIC_BRIDGE, 'up');
  const publicHosts = [
    { role: 'server', port: 'srv0', address: ADDRESSES.server },
    { role: 'public', port: 'pub0', address: ADDRESSES.publicPhone },
  ] as const;
  for (const host of publicHosts) {
    await link(names[host.role], host.port, router);
    await ip('-n', router, 'link', 'set', host.port, 'master', PUBLIC_BRIDGE, 'up');
    await addHost(names[host.role], host.address, PUBLIC_PREFIX_LENGTH);
  }

  await link(names.phone, LAN_LINK, router);
  await ip('-n', router, 'addr', 'add', `${ADDRESSES.natPrivate}/${PRIVATE_PREFIX_LENGTH}`, 'dev', LAN_LINK);
  await ip('-n', router, 'link', 'set', LAN_LINK, 'up');
  await addHost(names.phone, ADDRESSES.phonePrivate, PRIVATE_PREFIX_LENGTH);
  await ip('-n', names.phone, 'route', 'add', 'default', 'via', ADDRESSES.natPrivate);

  await runInNamespace(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  // Only the LAN is masqueraded: traffic bridged between public hosts keeps its source address.
  await runInNamespace(
    router,
    'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', PRIVATE_NETWORK, '-o', PUBLIC_BRIDGE, '-j', 'MASQUERADE',
  );
}

/**
 * Why this machine cannot build the topology, or undefined when it can. Tests that need it
 * assert this is undefined, so a machine without it fails with the reason instead of skipping.
 */
export async function netnsAvailable(): Promise<string | undefined> {
  const uid = process.getuid?.();
  if (uid !== 0) return `network namespaces need root; running as uid ${uid ?? 'unknown'}`;
  for (const [command, flag] of [['ip', '-V'], ['iptables', '--version']] as const) {
    try {
      await run(command, [flag]);
    } catch (error) {
      return `${command} is not usable (scripts/install-test-deps.sh installs it): ${String(error)}`;
    }
  }
  const probe = `${NAME_PREFIX}${process.pid}-probe`;
  try {
    await ip('netns', 'add', probe);
    liveNamespaces.add(probe);
    await runInNamespace(probe, 'iptables', '-t', 'nat', '-L', '-n');
    return undefined;
  } catch (error) {
    return `cannot create a network namespace with a NAT table: ${String(error)}`;
  } finally {
    if (liveNamespaces.has(probe)) await removeNamespace(probe);
  }
}

/** server 10.200.1.1 and public phone 10.200.1.3 on the public link; phone 192.168.200.10 behind the NAT 10.200.1.2. */
export async function createNatTopology(): Promise<NatTopology> {
  const prefix = `${NAME_PREFIX}${process.pid}-${nextTopology++}-`;
  await removeLeftovers(prefix);
  const names = Object.fromEntries(ROLES.map((role) => [role, `${prefix}${role}`])) as Record<NatRole, string>;
  const created: string[] = [];
  try {
    for (const role of ROLES) {
      await ip('netns', 'add', names[role]);
      created.push(names[role]);
      liveNamespaces.add(names[role]);
      await ip('-n', names[role], 'link', 'set', 'lo', 'up');
    }
    await wire(names);
  } catch (error) {
    await Promise.all(created.map(removeNamespace));
    throw error;
  }

  return {
    serverAddress: ADDRESSES.server,
    natPublicAddress: ADDRESSES.natPublic,
    phonePrivateAddress: ADDRESSES.phonePrivate,
    publicPhoneAddress: ADDRESSES.publicPhone,
    namespace: (role) => names[role],
    commandPrefix: (role) => inNamespace(names[role]),
    exec: (role, command, args = [], options) => {
      const [program, ...rest] = [...inNamespace(names[role]), command, ...args];
      return spawnManaged(program!, rest, options);
    },
    async destroy() {
      const remaining = ROLES.map((role) => names[role]).filter((name) => liveNamespaces.has(name));
      await Promise.all(remaining.map(removeNamespace));
    },
  };
}

async function waitUntilReady(forwarder: ManagedProcess, namespace: string, host: string, tcpPort: number): Promise<void> {
  const deadline = Date.now() + BRIDGE_READY_TIMEOUT_MS;
  while (!forwarder.stdout().includes('ready')) {
    if (forwarder.hasExited()) throw new Error(`bridge into ${namespace} exited:\n${forwarder.output()}`);
    if (Date.now() >= deadline) {
      throw new Error(`nothing accepted connections on ${host}:${tcpPort} in ${namespace} within ${BRIDGE_READY_TIMEOUT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * A Unix socket that reaches host:tcpPort (default 127.0.0.1) inside `namespace`, which the test process
 * in the root namespace cannot reach over TCP. Resolves once that port accepts connections.
 */
export async function bridgeTcpToUnix(namespace: string, tcpPort: number, host = '127.0.0.1'): Promise<TcpBridge> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sb-bridge-'));
  const socketPath = path.join(dir, 'socket');
  const [program, ...args] = [...inNamespace(namespace), process.execPath, '-e', FORWARDER_SCRIPT, socketPath, String(tcpPort), host];
  const forwarder = spawnManaged(program!, args);
  const close = async () => {
    await forwarder.stop('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(forwarder, namespace, host, tcpPort);
  } catch (error) {
    await close();
    throw error;
  }
  return { socketPath, close };
}
