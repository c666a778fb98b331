// The call-routing services end to end (lua/services/extension.lua, ring-group.lua, hunt-group.lua,
// ivr.lua, call-restricted.lua): a Switchboard process, SIPp phones that register and answer, ring
// for ever or are busy, and SIPp callers whose audio and key presses the test makes.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { readWav } from '../../src/media/wav.js';
import { sine } from '../support/pcm-signals.js';
import { repoRoot } from '../support/repo-root.js';
import { RtpPeer } from '../support/rtp-peer.js';
import { hearInOrder, toneFrames } from '../support/service-audio.js';
import { callService, type ServiceCall } from '../support/service-caller.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { explainSipp, serverProblems } from '../support/sip-test-helpers.js';
import { sippInjection, sippScenario, startSipp, type SippHandle, type SippResult, type SippUser } from '../support/sipp.js';

const HOST = '127.0.0.1';
const SAMPLE_RATE = 8000;
const RING_SECONDS = 5;
const EXTENSIONS = ['201', '202', '203', '204'];

const user = (number: string): SippUser => ({ number, password: `Pw-${number}-Lua9` });
const count = (log: string, line: RegExp): number => log.match(line)?.length ?? 0;
/** how often SIPp received `status`, from the message counts of its final screen */
const responsesReceived = (result: SippResult, status: number): number =>
  Number([...result.stdout.matchAll(new RegExp(`^\\s*${status} <-+\\s+(\\d+)`, 'gm'))].at(-1)?.[1] ?? 0);

type PhoneScenario = 'uas-answer' | 'uas-busy' | 'uas-ring-forever';

describe('Lua call routing over SIP (Switchboard process, SIPp)', { timeout: 120_000 }, () => {
  let server: Switchboard;
  let target: string;
  const started: SippHandle[] = [];

  before(async () => {
    server = await startSwitchboard();
    target = `${HOST}:${server.sipPort}`;
    for (const number of EXTENSIONS) await server.createExtension(number, user(number).password);
  });

  // every test starts from the default call settings, so forwarding of one test does not leak into the next
  beforeEach(async () => {
    for (const number of EXTENSIONS) await api('PUT', `/api/v1/extensions/${number}/call-settings`, {}, 200);
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

  /** A SIPp phone registered for `number` that handles `calls` calls with `scenario`, then unregisters and ends. */
  async function phone(number: string, scenario: PhoneScenario, calls: number, keys: Record<string, string> = {}): Promise<SippHandle> {
    const handle = await startSipp({
      scenario: sippScenario(scenario),
      register: true,
      target,
      injection: sippInjection([user(number)]),
      keys: { expires: '60', expect_calls: String(calls), wait_ms: '25000', ...keys },
      timeoutMs: 30_000,
    });
    started.push(handle);
    await handle.waitForLog(`registered ${number}`, 5_000);
    return handle;
  }

  async function dial(caller: string, callee: string, holdMs: number, answerWithinMs = 10_000): Promise<ServiceCall> {
    const call = await callService({ target, caller: user(caller), callee, holdMs });
    started.push(call.sipp);
    try {
      await call.answered(answerWithinMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}${serverProblems(server)}`, { cause: err });
    }
    return call;
  }

  /** What a SIPp run left once it ended; fails unless it succeeded. */
  async function ended(name: string, handle: { done: Promise<SippResult> }): Promise<SippResult> {
    const result = await handle.done;
    assert.equal(result.code, 0, explainSipp(name, result) + serverProblems(server));
    return result;
  }

  /** Ends the calls to `callee` from the server's side, as an operator would. */
  async function hangUpCallsTo(callee: string): Promise<void> {
    const calls = await api<Array<{ id: string; callee: string }>>('GET', '/api/v1/calls', undefined, 200);
    for (const call of calls.filter((c) => c.callee === callee)) await api('DELETE', `/api/v1/calls/${encodeURIComponent(call.id)}`, undefined, 204);
  }

  async function hear(call: ServiceCall, names: readonly string[], after = 0): Promise<number> {
    try {
      return await hearInOrder(call.rtp, names, after);
    } catch (err) {
      throw new Error(`${(err as Error).message}${serverProblems(server)}`, { cause: err });
    }
  }

  it('forwards a call to a busy 201 to 202, with a 181 to the caller first', async () => {
    await api('PUT', '/api/v1/extensions/201/call-settings', { forward: { busy: '202' } }, 200);
    const busy = await phone('201', 'uas-busy', 1);
    const answering = await phone('202', 'uas-answer', 1);
    const call = await dial('203', '201', 300);

    const caller = await ended('caller', call);
    assert.ok(responsesReceived(caller, 181) >= 1, `the caller got 181 Call Is Being Forwarded\n${caller.stdout.slice(-2500)}`);
    assert.match((await ended('phone 201', busy)).log, /^incoming /m, '201 was tried first');
    assert.match((await ended('phone 202', answering)).log, /^answered /m, '202 answered the forwarded call');
  });

  it('forwards to 202 after ringSeconds without an answer, and at once while 203 has no phone registered', async () => {
    await api('PUT', '/api/v1/extensions/201/call-settings', { forward: { noAnswer: '202' }, ringSeconds: RING_SECONDS }, 200);
    await api('PUT', '/api/v1/extensions/203/call-settings', { forward: { unreachable: '202' } }, 200);
    const ringing = await phone('201', 'uas-ring-forever', 1);
    const answering = await phone('202', 'uas-answer', 2);

    const noAnswer = await dial('204', '201', 300, (RING_SECONDS + 5) * 1000);
    const times = await noAnswer.answered();
    await ended('caller of 201', noAnswer);
    const rangMs = times.answeredAt - times.invitedAt;
    assert.ok(rangMs >= (RING_SECONDS - 0.5) * 1000 && rangMs < (RING_SECONDS + 3) * 1000, `201 rang for ringSeconds first (${rangMs.toFixed(0)} ms)`);
    assert.match((await ended('phone 201', ringing)).log, /^cancelled /m, '201 stopped ringing');

    const unreachable = await dial('204', '203', 300);
    const direct = await unreachable.answered();
    assert.ok(direct.answeredAt - direct.invitedAt < 2_000, `no ringing of 203 first (${(direct.answeredAt - direct.invitedAt).toFixed(0)} ms)`);
    await ended('caller of 203', unreachable);
    assert.equal(count((await ended('phone 202', answering)).log, /^answered /gm), 2, '202 answered both forwarded calls');
  });

  it('sends an unanswered call to 201 to its voicemail after ringSeconds', async () => {
    await api('PUT', '/api/v1/extensions/201/call-settings', { voicemail: true, forwardToVoicemail: { noAnswer: true }, ringSeconds: RING_SECONDS }, 200);
    await api('POST', '/api/v1/mailboxes', { number: '201' }, 201);
    const ringing = await phone('201', 'uas-ring-forever', 1);

    const call = await dial('204', '201', 6_000, (RING_SECONDS + 5) * 1000);
    const times = await call.answered();
    assert.ok(times.answeredAt - times.invitedAt >= (RING_SECONDS - 0.5) * 1000, 'voicemail answers only after ringSeconds');
    await hear(call, ['vm-greeting-unavailable', 'vm-leave-message']);
    assert.match((await ended('phone 201', ringing)).log, /^cancelled /m, '201 stopped ringing');
    await ended('caller', call);
  });

  it('rings both members of ring group 600: the first to answer wins; a busy member is skipped', async () => {
    await api('POST', '/api/v1/ring-groups', { number: '600', members: ['201', '202'], ringSeconds: RING_SECONDS }, 201);
    await api('POST', '/api/v1/service-numbers', { number: '600', service: 'ring-group' }, 201);
    const slow = await phone('201', 'uas-ring-forever', 1);
    const fast = await phone('202', 'uas-answer', 2, { ring_ms: '500' });

    await ended('first caller', await dial('204', '600', 300));
    assert.match((await ended('phone 201', slow)).log, /^cancelled /m, '201 rang, then got a CANCEL');

    // 201 now places a call itself (the echo test), so it is busy; its phone must not ring, so it
    // ends by giving up after wait_ms, and only its log counts
    const idle201 = await phone('201', 'uas-answer', 1, { wait_ms: '4000' });
    const busyCall = await dial('201', '*43', 4_000);
    await ended('second caller', await dial('204', '600', 300));
    assert.equal(count((await ended('phone 202', fast)).log, /^answered /gm), 2, '202 answered both calls');
    await ended('201 on the echo test', busyCall);
    const phone201 = await idle201.done;
    assert.equal(count(phone201.log, /^incoming /gm), 0, `201, on a call, did not ring\n${phone201.log}`);
  });

  it('hunt group 610 tries 201, then 202; with both busy the caller queues until a member is free', async () => {
    await api('POST', '/api/v1/hunt-groups', {
      number: '610', members: ['201', '202'], strategy: 'linear', memberRingSeconds: RING_SECONDS, queue: { maxWaitSeconds: 10 },
    }, 201);
    await api('POST', '/api/v1/service-numbers', { number: '610', service: 'hunt-group' }, 201);
    const ringing = await phone('201', 'uas-ring-forever', 1);
    const answering = await phone('202', 'uas-answer', 1);
    const hunted = await dial('204', '610', 300, (RING_SECONDS + 5) * 1000);
    const times = await hunted.answered();
    assert.ok(times.answeredAt - times.invitedAt >= (RING_SECONDS - 0.5) * 1000, '202 after 201 rang memberRingSeconds');
    await ended('hunt caller', hunted);
    assert.match((await ended('phone 201', ringing)).log, /^cancelled /m);
    assert.match((await ended('phone 202', answering)).log, /^answered /m);

    // both members on calls of their own; 201's ends while the caller hears the music, within the queue's wait
    const member201 = await phone('201', 'uas-answer', 1);
    const busy201 = await dial('201', '*43', 6_000);
    const busy202 = await dial('202', '*43', 20_000);
    const queued = await dial('204', '610', 12_000);
    const afterWait = await hear(queued, ['queue-wait']);
    const music = readWav(await readFile(path.join(repoRoot, 'sounds', 'moh', 'default.wav'))).samples.subarray(0, SAMPLE_RATE);
    await queued.rtp.waitForSound(music, 'music on hold', { after: afterWait });
    assert.match((await ended('phone 201', member201)).log, /^answered /m, '201 took the queued call once free');
    await ended('201 on the echo test', busy201);
    await ended('queued caller', queued);
    await hangUpCallsTo('*43');
    await ended('202 on the echo test', busy202);
  });

  it('IVR 8000: key 1 reaches 201 with audio both ways; keying 202# reaches 202', async () => {
    await api('POST', '/api/v1/ivr-menus', { name: 'main', options: { '1': '201' }, dialByExtension: true }, 201);
    await api('POST', '/api/v1/service-numbers', { number: '8000', service: 'ivr', args: { menu: 'main' } }, 201);
    const echo = await EchoSocket.open();
    try {
      const phone201 = await phone('201', 'uas-answer', 1, { rtp_port: String(echo.port) });
      const phone202 = await phone('202', 'uas-answer', 1);

      const call = await dial('204', '8000', 8_000);
      await call.rtp.pressKeys('1');
      await phone201.waitForLog('answered ', 10_000);
      // give the bridge a moment, then talk: 201 sends back what it hears, so the caller hears itself
      await new Promise((resolve) => setTimeout(resolve, 500));
      const from = call.rtp.samplesHeard;
      await call.rtp.sendAudio(sine(600, SAMPLE_RATE, 1.5 * SAMPLE_RATE, 8000));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(echo.pcmuPackets > 40, `201 got the caller's audio as PCMU (${echo.pcmuPackets} packets)${serverProblems(server)}`);
      const heard = call.rtp.audio(from);
      const share = toneFrames(heard, 600);
      assert.ok(share > 0.5, `the caller hears 201 (${(share * 100).toFixed(0)}% of ${heard.length} samples are its tone)`);
      await hangUpCallsTo('8000');
      await ended('caller of 201', call);
      await ended('phone 201', phone201);

      const byExtension = await dial('204', '8000', 10_000);
      await byExtension.rtp.pressKeys('202#');
      await phone202.waitForLog('answered ', 10_000);
      await hangUpCallsTo('8000');
      await ended('caller of 202', byExtension);
      await ended('phone 202', phone202);
    } finally {
      echo.close();
    }
  });

  it('gives 201 at restriction level 1 the call-restricted prompt as early media, then 403, for 9123', async () => {
    await api('POST', '/api/v1/call-restrictions', { prefix: '9', level: 5 }, 201);
    await api('PUT', '/api/v1/extensions/201/call-settings', { restrictionLevel: 1 }, 200);
    const rtp = await RtpPeer.open();
    try {
      const sipp = await startSipp({
        scenario: sippScenario('uac-expect-status'),
        target,
        injection: sippInjection([user('201')]),
        keys: { callee: '9123', status: '403', rtp_port: String(rtp.port) },
        timeoutMs: 15_000,
      });
      started.push(sipp);
      const result = await ended('restricted caller', sipp);
      assert.ok(responsesReceived(result, 183) >= 1, `a 183 before the 403\n${result.stdout.slice(-2500)}`);
      await hearInOrder(rtp, ['call-restricted'], 0, 1_000);
    } finally {
      rtp.close();
    }
  });
});

/** The RTP side of a phone that sends back every packet it receives, and counts the PCMU ones. */
class EchoSocket {
  pcmuPackets = 0;

  private constructor(private readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (packet, from) => {
      // byte 1: marker bit and payload type; 0 is PCMU
      if ((packet[1]! & 0x7f) === 0) this.pcmuPackets++;
      socket.send(packet, from.port, from.address);
    });
  }

  static async open(): Promise<EchoSocket> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
    return new EchoSocket(socket, socket.address().port);
  }

  close(): void {
    this.socket.close();
  }
}
