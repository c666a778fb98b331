// The test port allocator: a block of consecutive ports is found past ports that other programs hold.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { freeConsecutivePorts } from '../support/ports.js';

test('finds 1,004 consecutive free ports while every 1,100th port of the range is held', async () => {
  const held: dgram.Socket[] = [];
  try {
    for (let port = 10_000; port < 20_000; port += 1_100) {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => {
        socket.once('error', () => resolve());
        socket.bind({ port, address: '127.0.0.1', exclusive: true }, () => resolve());
      });
      held.push(socket);
    }
    const first = await freeConsecutivePorts(1_004);
    const blockers = [...Array(10).keys()].map((i) => 10_000 + i * 1_100);
    assert.ok(blockers.every((b) => b < first || b >= first + 1_004), `block ${first}-${first + 1_003} holds no held port`);
  } finally {
    for (const socket of held) socket.close();
  }
});
