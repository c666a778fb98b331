// SIP over IPv6: the server listens on ::1 beside 127.0.0.1 and answers over UDP and TCP, sending
// UDP responses back to the IPv6 source (RFC 3581 rport) and TCP responses on the same connection.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startSwitchboard, type Switchboard } from '../support/server.js';

function options(transport: 'UDP' | 'TCP', port: number, callId: string): string {
  return [
    'OPTIONS sip:[::1] SIP/2.0',
    `Via: SIP/2.0/${transport} [::1]:${port};branch=z9hG4bK-${callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@[::1]>;tag=${callId}`,
    'To: <sip:[::1]>',
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('SIP over IPv6', { timeout: 30_000 }, () => {
  let server: Switchboard;

  before(async () => {
    server = await startSwitchboard({ args: ['--bind', '127.0.0.1,::1'] });
  });

  after(async () => {
    await server?.stop();
  });

  it('answers OPTIONS over UDP to [::1]', async () => {
    const socket = createSocket('udp6');
    try {
      await new Promise<void>((resolve) => socket.bind(0, '::1', resolve));
      const reply = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no UDP response over IPv6 within 2 s')), 2000);
        socket.once('message', (data) => {
          clearTimeout(timer);
          resolve(data.toString());
        });
      });
      socket.send(options('UDP', socket.address().port, 'v6-udp'), server.sipPort, '::1');
      const text = await reply;
      assert.match(text, /^SIP\/2\.0 200 /);
      assert.match(text, /Call-ID: v6-udp/);
      assert.match(text, /received=::1/);
    } finally {
      socket.close();
    }
  });

  it('answers OPTIONS over TCP to [::1] on the same connection', async () => {
    const socket = connect({ host: '::1', port: server.sipPort });
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const reply = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no TCP response over IPv6 within 2 s')), 2000);
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString();
          if (text.includes('\r\n\r\n')) {
            clearTimeout(timer);
            resolve(text);
          }
        });
      });
      socket.write(options('TCP', socket.localPort ?? 0, 'v6-tcp'));
      const text = await reply;
      assert.match(text, /^SIP\/2\.0 200 /);
      assert.match(text, /Call-ID: v6-tcp/);
    } finally {
      socket.destroy();
    }
  });
});
