// Call pickup and call park end to end (lua/services/pickup.lua, park.lua): a Switchboard process,
// SIPp phones that ring for ever or transfer the call they answered to a park code, and SIPp callers
// whose audio the test makes and hears, so it proves that the two parties the server connects talk.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { readWav } from '../../src/media/wav.js';
import { LogMatch, nthMatch } from '../support/log-match.js';
import { sine } from '../support/pcm-signals.js';
import { freeConsecutivePorts } from '../support/ports.js';
import { callReoffered, type ReofferedCall } from '../support/reoffered-caller.js';
import { repoRoot } from '../support/repo-root.js';
import { RtpPeer } from '../support/rtp-peer.js';
import { hearInOrder, toneFrames } from '../support/service-audio.js';
import { callService, type ServiceCall } from '../support/service-caller.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { explainSipp, serverProblems } from '../support/sip-test-helpers.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippHandle, type SippResult, type SippUser } from '../support/sipp.js';

const HOST = '127.0.0.1';
const SAMPLE_RATE = 8000;
const EXTENSIONS = ['201', '202', '203', '204'];
/** each party of a conversation sends its own tone; each must hear the other's */
const TALK_SAMPLES = 1.5 * SAMPLE_RATE;
const TONE_AMPLITUDE = 8000;
/** the share of the heard frames that must be the other party's tone (the rest: a dropped late packet) */
const MIN_TONE_SHARE = 0.5;
const PARK_TIMEOUT_SECONDS = 3;
/** the server's RTP range: 2 per leg, a handful of legs at a time */
const RTP_PORTS = 64;

const user = (number: string): SippUser => ({ number, password: `Pw-${number}-Park7` });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One side of a conversation: whose it is, and its audio. */
interface Party {
  name: string;
  rtp: RtpPeer;
  /** the tone it says */
  hz: number;
}

/** A registered phone running uas-transfer.xml, whose audio is the test's. */
interface TransferringPhone {
  sipp: SippHandle;
  rtp: RtpPeer;
}

describe('Call pickup and park over SIP (Switchboard process, SIPp)', { timeout: 120_000 }, () => {
  let server: Switchboard;
  let target: string;
  const started: SippHandle[] = [];
  const sockets: RtpPeer[] = [];

  before(async () => {
    // RTP ports of its own: other Switchboards on this host use the default range, and may use all of it
    const rtpFirst = await freeConsecutivePorts(RTP_PORTS);
    server = await startSwitchboard({ args: ['--rtp-ports', `${rtpFirst}-${rtpFirst + RTP_PORTS - 1}`] });
    target = `${HOST}:${server.sipPort}`;
    for (const number of EXTENSIONS) await server.createExtension(number, user(number).password);
  });

  beforeEach(async () => {
    for (const number of EXTENSIONS) await api('PUT', `/api/v1/extensions/${number}/call-settings`, {}, 200);
  });

  after(async () => {
    await Promise.all(started.map((s) => s.kill()));
    for (const socket of sockets) socket.close();
    await server?.stop();
  });

  async function api<T = unknown>(method: string, url: string, body: unknown, status: number): Promise<T> {
    const response = await server.api<T>(method, url, body);
    assert.equal(response.status, status, `${method} ${url}: ${JSON.stringify(response.body)}${serverProblems(server)}`);
    return response.body;
  }

  /** A SIPp phone registered for `number` that rings for one call and never answers. */
  async function ringingPhone(number: string): Promise<SippHandle> {
    const handle = await startSipp({
      scenario: sippScenario('uas-ring-forever'),
      register: true,
      target,
      injection: sippInjection([user(number)]),
      keys: { expires: '60', expect_calls: '1', wait_ms: '25000' },
      timeoutMs: 30_000,
    });
    started.push(handle);
    await handle.waitForLog(`registered ${number}`, 5_000);
    return handle;
  }

  /** A phone registered for `number` that transfers its first call to `transferTo` and talks on the rest. */
  async function transferringPhone(number: string, transferTo: string, calls: number, holdMs: number): Promise<TransferringPhone> {
    const rtp = await RtpPeer.open();
    sockets.push(rtp);
    const sipp = await startSipp({
      scenario: sippScenario('pickup-park/uas-transfer'),
      register: true,
      target,
      injection: sippInjection([user(number)]),
      keys: {
        expires: '60',
        expect_calls: String(calls),
        wait_ms: '25000',
        transfer_to: transferTo,
        transfer_after_ms: '500',
        hold_ms: String(holdMs),
        rtp_port: String(rtp.port),
      },
      timeoutMs: 30_000,
    });
    started.push(sipp);
    await sipp.waitForLog(`registered ${number}`, 5_000);
    return { sipp, rtp };
  }

  /** A call from `caller` to `callee` that hangs up itself after `holdMs` unless the far end did first. */
  async function dial(caller: string, callee: string, holdMs: number): Promise<ServiceCall> {
    const call = await callService({ target, caller: user(caller), callee, holdMs });
    started.push(call.sipp);
    return call;
  }

  async function dialReoffered(caller: string, callee: string): Promise<ReofferedCall> {
    const call = await callReoffered({ target, caller: user(caller), callee, timeoutMs: 30_000 });
    started.push(call.sipp);
    return call;
  }

  async function answered(name: string, call: { answered(timeoutMs?: number): Promise<unknown> }, timeoutMs = 10_000): Promise<void> {
    try {
      await call.answered(timeoutMs);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}${serverProblems(server)}`, { cause: err });
    }
  }

  /** `caller` dials `callee`, which must fail with `status`. */
  async function refused(caller: string, callee: string, status: number): Promise<void> {
    const rtp = await RtpPeer.open();
    try {
      const result = await runSipp({
        scenario: sippScenario('uac-expect-status'),
        target,
        injection: sippInjection([user(caller)]),
        keys: { callee, status: String(status), rtp_port: String(rtp.port) },
        timeoutMs: 15_000,
      });
      assert.equal(result.code, 0, explainSipp(`${caller} dialling ${callee}`, result) + serverProblems(server));
    } finally {
      rtp.close();
    }
  }

  /** What a SIPp run left once it ended; fails unless it succeeded. */
  async function ended(name: string, handle: { done: Promise<SippResult> }): Promise<SippResult> {
    const result = await handle.done;
    assert.equal(result.code, 0, explainSipp(name, result) + serverProblems(server));
    return result;
  }

  async function waitForLog(name: string, handle: SippHandle, pattern: string | RegExp, timeoutMs: number): Promise<void> {
    try {
      await handle.waitForLog(pattern, timeoutMs);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}${serverProblems(server)}`, { cause: err });
    }
  }

  /** Both parties say their tone at once; each must hear the other's, through the server. */
  async function talk(a: Party, b: Party): Promise<void> {
    const heardByA = a.rtp.samplesHeard;
    const heardByB = b.rtp.samplesHeard;
    await Promise.all([
      a.rtp.sendAudio(sine(a.hz, SAMPLE_RATE, TALK_SAMPLES, TONE_AMPLITUDE)),
      b.rtp.sendAudio(sine(b.hz, SAMPLE_RATE, TALK_SAMPLES, TONE_AMPLITUDE)),
    ]);
    // the last frames are still on their way through the server
    await sleep(300);
    for (const [listener, from, speaker] of [[a, heardByA, b], [b, heardByB, a]] as const) {
      const heard = listener.rtp.audio(from);
      const share = toneFrames(heard, speaker.hz);
      assert.ok(
        share > MIN_TONE_SHARE,
        `${listener.name} hears ${speaker.name} (${(share * 100).toFixed(0)}% of the frames in ${heard.length} samples are its ${speaker.hz} Hz tone)${serverProblems(server)}`,
      );
    }
  }

  it('directed pickup: 203 dialling *40*202 takes the call ringing 202 and talks to 201; *40*204 finds nothing (404)', async () => {
    const phone202 = await ringingPhone('202');
    const caller = await dial('201', '202', 15_000);
    await waitForLog('phone 202', phone202, 'incoming ', 5_000);

    await refused('203', '*40*204', 404);

    const picker = await dial('203', '*40*202', 5_000);
    await answered('203 picking up', picker);
    await answered('201, picked up', caller, 5_000);
    const phone = await ended('phone 202', phone202);
    assert.match(phone.log, /^cancelled /m, `202 stopped ringing\n${phone.log}`);
    assert.doesNotMatch(phone.log, /^answered /m, '202 never answered');

    await sleep(300);
    await talk({ name: '201', rtp: caller.rtp, hz: 600 }, { name: '203', rtp: picker.rtp, hz: 900 });
    assert.match((await ended('203', picker)).log, /^hung up /m, '203 hung up');
    assert.match((await ended('201', caller)).log, /^far end hung up /m, 'the server hung up 201 with 203');
  });

  it('group pickup: 203 in group front-desk dialling *50* takes the call ringing member 202; 204 without groups gets 404', async () => {
    await api('POST', '/api/v1/pickup-groups', { name: 'front-desk', members: ['202'] }, 201);
    await api('PUT', '/api/v1/extensions/203/call-settings', { pickupGroups: ['front-desk'] }, 200);
    const phone202 = await ringingPhone('202');
    const caller = await dial('201', '202', 15_000);
    await waitForLog('phone 202', phone202, 'incoming ', 5_000);

    await refused('204', '*50*', 404);

    const picker = await dial('203', '*50*', 5_000);
    await answered('203 picking up', picker);
    await answered('201, picked up', caller, 5_000);
    const phone = await ended('phone 202', phone202);
    assert.match(phone.log, /^cancelled /m, `202 stopped ringing\n${phone.log}`);

    await sleep(300);
    await talk({ name: '201', rtp: caller.rtp, hz: 600 }, { name: '203', rtp: picker.rtp, hz: 900 });
    assert.match((await ended('203', picker)).log, /^hung up /m, '203 hung up');
    assert.match((await ended('201', caller)).log, /^far end hung up /m, 'the server hung up 201 with 203');
  });

  it('park: 202 transfers 201 to *70*5, where 201 hears music until 203 dials *70*5 and talks to it; *70*6 is empty', async () => {
    const phone202 = await transferringPhone('202', `sip:*70*5@${HOST}`, 1, 0);
    const parked = await dialReoffered('201', '202');
    await answered('201 calling 202', parked);

    await parked.reoffered();
    const phone = await ended('phone 202', phone202.sipp);
    assert.match(phone.log, /^transfer accepted /m, `202's REFER was accepted\n${phone.log}`);
    assert.match(phone.log, /^notify 200 /m, `202 heard that the transfer succeeded\n${phone.log}`);
    assert.match(phone.log, /^hung up /m, `202 hung up after the transfer\n${phone.log}`);

    const music = readWav(await readFile(path.join(repoRoot, 'sounds', 'moh', 'default.wav'))).samples.subarray(0, SAMPLE_RATE);
    // 202's phone sends no audio: the music can only come from the server's media, where the re-offer moved 201
    await parked.rtp.waitForSound(music, 'music on hold');

    const empty = await dial('203', '*70*6', 10_000);
    await answered('203 dialling the empty slot 6', empty);
    await hearInOrder(empty.rtp, ['park-slot-empty']);
    assert.match((await ended('203 at slot 6', empty)).log, /^far end hung up /m, 'the server hangs up after the prompt');

    const retriever = await dial('203', '*70*5', 5_000);
    await answered('203 retrieving slot 5', retriever);
    await sleep(500);
    await talk({ name: '201', rtp: parked.rtp, hz: 600 }, { name: '203', rtp: retriever.rtp, hz: 900 });
    assert.match((await ended('203', retriever)).log, /^hung up /m, '203 hung up');
    assert.match((await ended('201', parked)).log, /^far end hung up /m, 'the server hung up 201 with 203');
  });

  it(`park timeout: a call parked at *71*1 (timeout ${PARK_TIMEOUT_SECONDS} s) rings 202 back, which then talks to 201`, async () => {
    await api('POST', '/api/v1/service-numbers', { number: '*71*', service: 'park', args: { code: '*71*', timeout: PARK_TIMEOUT_SECONDS } }, 201);
    // escaped as some phones send it: the server reads the number unescaped
    const phone202 = await transferringPhone('202', `sip:%2A71%2A1@${HOST}`, 2, 5_000);
    const parked = await dialReoffered('201', '202');
    await answered('201 calling 202', parked);
    await parked.reoffered();
    // the final NOTIFY goes out as the park service starts on the call
    await waitForLog('phone 202', phone202.sipp, /^notify 200 /m, 5_000);
    const parkedAt = Date.now();

    const ringBack = new LogMatch((log) => nthMatch(log, /^answered (\d+) /gm, 2));
    await waitForLog('phone 202 rung back', phone202.sipp, /^incoming 2(?:\.0+)? /m, (PARK_TIMEOUT_SECONDS + 5) * 1000);
    const rangBackAfterMs = Date.now() - parkedAt;
    assert.ok(
      rangBackAfterMs >= (PARK_TIMEOUT_SECONDS - 0.5) * 1000 && rangBackAfterMs < (PARK_TIMEOUT_SECONDS + 3) * 1000,
      `202 rings again after the park timeout (${rangBackAfterMs} ms)`,
    );
    await waitForLog('phone 202 answering the ring-back', phone202.sipp, ringBack, 5_000);
    phone202.rtp.sendTo(Number(ringBack.value));

    await sleep(300);
    await talk({ name: '201', rtp: parked.rtp, hz: 600 }, { name: '202', rtp: phone202.rtp, hz: 900 });
    const phone = await ended('phone 202', phone202.sipp);
    assert.equal(phone.log.match(/^hung up /gm)?.length, 2, `202 hung up after the transfer, then the ring-back call\n${phone.log}`);
    assert.match((await ended('201', parked)).log, /^far end hung up /m, 'the server hung up 201 with 202');
  });
});
