// Proves the network-namespace NAT harness: UDP through the NAT, TCP bridged over a Unix socket
// into a namespace, baresip controlled inside one, and teardown that leaves nothing behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startBaresip } from '../support/baresip.js';
import { type ManagedProcess } from '../support/child-process.js';
import { bridgeTcpToUnix, createNatTopology, netnsAvailable, type NatRole, type NatTopology } from '../support/netns.js';
import { freePort } from '../support/ports.js';

const READY_TIMEOUT_MS = 10_000;
const UDP_PORT = 5060;

/** Replies to each datagram with the source address and port it arrived from. */
const UDP_ECHO = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (_data, from) => socket.send(JSON.stringify({ address: from.address, port: from.port }), from.port, from.address));
socket.bind(Number(process.argv[2]), process.argv[1], () => console.log('ready'));
`;

/** Sends one datagram and prints the reply; exits non-zero without one. */
const UDP_CLIENT = `
const socket = require('node:dgram').createSocket('udp4');
const timer = setTimeout(() => { console.error('no reply'); process.exit(1); }, 5000);
socket.on('message', (reply) => { console.log(reply.toString()); clearTimeout(timer); socket.close(); });
socket.send('hello', Number(process.argv[2]), process.argv[1], (error) => {
  if (error) { console.error(error.code); process.exit(2); }
});
`;

/** Echoes each chunk back, prefixed with the IPv4 addresses of the namespace it runs in. */
const TCP_ECHO = `
const os = require('node:os');
const addresses = Object.values(os.networkInterfaces()).flat().filter((a) => a.family === 'IPv4').map((a) => a.address);
require('node:net').createServer((socket) => {
  socket.on('data', (data) => socket.write(JSON.stringify({ addresses, echo: data.toString() })));
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('ready'));
`;

async function waitForReady(child: ManagedProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!child.stdout().includes('ready')) {
    assert.ok(!child.hasExited(), `exited before ready:\n${child.output()}`);
    assert.ok(Date.now() < deadline, `not ready within ${READY_TIMEOUT_MS} ms:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function namespaceList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name !== '');
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

function exchange(socketPath: string, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => socket.write(message));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString());
    });
    socket.once('error', reject);
  });
}

describe('network namespace NAT harness', { timeout: 60_000 }, () => {
  let topology: NatTopology;
  const children: ManagedProcess[] = [];

  function start(role: NatRole, script: string, args: string[]): ManagedProcess {
    const child = topology.exec(role, process.execPath, ['-e', script, ...args]);
    children.push(child);
    return child;
  }

  /** What the echo server in the server namespace saw as the datagram's source, from `role`. */
  async function sourceSeenFrom(role: NatRole): Promise<{ address: string; port: number }> {
    const client = start(role, UDP_CLIENT, [topology.serverAddress, String(UDP_PORT)]);
    const code = await client.exited;
    assert.equal(code, 0, client.output());
    return JSON.parse(client.stdout()) as { address: string; port: number };
  }

  before(async () => {
    const reason = await netnsAvailable();
    assert.equal(reason, undefined, reason);
    topology = await createNatTopology();
    const echo = start('server', UDP_ECHO, [topology.serverAddress, String(UDP_PORT)]);
    await waitForReady(echo);
  });

  after(async () => {
    await Promise.all(children.map((child) => child.stop('SIGKILL')));
    await topology?.destroy();
  });

  it('the server sees the NAT public address for the phone behind it, and the reply gets back', async () => {
    const seen = await sourceSeenFrom('phone');
    assert.equal(seen.address, topology.natPublicAddress);
    assert.notEqual(seen.address, topology.phonePrivateAddress);
  });

  it('the server sees a public phone under its own address', async () => {
    const seen = await sourceSeenFrom('public');
    assert.equal(seen.address, topology.publicPhoneAddress);
  });

  it('the server has no route to the private address', async () => {
    const client = start('server', UDP_CLIENT, [topology.phonePrivateAddress, String(UDP_PORT)]);
    assert.equal(await client.exited, 2, client.output());
    assert.match(client.stderr(), /ENETUNREACH/);
  });

  it('a TCP service inside a namespace is reached through the Unix socket bridge, not over TCP', async () => {
    const port = await freePort();
    const echo = start('phone', TCP_ECHO, [String(port)]);
    await waitForReady(echo);
    const bridge = await bridgeTcpToUnix(topology.namespace('phone'), port);
    try {
      const reply = JSON.parse(await exchange(bridge.socketPath, 'ping')) as { addresses: string[]; echo: string };
      assert.equal(reply.echo, 'ping');
      assert.ok(reply.addresses.includes(topology.phonePrivateAddress), reply.addresses.join(' '));
      assert.equal(await connectRefused(port), true, 'the root namespace must not reach the port directly');
    } finally {
      await bridge.close();
    }
  });

  it('baresip runs inside the phone namespace and answers on ctrl_tcp through the bridge', async () => {
    const phoneNamespace = topology.namespace('phone');
    const phone = await startBaresip({
      user: '3001',
      password: 'Pw-3001-Zx9',
      serverPort: UDP_PORT,
      namespace: {
        commandPrefix: topology.commandPrefix('phone'),
        openControlSocket: (port) => bridgeTcpToUnix(phoneNamespace, port),
      },
    });
    try {
      const programsInPhone = execFileSync('ip', ['netns', 'pids', phoneNamespace], { encoding: 'utf8' })
        .split(/\s+/)
        .filter((pid) => pid !== '')
        .map((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
      assert.ok(programsInPhone.includes('baresip'), programsInPhone.join(' '));
      const info = await phone.command('reginfo');
      assert.equal(info.ok, true, info.data);
      assert.match(info.data, /3001@/);
    } finally {
      await phone.stop();
    }
  });

  it('destroy removes every namespace of the topology and what still runs inside', async () => {
    const extra = await createNatTopology();
    const names = (['server', 'router', 'phone', 'public'] as const).map((role) => extra.namespace(role));
    assert.deepEqual(names.filter((name) => namespaceList().includes(name)), names);
    const lingering = extra.exec('phone', process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await extra.destroy();
    const prefix = names[0]!.slice(0, names[0]!.lastIndexOf('-') + 1);
    assert.deepEqual(namespaceList().filter((name) => name.startsWith(prefix)), []);
    assert.equal(await lingering.exited, 137);
  });

  it('leftovers of a crashed run are removed when a topology is created', async () => {
    const gone = topology.exec('server', process.execPath, ['-e', '']);
    await gone.exited;
    const leftover = `sbt${gone.pid}-0-router`;
    execFileSync('ip', ['netns', 'add', leftover]);
    try {
      const fresh = await createNatTopology();
      await fresh.destroy();
      assert.equal(namespaceList().includes(leftover), false);
    } finally {
      if (namespaceList().includes(leftover)) execFileSync('ip', ['netns', 'del', leftover]);
    }
  });
});
