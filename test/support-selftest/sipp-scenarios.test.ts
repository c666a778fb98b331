// Every SIPp scenario in test/sipp, played against Kamailio (registrar + proxy) so that a failure
// in a Switchboard test points at Switchboard, not at the scenario.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kamailioPassword, startKamailio, type Kamailio } from '../support/kamailio.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippResult } from '../support/sipp.js';

function explain(result: SippResult): string {
  return `exit ${result.code}\n${result.errors}\n${result.stdout.slice(-4000)}`;
}

function injectionFor(number: string): string {
  return sippInjection([{ number, password: kamailioPassword(number) }]);
}

describe('SIPp scenarios against Kamailio', { timeout: 90_000 }, () => {
  let kamailio: Kamailio;
  let target: string;
  let nextNumber = 3000;

  before(async () => {
    kamailio = await startKamailio({ children: 1 });
    target = `127.0.0.1:${kamailio.port}`;
  });

  after(async () => {
    await kamailio?.stop();
  });

  /** A registered SIPp phone running `uasScenario`, called by `uacScenario`; returns both results. */
  async function call(uacScenario: string, uasScenario: string, keys: Record<string, string> = {}) {
    const callerNumber = String(nextNumber++);
    const calleeNumber = String(nextNumber++);
    const phone = await startSipp({
      scenario: sippScenario(uasScenario),
      register: true,
      target,
      injection: injectionFor(calleeNumber),
      keys: { expires: '60', wait_ms: '10000', ...keys },
      timeoutMs: 15_000,
    });
    try {
      await phone.waitForLog(`registered ${calleeNumber}`, 5_000);
      const caller = await runSipp({
        scenario: sippScenario(uacScenario),
        target,
        injection: injectionFor(callerNumber),
        keys: { callee: calleeNumber, ...keys },
        timeoutMs: 10_000,
      });
      return { caller, callee: await phone.done };
    } finally {
      await phone.kill();
    }
  }

  it('ends a call from the callee side (uac-call-callee-hangs-up + uas-hangs-up)', async () => {
    const { caller, callee } = await call('uac-call-callee-hangs-up', 'uas-hangs-up', { hold_ms: '200' });
    assert.equal(caller.code, 0, explain(caller));
    assert.equal(callee.code, 0, explain(callee));
    assert.match(caller.log, /far end hung up/);
  });

  it('cancels a ringing call (uac-cancel + uas-ring-forever)', async () => {
    const { caller, callee } = await call('uac-cancel', 'uas-ring-forever', { cancel_after_ms: '200' });
    assert.equal(caller.code, 0, explain(caller));
    assert.equal(callee.code, 0, explain(callee));
    assert.match(callee.log, /cancelled/);
  });

  it('sees a busy callee (uac-expect-status 486 + uas-busy)', async () => {
    const { caller, callee } = await call('uac-expect-status', 'uas-busy', { status: '486' });
    assert.equal(caller.code, 0, explain(caller));
    assert.equal(callee.code, 0, explain(callee));
  });

  it('holds and resumes (uac-reinvite + uas-reinvite)', async () => {
    const { caller, callee } = await call('uac-reinvite', 'uas-reinvite', { hold_ms: '100' });
    assert.equal(caller.code, 0, explain(caller));
    assert.equal(callee.code, 0, explain(callee));
    assert.match(caller.log, /held[^]*resumed/);
  });

  it('expects a status and fails on another one (uac-expect-status)', async () => {
    const options = { scenario: sippScenario('uac-expect-status'), target, injection: injectionFor('3900'), timeoutMs: 5_000 };
    const notFound = await runSipp({ ...options, keys: { callee: '3999', status: '404' } });
    assert.equal(notFound.code, 0, explain(notFound));
    const wrongExpectation = await runSipp({ ...options, keys: { callee: '3999', status: '486' } });
    assert.equal(wrongExpectation.code, 1, explain(wrongExpectation));
    assert.equal(wrongExpectation.stats?.failed, 1);
  });

  it('unregisters every binding (register + unregister)', async () => {
    const options = { target, injection: injectionFor('3950'), timeoutMs: 5_000 };
    const registered = await runSipp({ ...options, scenario: sippScenario('register') });
    assert.equal(registered.code, 0, explain(registered));
    const unregistered = await runSipp({ ...options, scenario: sippScenario('unregister') });
    assert.equal(unregistered.code, 0, explain(unregistered));
    const gone = await runSipp({
      scenario: sippScenario('uac-expect-status'),
      target,
      injection: injectionFor('3951'),
      keys: { callee: '3950', status: '404' },
      timeoutMs: 5_000,
    });
    assert.equal(gone.code, 0, explain(gone));
  });
});
