// The feature-code services end to end (lua/services/call-forward.lua, dnd.lua, conference.lua): a
// Switchboard process and SIPp callers whose audio and key presses the test makes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sine } from '../support/pcm-signals.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { hasTone, hearInOrder, prompt, toneFrames } from '../support/service-audio.js';
import { callService, type ServiceCall } from '../support/service-caller.js';
import { explainSipp, serverProblems } from '../support/sip-test-helpers.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippHandle, type SippUser } from '../support/sipp.js';

const HOST = '127.0.0.1';
const SAMPLE_RATE = 8000;
const BEEP_HZ = 1000;
const ROOM = '500';
const ROOM_PIN = '1234';

const user = (number: string): SippUser => ({ number, password: `Pw-${number}-Lua8` });

interface CallSettings {
  dnd: boolean;
  forward: { always: string | null; busy: string | null; noAnswer: string | null; unreachable: string | null };
}

describe('Lua feature codes over SIP (Switchboard process, SIPp)', { timeout: 90_000 }, () => {
  let server: Switchboard;
  let target: string;
  const started: SippHandle[] = [];

  before(async () => {
    server = await startSwitchboard();
    target = `${HOST}:${server.sipPort}`;
    for (const number of ['200', '201', '300', '301', '302', '303']) await server.createExtension(number, user(number).password);
    await api('POST', '/api/v1/conference-rooms', { number: ROOM, name: 'Test room', pin: ROOM_PIN, maxMembers: 2 }, 201);
  });

  after(async () => {
    await Promise.all(started.map((s) => s.kill()));
    await server?.stop();
  });

  async function api<T = unknown>(method: string, url: string, body: unknown, status: number): Promise<T> {
    const response = await server.api<T>(method, url, body);
    assert.equal(response.status, status, `${method} ${url}: ${JSON.stringify(response.body)}${serverProblems(server)}`);
    return response.body;
  }

  async function dial(caller: string, callee: string, holdMs: number): Promise<ServiceCall> {
    const call = await callService({ target, caller: user(caller), callee, holdMs });
    started.push(call.sipp);
    await call.answered();
    return call;
  }

  /** hearInOrder, failing with what the server logged: a service that failed says why there. */
  async function hear(call: ServiceCall, names: readonly string[], after = 0): Promise<number> {
    try {
      return await hearInOrder(call.rtp, names, after);
    } catch (err) {
      throw new Error(`${(err as Error).message}${serverProblems(server)}`, { cause: err });
    }
  }

  /** Dials a feature code from 200; the server must answer, beep and hang up. */
  async function featureCode(code: string): Promise<void> {
    const call = await dial('200', code, 5_000);
    const result = await call.done;
    assert.equal(result.code, 0, explainSipp(code, result) + serverProblems(server));
    assert.match(result.log, /far end hung up/, `${code}: the server hangs up`);
    assert.ok(hasTone(call.rtp.audio(), BEEP_HZ), `${code}: a ${BEEP_HZ} Hz beep confirms it (${call.rtp.samplesHeard} samples heard)`);
  }

  const settings = () => api<CallSettings>('GET', '/api/v1/extensions/200/call-settings', undefined, 200);

  /** A SIPp phone registered for `number` that answers `calls` calls, then unregisters and ends. */
  async function phone(number: string, calls: number): Promise<SippHandle> {
    const handle = await startSipp({
      scenario: sippScenario('uas-answer'),
      register: true,
      target,
      injection: sippInjection([user(number)]),
      keys: { expires: '60', expect_calls: String(calls), wait_ms: '15000' },
      timeoutMs: 20_000,
    });
    started.push(handle);
    await handle.waitForLog(`registered ${number}`, 5_000);
    return handle;
  }

  it('*90*300 forwards all calls of 200 to 300, *90# cancels it', async () => {
    const phone300 = await phone('300', 1);
    await featureCode('*90*300');
    assert.equal((await settings()).forward.always, '300');
    const forwarded = await dial('201', '200', 300);
    assert.equal((await forwarded.done).code, 0);
    const rang = await phone300.done;
    assert.equal(rang.code, 0, explainSipp('phone 300', rang) + serverProblems(server));
    assert.match(rang.log, /^answered /m, 'the call to 200 rang 300');

    // '#' is not allowed as such in the user part of a SIP URI (RFC 3261 §25.1): phones send %23
    await featureCode('*90%23');
    assert.equal((await settings()).forward.always, null);
  });

  it('*78 turns do not disturb on for 200, *79 off', async () => {
    const phone200 = await phone('200', 1);
    await featureCode('*78');
    assert.equal((await settings()).dnd, true);
    const busy = await runSipp({
      scenario: sippScenario('uac-expect-status'),
      target,
      injection: sippInjection([user('201')]),
      keys: { callee: '200', status: '486' },
      timeoutMs: 10_000,
    });
    assert.equal(busy.code, 0, explainSipp('a call to 200 in do not disturb is busy', busy) + serverProblems(server));

    await featureCode('*79');
    assert.equal((await settings()).dnd, false);
    const rung = await dial('201', '200', 300);
    assert.equal((await rung.done).code, 0);
    const rang = await phone200.done;
    assert.equal(rang.code, 0, explainSipp('phone 200', rang) + serverProblems(server));
    assert.equal(rang.log.match(/^incoming /gm)?.length, 1, 'the phone rang once: after *79, not while in do not disturb');
  });

  describe('conference room 500 with PIN 1234 and room for 2', () => {
    let first: ServiceCall;
    let second: ServiceCall;

    it('lets a caller in with the PIN in the number, and asks a caller with a wrong one again', async () => {
      first = await dial('301', `*6*${ROOM}*${ROOM_PIN}`, 30_000);
      await hear(first, ['conf-joined']);
      second = await dial('302', `*6*${ROOM}*9999`, 30_000);
      await hear(second, ['conf-wrong-pin', 'conf-enter-pin']);
      await second.rtp.pressKeys(`${ROOM_PIN}#`);
      const joined = await hear(second, ['conf-joined']);

      // now they are in the same room: what the first says, the second hears
      await second.rtp.waitForSamples(joined + SAMPLE_RATE / 2);
      const from = second.rtp.samplesHeard;
      await first.rtp.sendAudio(sine(600, SAMPLE_RATE, 1.5 * SAMPLE_RATE, 8000));
      const heard = second.rtp.audio(from);
      const share = toneFrames(heard, 600);
      assert.ok(share > 0.6, `the second caller hears the first's 600 Hz (${(share * 100).toFixed(0)}% of ${heard.length} samples)`);
    });

    it('tells a third caller the room is full, without saying it joined, and hangs up', async () => {
      assert.ok(first && second, 'the two callers of the test before are in the room');
      const third = await dial('303', `*6*${ROOM}*${ROOM_PIN}`, 10_000);
      await hear(third, ['conf-full', 'goodbye']);
      const result = await third.done;
      assert.equal(result.code, 0, explainSipp('third caller', result) + serverProblems(server));
      assert.match(result.log, /far end hung up/, 'the server hangs up on the third caller');
      assert.equal(third.rtp.findSound(await prompt('conf-joined')), undefined, 'a caller turned away is not told "you have joined the conference"');
    });

    after(async () => {
      const calls = await server.api<Array<{ id: string; callee: string }>>('GET', '/api/v1/calls');
      for (const call of calls.body.filter((c) => c.callee.startsWith('*6*'))) await server.api('DELETE', `/api/v1/calls/${encodeURIComponent(call.id)}`);
    });
  });
});
