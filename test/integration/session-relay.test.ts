// Session requests the B2BUA re-issues on the other leg: PRACK / 100rel end to end (RFC 3262),
// UPDATE (RFC 3311) for hold and resume, and a late offer whose answer travels in the ACK.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippResult } from '../support/sipp.js';

function explain(result: SippResult): string {
  return `exit ${result.code}\n${result.errors}\n${result.stdout.slice(-3000)}`;
}

describe('session requests relayed through Switchboard', { timeout: 60_000 }, () => {
  let server: Switchboard;

  before(async () => {
    server = await startSwitchboard();
    await server.createExtension('3101', 'Pw-3101-Zx9');
    await server.createExtension('3102', 'Pw-3102-Zx9');
    await server.createExtension('3103', 'Pw-3103-Zx9');
    await server.createExtension('3104', 'Pw-3104-Zx9');
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
      // the PRACK used a CSeq of the callee leg's dialog; the BYE after it must use a higher one
      const prackSeq = Number(/prack .* cseq (\d+)/.exec(callee.log)?.[1]);
      const byeSeq = Number(/bye cseq (\d+)/.exec(callee.log)?.[1]);
      assert.ok(byeSeq > prackSeq, `BYE CSeq ${byeSeq} must exceed the PRACK's ${prackSeq}`);
    } finally {
      await phone.kill();
    }
  });

  it('relays UPDATE with its SDP both ways for hold and resume', async () => {
    const target = `127.0.0.1:${server.sipPort}`;
    const phone = await startSipp({
      scenario: sippScenario('uas-update'),
      register: true,
      target,
      injection: sippInjection([{ number: '3103', password: 'Pw-3103-Zx9' }]),
      keys: { expires: '60', wait_ms: '10000' },
      timeoutMs: 15_000,
    });
    try {
      await phone.waitForLog('registered 3103', 5_000);
      const caller = await runSipp({
        scenario: sippScenario('uac-update'),
        target,
        injection: sippInjection([{ number: '3101', password: 'Pw-3101-Zx9' }]),
        keys: { callee: '3103', hold_ms: '100' },
        timeoutMs: 10_000,
      });
      const callee = await phone.done;
      assert.equal(caller.code, 0, explain(caller));
      assert.equal(callee.code, 0, explain(callee));
      assert.match(caller.log, /held[^]*resumed/);
      assert.match(callee.log, /UPDATE +sendonly[^]*UPDATE +sendrecv/);
    } finally {
      await phone.kill();
    }
  });

  it('carries a late offer: the 200 brings the offer and the ACK of the caller the answer', async () => {
    const target = `127.0.0.1:${server.sipPort}`;
    const phone = await startSipp({
      scenario: sippScenario('uas-late-offer'),
      register: true,
      target,
      injection: sippInjection([{ number: '3104', password: 'Pw-3104-Zx9' }]),
      keys: { expires: '60', wait_ms: '10000' },
      timeoutMs: 15_000,
    });
    try {
      await phone.waitForLog('registered 3104', 5_000);
      const caller = await runSipp({
        scenario: sippScenario('uac-call-late-offer'),
        target,
        injection: sippInjection([{ number: '3101', password: 'Pw-3101-Zx9' }]),
        keys: { callee: '3104', hold_ms: '100' },
        timeoutMs: 10_000,
      });
      const callee = await phone.done;
      assert.equal(caller.code, 0, explain(caller));
      assert.equal(callee.code, 0, explain(callee));
      assert.match(caller.log, /answered .* with offer m=audio/);
      assert.match(callee.log, /without offer/);
      assert.match(callee.log, /ACK carries m=audio/);
    } finally {
      await phone.kill();
    }
  });
});
