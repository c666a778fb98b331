// Proves the integration-test toolkit against a real SIP server: Kamailio as registrar and proxy.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBaresip, type Baresip } from '../support/baresip.js';
import { kamailioPassword, startKamailio, type Kamailio } from '../support/kamailio.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippResult } from '../support/sipp.js';

function explain(result: SippResult): string {
  return `exit ${result.code}\n${result.errors}\n${result.stdout.slice(-4000)}`;
}

function user(number: string) {
  return { number, password: kamailioPassword(number) };
}

describe('test toolkit against Kamailio', { timeout: 60_000 }, () => {
  let kamailio: Kamailio;
  let target: string;
  const phones: Baresip[] = [];

  before(async () => {
    kamailio = await startKamailio({ children: 1 });
    target = `127.0.0.1:${kamailio.port}`;
  });

  after(async () => {
    await Promise.all(phones.map((phone) => phone.stop()));
    await kamailio?.stop();
  });

  it('registers with digest authentication (register.xml)', async () => {
    const result = await runSipp({
      scenario: sippScenario('register'),
      target,
      injection: sippInjection([user('1001')]),
      keys: { expires: '60' },
      timeoutMs: 10_000,
    });
    assert.equal(result.code, 0, explain(result));
    assert.deepEqual(result.stats, { successful: 1, failed: 0 });
    assert.match(result.log, /registered 1001/);
  });

  it('rejects a wrong password (register.xml fails)', async () => {
    const result = await runSipp({
      scenario: sippScenario('register'),
      target,
      injection: sippInjection([{ number: '1001', password: 'wrong' }]),
      timeoutMs: 5_000,
    });
    assert.notEqual(result.code, 0);
    assert.equal(result.stats?.failed, 1);
  });

  it('calls a registered SIPp phone (uac-call.xml + uas-answer.xml)', async () => {
    const phone = await startSipp({
      scenario: sippScenario('uas-answer'),
      register: true,
      target,
      injection: sippInjection([user('1102')]),
      keys: { expires: '60', ring_ms: '100', wait_ms: '10000' },
      timeoutMs: 15_000,
    });
    try {
      await phone.waitForLog('registered 1102', 5_000);
      const caller = await runSipp({
        scenario: sippScenario('uac-call'),
        target,
        injection: sippInjection([user('1101')]),
        keys: { callee: '1102', hold_ms: '300' },
        timeoutMs: 10_000,
      });
      assert.equal(caller.code, 0, explain(caller));
      assert.match(caller.log, /answered/);
      const callee = await phone.done;
      assert.equal(callee.code, 0, explain(callee));
      assert.match(callee.log, /incoming .*\n.*answered .*\n.*call done/);
    } finally {
      await phone.kill();
    }
  });

  it('connects two baresip phones through the proxy', async () => {
    const alice = await startBaresip({ user: '2001', password: kamailioPassword('2001'), serverPort: kamailio.port });
    phones.push(alice);
    const bob = await startBaresip({ user: '2002', password: kamailioPassword('2002'), serverPort: kamailio.port });
    phones.push(bob);
    await Promise.all([alice.waitRegistered(), bob.waitRegistered()]);

    const dialled = await alice.dial(`sip:2002@127.0.0.1:${kamailio.port}`);
    assert.ok(dialled.ok, dialled.data);
    const incoming = await bob.waitEvent('CALL_INCOMING');
    assert.match(incoming.peeruri ?? '', /^sip:2001@/);
    await bob.accept();
    await Promise.all([alice.waitEvent('CALL_ESTABLISHED'), bob.waitEvent('CALL_ESTABLISHED')]);

    await alice.hangup();
    await Promise.all([alice.waitEvent('CALL_CLOSED'), bob.waitEvent('CALL_CLOSED')]);
  });
});
