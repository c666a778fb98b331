// Two real softphones (baresip) register to Switchboard and call each other through it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBaresip, type Baresip } from '../support/baresip.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';

interface CallRecordItem {
  caller: string;
  callee: string;
  disposition: string;
  hangupBy: string | null;
  finalStatus: number;
}

describe('baresip phones through Switchboard', { timeout: 60_000 }, () => {
  let server: Switchboard;
  let dataDir: string;
  const phones: Baresip[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sb-baresip-'));
    // baresip 1.0 (Debian 12) gives up on a 401 that also offers SHA-256, so this test runs with the
    // documented setting for such phones: challenge with MD5 only.
    writeFileSync(join(dataDir, 'mss_var_param.ini'), '[sip]\ndigest_algorithms = MD5\n');
    server = await startSwitchboard({ dataDir });
    await server.createExtension('2001', 'Pw-2001-Zx9');
    await server.createExtension('2002', 'Pw-2002-Zx9');
    await server.createExtension('2003', 'Pw-2003-Zx9');
  });

  after(async () => {
    await Promise.all(phones.map((p) => p.stop()));
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`register and call each other over ${transport.toUpperCase()}`, async () => {
      const alice = await startBaresip({ user: '2001', password: 'Pw-2001-Zx9', serverPort: server.sipPort, transport });
      phones.push(alice);
      const bob = await startBaresip({ user: '2002', password: 'Pw-2002-Zx9', serverPort: server.sipPort, transport });
      phones.push(bob);
      await Promise.all([alice.waitRegistered(), bob.waitRegistered()]);

      await alice.dial(`sip:2002@127.0.0.1:${server.sipPort}${transport === 'tcp' ? ';transport=tcp' : ''}`);
      const incoming = await bob.waitEvent('CALL_INCOMING');
      assert.match(String(incoming.peeruri), /2001@/);
      await bob.accept();
      await Promise.all([alice.waitEvent('CALL_ESTABLISHED'), bob.waitEvent('CALL_ESTABLISHED')]);
      const active = await server.api<unknown[]>('GET', '/api/v1/calls');
      assert.equal(active.body.length, 1);

      await bob.hangup();
      await Promise.all([alice.waitEvent('CALL_CLOSED'), bob.waitEvent('CALL_CLOSED')]);
      const records = await server.api<{ items: CallRecordItem[] }>('GET', '/api/v1/call-records?caller=2001&callee=2002');
      const last = records.body.items[0];
      assert.equal(last.disposition, 'answered');
      assert.equal(last.hangupBy, 'callee');
      assert.equal(last.finalStatus, 200);
      await Promise.all([alice.stop(), bob.stop()]);
    });
  }

  it('a phone\'s transfer key (blind REFER) moves its caller to a third phone', async () => {
    const [alice, bob, carol] = await Promise.all([
      startBaresip({ user: '2001', password: 'Pw-2001-Zx9', serverPort: server.sipPort, transport: 'udp' }),
      startBaresip({ user: '2002', password: 'Pw-2002-Zx9', serverPort: server.sipPort, transport: 'udp' }),
      startBaresip({ user: '2003', password: 'Pw-2003-Zx9', serverPort: server.sipPort, transport: 'udp' }),
    ]);
    phones.push(alice, bob, carol);
    await Promise.all([alice.waitRegistered(), bob.waitRegistered(), carol.waitRegistered()]);

    await alice.dial(`sip:2002@127.0.0.1:${server.sipPort}`);
    await bob.waitEvent('CALL_INCOMING');
    await bob.accept();
    await Promise.all([alice.waitEvent('CALL_ESTABLISHED'), bob.waitEvent('CALL_ESTABLISHED')]);

    await bob.command('transfer', `sip:2003@127.0.0.1:${server.sipPort}`);
    const incoming = await carol.waitEvent('CALL_INCOMING');
    assert.match(String(incoming.peeruri), /2001@/, 'the third phone sees the transferred caller');
    // the transferring phone is released: by itself on the NOTIFY 200, else by the server
    await bob.waitEvent('CALL_CLOSED');
    await carol.accept();
    await carol.waitEvent('CALL_ESTABLISHED');
    const active = await server.api<Array<{ caller: string; callee: string; state: string }>>('GET', '/api/v1/calls');
    assert.deepEqual(active.body.map((c) => [c.caller, c.callee, c.state]), [['2001', '2003', 'answered']]);

    await carol.hangup();
    await Promise.all([alice.waitEvent('CALL_CLOSED'), carol.waitEvent('CALL_CLOSED')]);
    const toBob = await server.api<{ items: CallRecordItem[] }>('GET', '/api/v1/call-records?caller=2001&callee=2002');
    assert.equal(toBob.body.items[0]?.disposition, 'answered');
    const toCarol = await server.api<{ items: CallRecordItem[] }>('GET', '/api/v1/call-records?caller=2001&callee=2003');
    assert.equal(toCarol.body.items.length, 1);
    assert.equal(toCarol.body.items[0]!.disposition, 'answered');
    await Promise.all([alice.stop(), bob.stop(), carol.stop()]);
  });
});
