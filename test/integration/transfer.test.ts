// Call transfer end to end (RFC 5589): a Switchboard process and SIPp phones (test/sipp/transfer)
// whose audio the test sends and hears itself. A phone REFERs the party it talks to elsewhere; the
// server moves that party onto its own media with a re-INVITE, tells the phone how it went in NOTIFYs
// and releases it: blind to a number (the party hears ringback until the number answers), attended
// (Replaces) to the party of the phone's other call. The phone a transferred party was put through to
// can transfer it on: the party is already on the server's media, so it is only routed anew. And the
// REFERs it must refuse.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { sine } from '../support/pcm-signals.js';
import { RtpPeer } from '../support/rtp-peer.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { explainSipp, serverProblems, until } from '../support/sip-test-helpers.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippHandle, type SippOptions, type SippResult, type SippUser } from '../support/sipp.js';
import { LogMatch } from '../support/log-match.js';
import { toneContent } from '../support/tone-measure.js';

const HOST = '127.0.0.1';
const SAMPLE_RATE = 8000;
const FRAME = SAMPLE_RATE / 50;
/** [media] tone_country = de: ringback is one 425 Hz tone, 1 s on, 4 s off */
const RINGBACK_HZ = 425;
/** what the two parties of a call say to each other: neither is a call-progress tone */
const FIRST_PARTY_HZ = 700;
const SECOND_PARTY_HZ = 1300;
const TONE_AMPLITUDE = 8000;
/** half a second of a tone is heard, not a stray frame */
const TONE_FRAMES_HEARD = 25;
const TONE_SECONDS = 1.5;
const LOG_WAIT_MS = 10_000;
/** how much of the server's SIP trace a failure shows */
const TRACE_TAIL_CHARS = 20_000;
const NUMBERS = ['201', '202', '203', '204'];

const user = (number: string): SippUser => ({ number, password: `Pw-${number}-Xfer7` });
const scenario = (name: string) => sippScenario(`transfer/${name}`);
const lines = (log: string, pattern: RegExp) => log.split('\n').filter((line) => pattern.test(line));

/** 20 ms frames of `samples` that are clearly the `hz` tone. */
function toneFrameCount(samples: Int16Array, hz: number): number {
  let frames = 0;
  for (let at = 0; at + FRAME <= samples.length; at += FRAME) {
    const { share, dbfs } = toneContent(samples.subarray(at, at + FRAME), hz);
    if (share > 0.9 && dbfs > -30) frames++;
  }
  return frames;
}


describe('Call transfer over SIP (Switchboard process, SIPp phones)', { timeout: 120_000 }, () => {
  let server: Switchboard;
  let target: string;
  let dataDir: string;
  const started: SippHandle[] = [];
  const peers: RtpPeer[] = [];

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'sb-transfer-'));
    await writeFile(path.join(dataDir, 'mss_var_param.ini'), '[log]\nsip_trace = true\n\n[media]\ntone_country = de\n');
    server = await startSwitchboard({ dataDir });
    target = `${HOST}:${server.sipPort}`;
    for (const number of NUMBERS) await server.createExtension(number, user(number).password);
  });

  // a phone that failed never unregistered: the next test must not ring it
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.kill()));
    for (const peer of peers.splice(0)) peer.close();
    for (const number of NUMBERS) {
      await runSipp({ scenario: sippScenario('unregister'), target, injection: sippInjection([user(number)]), timeoutMs: 5_000 });
    }
  });

  after(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** The end of the server's SIP trace, for a failure message. */
  async function traceTail(): Promise<string> {
    const trace = await readFile(path.join(dataDir, 'log', 'sip-trace.log'), 'latin1').catch(() => '');
    return `\n--- SIP trace (end)\n${trace.slice(-TRACE_TAIL_CHARS)}`;
  }

  async function rtpPeer(): Promise<RtpPeer> {
    const peer = await RtpPeer.open();
    peers.push(peer);
    return peer;
  }

  async function sipp(options: Omit<SippOptions, 'target'>): Promise<SippHandle> {
    const handle = await startSipp({ target, timeoutMs: 40_000, ...options });
    started.push(handle);
    return handle;
  }

  /** A SIPp phone registered for `number` that handles one call with the scenario at `file`, then unregisters. */
  async function phone(number: string, file: string, keys: Record<string, string>): Promise<SippHandle> {
    const handle = await sipp({
      scenario: file,
      register: true,
      injection: sippInjection([user(number)]),
      keys: { expires: '60', expect_calls: '1', wait_ms: '30000', ...keys },
    });
    await handle.waitForLog(`registered ${number}`, 5_000);
    return handle;
  }

  /** Waits for a line of a SIPp log; resolves with the match (its groups). */
  async function logged(name: string, handle: SippHandle, pattern: RegExp, waitMs = LOG_WAIT_MS): Promise<RegExpExecArray> {
    const line = new RegExp(pattern.source, pattern.flags.includes('m') ? pattern.flags : `${pattern.flags}m`);
    let found: RegExpExecArray | null = null;
    const match = new LogMatch((log) => {
      found = line.exec(log);
      return found?.[0];
    });
    try {
      await handle.waitForLog(match, waitMs);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}${serverProblems(server)}${await traceTail()}`, { cause: err });
    }
    return found!;
  }

  /** What a SIPp run left once it ended; fails unless all its calls succeeded. */
  async function ended(name: string, handle: SippHandle): Promise<SippResult> {
    const result = await handle.done;
    assert.equal(result.code, 0, explainSipp(name, result) + serverProblems(server) + (await traceTail()));
    return result;
  }

  /** Waits until `rtp` has heard half a second of the `hz` tone from sample `from` on. */
  async function hearTone(rtp: RtpPeer, hz: number, from: number, what: string, waitMs = 6_000): Promise<void> {
    try {
      await until(what, () => (toneFrameCount(rtp.audio(from), hz) >= TONE_FRAMES_HEARD ? true : undefined), waitMs);
    } catch (err) {
      const heard = toneFrameCount(rtp.audio(from), hz);
      throw new Error(`${what}: ${heard} frames of ${hz} Hz in ${rtp.samplesHeard - from} samples${serverProblems(server)}${await traceTail()}`, { cause: err });
    }
  }

  /** Each of the two says its tone and hears the other's. */
  async function talkBothWays(first: RtpPeer, second: RtpPeer, what: string): Promise<void> {
    const [fromFirst, fromSecond] = [first.samplesHeard, second.samplesHeard];
    const samples = SAMPLE_RATE * TONE_SECONDS;
    await Promise.all([
      first.sendAudio(sine(FIRST_PARTY_HZ, SAMPLE_RATE, samples, TONE_AMPLITUDE)),
      second.sendAudio(sine(SECOND_PARTY_HZ, SAMPLE_RATE, samples, TONE_AMPLITUDE)),
      hearTone(second, FIRST_PARTY_HZ, fromSecond, `${what}: the second hears the first`),
      hearTone(first, SECOND_PARTY_HZ, fromFirst, `${what}: the first hears the second`),
    ]);
  }

  /** The 202 and the NOTIFYs of a transfer in a transferor's log: 100 Trying (active), then `final` (terminated). */
  function assertNotified(log: string, final: string): void {
    const notifies = lines(log, /^notify /);
    assert.equal(lines(log, /^refer status 202$/).length, 1, `one 202 Accepted for the REFER:\n${log}`);
    assert.equal(notifies.length, 2, `two NOTIFYs:\n${log}`);
    assert.match(notifies[0]!, /^notify event=refer type=message\/sipfrag;version=2\.0 state=active(;\S*)? frag=SIP\/2\.0 100 Trying$/);
    assert.match(notifies[1]!, new RegExp(`^notify event=refer type=message/sipfrag;version=2\\.0 state=terminated(;\\S*)? frag=SIP/2\\.0 ${final}$`));
  }

  interface CallRecord {
    caller: string;
    callee: string;
    disposition: string;
  }

  /** The call records of calls started at or after `since`, as "caller>callee disposition", sorted. */
  async function recordsSince(since: string): Promise<string[]> {
    const response = await server.api<{ items: CallRecord[] }>('GET', `/api/v1/call-records?from=${encodeURIComponent(since)}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.items.map((r) => `${r.caller}>${r.callee} ${r.disposition}`).sort();
  }

  /** Every call ended on the server too: none is left talking to nobody. */
  async function noCallsLeft(): Promise<void> {
    let calls: unknown[] = [];
    await until('the server to end every call', async () => {
      calls = (await server.api<unknown[]>('GET', '/api/v1/calls')).body;
      return calls.length === 0 ? true : undefined;
    }, 5_000).catch(() => assert.fail(`calls left on the server: ${JSON.stringify(calls)}`));
  }

  it('blind: 202 transfers 201 to 203; 201 hears ringback, then 203, and 202 is released', async () => {
    const startedAt = new Date().toISOString();
    const [rtp201, rtp202, rtp203] = [await rtpPeer(), await rtpPeer(), await rtpPeer()];
    const phone203 = await phone('203', scenario('uas-transfer-target'), { rtp_port: String(rtp203.port), ring_ms: '2000', hold_ms: '5000' });
    const phone202 = await phone('202', scenario('uas-transferor'), {
      rtp_port: String(rtp202.port), transfer_to: '203', attended: '0', refer_after_ms: '3000',
    });
    const caller = await sipp({
      scenario: scenario('uac-transferee'),
      injection: sippInjection([user('201')]),
      keys: { callee: '202', rtp_port: String(rtp201.port), reinvite_delay_ms: '0', reinvite_status: '200' },
    });

    const answered = await logged('201', caller, /^answered (\d+) /);
    rtp201.sendTo(Number(answered[1]));
    rtp202.sendTo(Number((await logged('202', phone202, /^answered (\d+) /))[1]));
    await talkBothWays(rtp201, rtp202, '201 and 202 before the transfer');

    const moved = await logged('201', caller, /^reinvite (\d+)$/);
    const movedAt = rtp201.samplesHeard;
    assert.notEqual(moved[1], answered[1], 'the re-INVITE moves 201 onto other media (the server\'s own)');
    rtp201.sendTo(Number(moved[1]));
    await logged('201', caller, /^reinvite answered 200$/);
    await hearTone(rtp201, RINGBACK_HZ, movedAt, '201 hears ringback while 203 rings');

    rtp203.sendTo(Number((await logged('203', phone203, /^incoming (\d+) /))[1]));
    await logged('203', phone203, /^answered$/);
    await talkBothWays(rtp201, rtp203, '201 and 203 after the transfer');

    const transferor = await ended('phone 202', phone202);
    assertNotified(transferor.log, '200 OK');
    assert.match(transferor.log, /^released /m, 'the server hangs up on 202');
    assert.match((await ended('phone 203', phone203)).log, /^hung up$/m, '203 hangs up');
    assert.match((await ended('201', caller)).log, /^far end hung up$/m, '201 is hung up with 203');

    await noCallsLeft();
    assert.deepEqual(await recordsSince(startedAt), ['201>202 answered', '201>203 answered'], 'the call from 201 to 202, and the transferred call, 201 to 203');
  });

  it('a transferred call is transferred again by the phone that took it', async () => {
    const startedAt = new Date().toISOString();
    const [rtp201, rtp202, rtp203, rtp204] = [await rtpPeer(), await rtpPeer(), await rtpPeer(), await rtpPeer()];
    const phone204 = await phone('204', scenario('uas-transfer-target'), { rtp_port: String(rtp204.port), ring_ms: '2000', hold_ms: '4000' });
    const phone203 = await phone('203', scenario('uas-target-transferor'), {
      rtp_port: String(rtp203.port), transfer_to: '204', refer_after_ms: '3000',
    });
    const phone202 = await phone('202', scenario('uas-transferor'), {
      rtp_port: String(rtp202.port), transfer_to: '203', attended: '0', refer_after_ms: '1000',
    });
    const caller = await sipp({
      scenario: scenario('uac-transferee'),
      injection: sippInjection([user('201')]),
      keys: { callee: '202', rtp_port: String(rtp201.port), reinvite_delay_ms: '0', reinvite_status: '200' },
    });

    // the first transfer: 201 is moved onto the server's media and joined to 203
    await logged('201', caller, /^answered \d+ /);
    const moved = await logged('201', caller, /^reinvite (\d+)$/);
    rtp201.sendTo(Number(moved[1]));
    await logged('201', caller, /^reinvite answered 200$/);
    rtp203.sendTo(Number((await logged('203', phone203, /^incoming (\d+) /))[1]));
    await logged('203', phone203, /^answered$/);
    await talkBothWays(rtp201, rtp203, '201 and 203 after the first transfer');

    // the second: 203 REFERs in its own dialog with the server; 201 stays on the server's media
    await logged('203', phone203, /^refer status 202$/);
    const [referredAt, releasedAt] = [rtp201.samplesHeard, rtp203.samplesHeard];
    await hearTone(rtp201, RINGBACK_HZ, referredAt, '201 hears ringback while 204 rings');
    rtp204.sendTo(Number((await logged('204', phone204, /^incoming (\d+) /))[1]));
    await logged('204', phone204, /^answered$/);
    await talkBothWays(rtp201, rtp204, '201 and 204 after the second transfer');
    assert.equal(toneFrameCount(rtp203.audio(releasedAt), FIRST_PARTY_HZ), 0, '203 no longer hears 201');

    const first = await ended('phone 202', phone202);
    assertNotified(first.log, '200 OK');
    assert.match(first.log, /^released /m, 'the server hangs up on 202');
    const second = await ended('phone 203', phone203);
    assert.deepEqual(lines(second.log, /^refer status /), ['refer status 501', 'refer status 202'],
      'the attended REFER is refused, the blind one accepted');
    assertNotified(second.log, '200 OK');
    assert.match(second.log, /^released$/m, 'the server hangs up on 203');
    assert.match((await ended('phone 204', phone204)).log, /^hung up$/m, '204 hangs up');
    const transferee = await ended('201', caller);
    assert.equal(lines(transferee.log, /^reinvite \d+$/).length, 1, `one re-INVITE, for the first transfer only:\n${transferee.log}`);
    assert.match(transferee.log, /^far end hung up$/m, '201 is hung up with 204');

    await noCallsLeft();
    assert.deepEqual(await recordsSince(startedAt), ['201>202 answered', '201>203 answered', '201>204 answered'],
      'each transfer ends the call it was made on and starts a new one: 201 to 202, to 203, to 204');
  });

  it('attended: 202 talks to 201 and to 203, REFERs 201 with Replaces of its call to 203, and 201 and 203 talk', async () => {
    const startedAt = new Date().toISOString();
    const [rtp201, rtp202, rtp203] = [await rtpPeer(), await rtpPeer(), await rtpPeer()];
    const phone203 = await phone('203', scenario('uas-transfer-target'), { rtp_port: String(rtp203.port), ring_ms: '0', hold_ms: '5000' });
    // one SIPp is both halves of 202: it answers 201 (-oocsf) and calls 203 itself (-sf)
    const phone202 = await sipp({
      scenario: scenario('phone-consult'),
      injection: sippInjection([user('202')]),
      keys: {
        expires: '60', expect_calls: '1', wait_ms: '30000', rtp_port: String(rtp202.port),
        consult_to: '203', transfer_to: '203', attended: '1', refer_after_ms: '0',
      },
      extraArgs: ['-oocsf', scenario('uas-transferor'), '-cid_str', 'consult-%u-%p'],
    });
    await logged('202', phone202, /^registered 202$/, 5_000);
    const caller = await sipp({
      scenario: scenario('uac-transferee'),
      injection: sippInjection([user('201')]),
      keys: { callee: '202', rtp_port: String(rtp201.port), reinvite_delay_ms: '0', reinvite_status: '200' },
    });

    const answered201 = await logged('201', caller, /^answered (\d+) /);
    await logged('202', phone202, /^consulting \S+ \S+ \S+$/);
    const offered203 = await logged('203', phone203, /^incoming (\d+) /);

    const moved201 = await logged('201', caller, /^reinvite (\d+)$/);
    const moved203 = await logged('203', phone203, /^reinvite (\d+)$/);
    assert.notEqual(moved201[1], answered201[1], '201 is moved onto the server\'s media');
    assert.notEqual(moved203[1], offered203[1], '203 is moved onto the server\'s media');
    rtp201.sendTo(Number(moved201[1]));
    rtp203.sendTo(Number(moved203[1]));
    await talkBothWays(rtp201, rtp203, '201 and 203 after the transfer');

    const transferor = await ended('phone 202', phone202);
    assertNotified(transferor.log, '200 OK');
    assert.match(transferor.log, /^released /m, 'the server hangs up 202\'s call with 201');
    assert.match(transferor.log, /^consultation released$/m, 'the server hangs up 202\'s call with 203');
    assert.match((await ended('phone 203', phone203)).log, /^hung up$/m, '203 hangs up');
    assert.match((await ended('201', caller)).log, /^far end hung up$/m, '201 is hung up with 203');
    await noCallsLeft();
    assert.deepEqual(await recordsSince(startedAt), ['201>202 answered', '201>203 answered', '202>203 answered'],
      'the two calls of 202, and the one conversation of 201 and 203');
  });

  it('refuses a REFER before the call is answered (403)', async () => {
    const phone202 = await phone('202', sippScenario('uas-ring-forever'), {});
    const caller = await sipp({
      scenario: scenario('uac-refer-early'),
      injection: sippInjection([user('201')]),
      keys: { callee: '202', transfer_to: '203' },
    });
    const log = (await ended('201', caller)).log;
    assert.match(log, /^refer status 403$/m);
    assert.match(log, /^cancelled$/m);
    assert.match((await ended('phone 202', phone202)).log, /^cancelled /m, '202 rang until 201 gave up');
    await noCallsLeft();
  });

  it('refuses a bad Refer-To (400), an unknown Replaces (403) and a second REFER (491); a refused re-INVITE keeps the call (NOTIFY 503)', async () => {
    const [rtp201, rtp202] = [await rtpPeer(), await rtpPeer()];
    const phone202 = await phone('202', scenario('uas-transferor-errors'), {
      rtp_port: String(rtp202.port), transfer_to: '203', refer_after_ms: '500', hold_ms: '5000',
    });
    // 201 lets the server wait for its answer to the re-INVITE, so a second REFER finds the transfer running
    const caller = await sipp({
      scenario: scenario('uac-transferee'),
      injection: sippInjection([user('201')]),
      keys: { callee: '202', rtp_port: String(rtp201.port), reinvite_delay_ms: '1500', reinvite_status: '488' },
    });

    rtp201.sendTo(Number((await logged('201', caller, /^answered (\d+) /))[1]));
    rtp202.sendTo(Number((await logged('202', phone202, /^answered (\d+) /))[1]));
    await logged('202', phone202, /^notify .* frag=SIP\/2\.0 503 /);
    await logged('201', caller, /^reinvite answered 488$/);
    await talkBothWays(rtp201, rtp202, '201 and 202 after the failed transfer');

    const transferor = await ended('phone 202', phone202);
    assert.deepEqual(lines(transferor.log, /^refer status /), ['refer status 400', 'refer status 403', 'refer status 202', 'refer status 491']);
    assertNotified(transferor.log, '503 Service Unavailable');
    assert.match(transferor.log, /^hung up$/m);
    const transferee = await ended('201', caller);
    assert.equal(lines(transferee.log, /^reinvite \d+$/).length, 1, `one re-INVITE, refused:\n${transferee.log}`);
    assert.match(transferee.log, /^far end hung up$/m, '201 is hung up with 202: the call stayed');
    await noCallsLeft();
  });
});
