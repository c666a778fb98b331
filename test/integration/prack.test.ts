// PRACK / 100rel end to end through the B2BUA (RFC 3262): both SIPp sides require reliable
// provisionals, so the call completes only if the server relays the 180 reliably and maps the PRACK.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippResult } from '../support/sipp.js';

function explain(result: SippResult): string {
  return `exit ${result.code}\n${result.errors}\n${result.stdout.slice(-3000)}`;
}

describe('reliable provisional responses through Switchboard', { timeout: 60_000 }, () => {
  let server: Switchboard;

  before(async () => {
    server = await startSwitchboard();
    await server.createExtension('3101', 'Pw-3101-Zx9');
    await server.createExtension('3102', 'Pw-3102-Zx9');
  });

  after(async () => {
    await server?.stop();
  });

  it('relays a reliable 180 and its PRACK between the legs', async () => {
    const target = `127.0.0.1:${server.sipPort}`;
    const phone = await startSipp({
      scenario: sippScenario('uas-100rel'),
      register: true,
      target,
      injection: sippInjection([{ number: '3102', password: 'Pw-3102-Zx9' }]),
      keys: { expires: '60', wait_ms: '10000' },
      timeoutMs: 15_000,
    });
    try {
      await phone.waitForLog('registered 3102', 5_000);
      const caller = await runSipp({
        scenario: sippScenario('uac-call-100rel'),
        target,
        injection: sippInjection([{ number: '3101', password: 'Pw-3101-Zx9' }]),
        keys: { callee: '3102', hold_ms: '100' },
        timeoutMs: 10_000,
      });
      const callee = await phone.done;
      assert.equal(caller.code, 0, explain(caller));
      assert.equal(callee.code, 0, explain(callee));
      assert.match(caller.log, /reliable 180 rseq \d+[^]*prack acknowledged/);
      assert.match(callee.log, /prack +1 \d+ INVITE/);
    } finally {
      await phone.kill();
    }
  });
});
