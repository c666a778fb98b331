// The STUN server on loopback: Binding requests over IPv4 and IPv6 answered with the client's own
// address, everything else ignored; `switchboard stun` alone; and coturn's client as a real peer.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  ATTR_FINGERPRINT,
  ATTR_MAPPED_ADDRESS,
  ATTR_SOFTWARE,
  decodeAddress,
  decodeStun,
  encodeStun,
  METHOD_BINDING,
} from '../../src/stun/stun-message.js';
import { VERSION } from '../../src/server/version.js';
import { StunServer } from '../../src/stun/stun-server.js';
import { spawnManaged } from '../support/child-process.js';
import { freePort } from '../support/ports.js';
import { repoRoot } from '../support/repo-root.js';
import { stunBinding } from '../support/stun.js';

const run = promisify(execFile);
const SILENCE_MS = 400;
const STARTUP_MS = 10_000;

/** True when nothing arrives on a fresh socket within SILENCE_MS after sending `data`. */
async function unanswered(data: Buffer, port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const answered = new Promise<boolean>((resolve) => socket.once('message', () => resolve(true)));
    socket.send(data, port, '127.0.0.1');
    return !(await Promise.race([answered, new Promise<boolean>((r) => setTimeout(() => r(false), SILENCE_MS))]));
  } finally {
    socket.close();
  }
}

function request(cls: 'request' | 'indication', fingerprint: boolean): Buffer {
  return encodeStun({ method: METHOD_BINDING, cls, transactionId: randomBytes(12), attributes: [] }, { fingerprint });
}

describe('StunServer', () => {
  let server: StunServer;
  before(async () => {
    server = await StunServer.start({ bind: ['127.0.0.1', '::1'], port: 0, software: 'Switchboard test' });
  });
  after(() => server.close());

  const portOf = (address: string) => server.listeners().find((l) => l.address === address)!.port;

  for (const host of ['127.0.0.1', '::1']) {
    it(`answers a Binding request on ${host} with the client's own address and port`, async () => {
      const { local, mapped, response } = await stunBinding(host, portOf(host));
      assert.deepEqual(mapped, local);
      assert.deepEqual(decodeAddress(response.attributes.find((a) => a.type === ATTR_MAPPED_ADDRESS)!.value), local);
      assert.equal(response.attributes.find((a) => a.type === ATTR_SOFTWARE)?.value.toString('utf8'), 'Switchboard test');
      assert.equal(response.attributes.at(-1)?.type, ATTR_FINGERPRINT);
    });
  }

  it('answers a request without FINGERPRINT, but not one with a wrong FINGERPRINT, an indication or garbage', async () => {
    const port = portOf('127.0.0.1');
    assert.equal(await unanswered(request('request', false), port), false, 'a plain request is answered');
    const corrupt = request('request', true);
    corrupt[corrupt.length - 1]! ^= 0xff;
    assert.equal(await unanswered(corrupt, port), true, 'wrong FINGERPRINT: dropped');
    assert.equal(await unanswered(request('indication', true), port), true, 'Binding indication (keep-alive): no answer');
    assert.equal(await unanswered(Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n'), port), true, 'not STUN: no answer');
    // Still serving after all that.
    assert.equal(await unanswered(request('request', true), port), false);
  });

  it('answers a request with an unknown comprehension-required attribute (CHANGE-REQUEST) with 420, and keeps serving', async () => {
    const port = portOf('127.0.0.1');
    const transactionId = randomBytes(12);
    const changeRequest = encodeStun(
      { method: METHOD_BINDING, cls: 'request', transactionId, attributes: [{ type: 0x0003, value: Buffer.from([0, 0, 0, 6]) }] },
      { fingerprint: true },
    );
    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve));
      socket.send(changeRequest, port, '127.0.0.1');
      const message = decodeStun(await reply);
      assert.ok(message);
      assert.equal(message.cls, 'error');
      assert.deepEqual(message.transactionId, transactionId);
      const code = message.attributes.find((a) => a.type === 0x0009)!.value;
      assert.equal(code[2]! * 100 + code[3]!, 420);
      assert.deepEqual(message.attributes.find((a) => a.type === 0x000a)!.value, Buffer.from([0x00, 0x03]));
    } finally {
      socket.close();
    }
    assert.equal(await unanswered(request('request', true), port), false, 'still answering Binding requests');
  });

  it('refuses to start on a port in use with one line naming it', async () => {
    const port = portOf('127.0.0.1');
    await assert.rejects(StunServer.start({ bind: ['127.0.0.1'], port }), {
      message: `cannot listen on STUN 127.0.0.1:${port}: address already in use`,
    });
  });
});

describe('switchboard stun', () => {
  it('runs the STUN server alone, prints one banner line and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const proc = spawnManaged(process.execPath, [path.join(repoRoot, 'bin', 'switchboard.js'), 'stun', '--bind', '127.0.0.1', '--port', String(port)], {
      cwd: repoRoot,
    });
    try {
      const deadline = Date.now() + STARTUP_MS;
      while (!proc.stdout().includes('\n') && !proc.hasExited() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(proc.stdout().trim(), `Switchboard ${VERSION} STUN server on UDP 127.0.0.1:${port}`);
      const { local, mapped } = await stunBinding('127.0.0.1', port);
      assert.deepEqual(mapped, local);
    } finally {
      assert.equal(await proc.stop('SIGTERM'), 0, proc.output());
    }
  });
});

// coturn is installed by scripts/install-test-deps.sh: a missing client fails the test, it is not skipped.
describe('coturn turnutils_stunclient against the server', () => {
  it('reports the reflexive (mapped) address 127.0.0.1', async () => {
    const server = await StunServer.start({ bind: ['127.0.0.1'], port: 0 });
    try {
      const { stdout } = await run('turnutils_stunclient', ['-p', String(server.listeners()[0]!.port), '127.0.0.1'], { timeout: 10_000 });
      assert.match(stdout, /UDP reflexive addr: 127\.0\.0\.1:\d+/, stdout);
    } finally {
      await server.close();
    }
  });
});
