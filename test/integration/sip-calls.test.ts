// Calls through a real Switchboard process (the B2BUA) between SIPp callers and registered SIPp
// phones: answer, hang-up from either side, CANCEL, busy, 480, 404, the no-answer timeout,
// hold/resume, forking, the call records (REST and the daily CSV) and the active-calls API.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippHandle, type SippResult } from '../support/sipp.js';

const HOST = '127.0.0.1';
const NO_ANSWER_TIMEOUT_S = 5;
const POLL_MS = 50;

interface CallRecordItem {
  id: number;
  caller: string;
  callee: string;
  disposition: 'answered' | 'busy' | 'no_answer' | 'cancelled' | 'failed';
  finalStatus: number;
  hangupBy: 'caller' | 'callee' | 'system' | null;
  durationSeconds: number;
  answeredAt: string | null;
}

interface ActiveCall {
  id: string;
  caller: string;
  callee: string;
  state: 'ringing' | 'answered';
  answeredAt: string | null;
}

function explain(name: string, result: SippResult): string {
  return `${name}: exit ${result.code}\n--- errors\n${result.errors}\n--- log\n${result.log}\n--- screen\n${result.stdout.slice(-2500)}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('calls through Switchboard (SIPp)', { timeout: 60_000 }, () => {
  let server: Switchboard;
  let dataDir: string;
  let target: string;
  let nextNumber = 8100;
  const phones: SippHandle[] = [];

  const password = (number: string) => `Pw-${number}-Call9`;
  const injectionFor = (number: string) => sippInjection([{ number, password: password(number) }]);

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'sb-calls-'));
    await writeFile(path.join(dataDir, 'mss_var_param.ini'), `[sip]\nno_answer_timeout = ${NO_ANSWER_TIMEOUT_S}\n`);
    server = await startSwitchboard({ dataDir });
    target = `${HOST}:${server.sipPort}`;
  });

  after(async () => {
    await Promise.all(phones.map((p) => p.kill()));
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function newExtension(): Promise<string> {
    const number = String(nextNumber++);
    await server.createExtension(number, password(number));
    return number;
  }

  /** A SIPp phone registered for `number` that runs `scenario` for each incoming call. */
  async function startPhone(number: string, scenario: string, keys: Record<string, string> = {}, timeoutMs = 15_000): Promise<SippHandle> {
    const phone = await startSipp({
      scenario: sippScenario(scenario),
      register: true,
      target,
      injection: injectionFor(number),
      keys: { expires: '120', wait_ms: String(timeoutMs - 3_000), ...keys },
      timeoutMs,
    });
    phones.push(phone);
    await phone.waitForLog(`registered ${number}`, 5_000);
    return phone;
  }

  function runCaller(caller: string, scenario: string, keys: Record<string, string>, timeoutMs = 10_000): Promise<SippResult> {
    return runSipp({ scenario: sippScenario(scenario), target, injection: injectionFor(caller), keys, timeoutMs });
  }

  /** A call from a new extension to a new extension whose registered phone runs `uasScenario`. */
  async function call(uacScenario: string, uasScenario: string, keys: Record<string, string> = {}) {
    const caller = await newExtension();
    const callee = await newExtension();
    const phone = await startPhone(callee, uasScenario, keys);
    const callerResult = await runCaller(caller, uacScenario, { callee, ...keys }, 15_000);
    const calleeResult = await phone.done;
    return { caller, callee, callerResult, calleeResult };
  }

  /** The call records between two numbers, waiting briefly for the expected count. */
  async function records(caller: string, callee: string, expected = 1): Promise<CallRecordItem[]> {
    let items: CallRecordItem[] = [];
    for (let attempt = 0; attempt < 40; attempt++) {
      const response = await server.api<{ total: number; items: CallRecordItem[] }>('GET', `/api/v1/call-records?caller=${caller}&callee=${callee}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      items = response.body.items;
      if (items.length >= expected) break;
      await sleep(POLL_MS);
    }
    assert.equal(items.length, expected, `call records ${caller} -> ${callee}: ${JSON.stringify(items)}`);
    return items;
  }

  async function activeCalls(): Promise<ActiveCall[]> {
    const response = await server.api<ActiveCall[]>('GET', '/api/v1/calls');
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body;
  }

  /** Polls GET /api/v1/calls until the call between the two numbers is in `state`. */
  async function waitForActiveCall(caller: string, callee: string, state: ActiveCall['state'], waitMs = 5_000): Promise<ActiveCall> {
    const deadline = Date.now() + waitMs;
    let seen: ActiveCall[] = [];
    for (let attempt = 0; attempt < 1_000 && Date.now() < deadline; attempt++) {
      seen = await activeCalls();
      const found = seen.find((c) => c.caller === caller && c.callee === callee && c.state === state);
      if (found) return found;
      await sleep(POLL_MS);
    }
    throw new Error(`no ${state} call ${caller} -> ${callee} in GET /api/v1/calls within ${waitMs} ms: ${JSON.stringify(seen)}`);
  }

  it('connects a call the caller hangs up (uac-call + uas-answer): CDR answered, hangupBy caller, 200', async () => {
    const { caller, callee, callerResult, calleeResult } = await call('uac-call', 'uas-answer', { hold_ms: '1200' });
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    assert.match(callerResult.log, /answered[^]*hung up/);
    assert.match(calleeResult.log, /call done/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'answered');
    assert.equal(record!.hangupBy, 'caller');
    assert.equal(record!.finalStatus, 200);
    assert.notEqual(record!.answeredAt, null);
    // talk time 1.2 s (hold_ms), rounded to whole seconds
    assert.ok(record!.durationSeconds >= 1 && record!.durationSeconds <= 2, `duration ${record!.durationSeconds}`);
  });

  it('makes each leg a dialog of its own: the callee INVITE has a new Call-ID, From tag and Via', async () => {
    const { caller, callerResult, calleeResult } = await call('uac-call', 'uas-answer-log-headers', { hold_ms: '100' });
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    const callerCallId = /answered (\S+)/.exec(callerResult.log)?.[1];
    const calleeCallId = /incoming (\S+)/.exec(calleeResult.log)?.[1];
    assert.ok(callerCallId && calleeCallId, `${callerResult.log}\n${calleeResult.log}`);
    assert.notEqual(calleeCallId, callerCallId, 'the B2BUA must not reuse the caller Call-ID on the callee leg');
    assert.ok(!calleeResult.log.includes(callerCallId), `the caller Call-ID leaked to the callee:\n${calleeResult.log}`);

    const from = /invite-from (.*)/.exec(calleeResult.log)?.[1] ?? '';
    assert.match(from, new RegExp(`sip:${caller}@`), `callee sees the caller number: ${from}\n${calleeResult.log}`);
    // the caller's From tag is [pid]SIPpTag00[call_number]; the outbound leg needs a tag of its own
    assert.match(from, /;tag=/, from);
    assert.doesNotMatch(from, /SIPpTag/, `the caller From tag leaked to the callee: ${from}`);
    // SIPp puts every Via of the INVITE into [last_Via:]: only the server's own must be there
    const viaText = /invite-via ([^]*?)invite-call-id/.exec(calleeResult.log)?.[1] ?? '';
    const hops = viaText.match(/SIP\/2\.0\/[A-Z]+/gi) ?? [];
    assert.equal(hops.length, 1, `the callee INVITE must carry one Via (the server's):\n${viaText}`);
    assert.match(viaText, new RegExp(`SIP/2\\.0/UDP 127\\.0\\.0\\.1:${server.sipPort};`), viaText);
    const to = /invite-to (.*)/.exec(calleeResult.log)?.[1] ?? '';
    assert.doesNotMatch(to, /;tag=/, `an out-of-dialog INVITE has no To tag: ${to}`);
  });

  it('ends a call the callee hangs up (uac-call-callee-hangs-up + uas-hangs-up): hangupBy callee', async () => {
    const { caller, callee, callerResult, calleeResult } = await call('uac-call-callee-hangs-up', 'uas-hangs-up', { hold_ms: '300' });
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    assert.match(callerResult.log, /far end hung up/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'answered');
    assert.equal(record!.hangupBy, 'callee');
    assert.equal(record!.finalStatus, 200);
  });

  it('cancels a ringing call (uac-cancel + uas-ring-forever): CDR cancelled, 487', async () => {
    const { caller, callee, callerResult, calleeResult } = await call('uac-cancel', 'uas-ring-forever', { cancel_after_ms: '300' });
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    assert.match(callerResult.log, /ringing[^]*cancelled/);
    assert.match(calleeResult.log, /cancelled/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'cancelled');
    assert.equal(record!.finalStatus, 487);
    assert.equal(record!.hangupBy, 'caller');
    assert.equal(record!.answeredAt, null);
  });

  it('relays busy (uac-expect-status 486 + uas-busy): CDR busy', async () => {
    const { caller, callee, callerResult, calleeResult } = await call('uac-expect-status', 'uas-busy', { status: '486' });
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    assert.match(calleeResult.log, /rejected/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'busy');
    assert.equal(record!.finalStatus, 486);
    assert.equal(record!.hangupBy, 'callee');
  });

  it('answers 480 for an existing extension with no registration', async () => {
    const caller = await newExtension();
    const callee = await newExtension();
    const result = await runCaller(caller, 'uac-expect-status', { callee, status: '480' });
    assert.equal(result.code, 0, explain('caller', result));
    assert.match(result.log, /final status 480/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'failed');
    assert.equal(record!.finalStatus, 480);
  });

  it('answers 407 again, not 480, to a caller with a wrong password, and writes no call record', async () => {
    const caller = await newExtension();
    const callee = await newExtension();
    const result = await runSipp({
      scenario: sippScenario('uac-expect-status'),
      target,
      injection: sippInjection([{ number: caller, password: 'Not-The-Password-1' }]),
      keys: { callee, status: '407' },
      timeoutMs: 10_000,
    });
    assert.equal(result.code, 0, explain('caller', result));
    assert.match(result.log, /final status 407/);
    await records(caller, callee, 0);
  });

  it('answers 404 for a number that is no extension', async () => {
    const caller = await newExtension();
    const result = await runCaller(caller, 'uac-expect-status', { callee: '8999', status: '404' });
    assert.equal(result.code, 0, explain('caller', result));
    assert.match(result.log, /final status 404/);
    const [record] = await records(caller, '8999');
    assert.equal(record!.disposition, 'failed');
    assert.equal(record!.finalStatus, 404);
  });

  it(`gives up after no_answer_timeout = ${NO_ANSWER_TIMEOUT_S} s (uac-expect-status 408 + uas-ring-forever): CDR no_answer`, async () => {
    const startedAt = Date.now();
    const { caller, callee, callerResult, calleeResult } = await call('uac-expect-status', 'uas-ring-forever', { status: '408' });
    const elapsed = Date.now() - startedAt;
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    assert.match(calleeResult.log, /cancelled/, 'the ringing phone gets a CANCEL');
    // elapsed also covers the phone registering before and unregistering after the call
    assert.ok(elapsed >= NO_ANSWER_TIMEOUT_S * 1000 - 500 && elapsed < NO_ANSWER_TIMEOUT_S * 1000 + 6_000, `gave up after ${elapsed} ms`);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'no_answer');
    assert.equal(record!.finalStatus, 408);
    assert.equal(record!.hangupBy, 'system');
    assert.equal(record!.answeredAt, null);
  });

  it('holds and resumes with re-INVITEs (uac-reinvite + uas-reinvite)', async () => {
    const { caller, callee, callerResult, calleeResult } = await call('uac-reinvite', 'uas-reinvite', { hold_ms: '200' });
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    assert.match(callerResult.log, /held[^]*resumed[^]*hung up/);
    // the phone saw the hold offer relayed by the B2BUA
    assert.match(calleeResult.log, /re-INVITE sendonly[^]*re-INVITE sendrecv/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'answered');
    assert.equal(record!.hangupBy, 'caller');
  });

  it('forks to every phone of an extension; the one that rings on gets a CANCEL', async () => {
    const caller = await newExtension();
    const callee = await newExtension();
    const answering = await startPhone(callee, 'uas-answer', { ring_ms: '300' });
    const ringing = await startPhone(callee, 'uas-ring-forever');
    const bindings = await server.api<unknown[]>('GET', `/api/v1/registrations?number=${callee}`);
    assert.equal(bindings.body.length, 2, JSON.stringify(bindings.body));

    const callerResult = await runCaller(caller, 'uac-call', { callee, hold_ms: '300' });
    const [answered, cancelled] = await Promise.all([answering.done, ringing.done]);
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(answered.code, 0, explain('answering phone', answered));
    assert.equal(cancelled.code, 0, explain('ringing phone', cancelled));
    assert.match(answered.log, /incoming[^]*call done/);
    assert.match(cancelled.log, /incoming[^]*cancelled[^]*call done/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'answered');
    assert.equal(record!.hangupBy, 'caller');
  });

  it('connects a call over TCP, phone registered over TCP (uac-call + uas-answer, -t t1)', async () => {
    const caller = await newExtension();
    const callee = await newExtension();
    const phone = await startSipp({
      scenario: sippScenario('uas-answer'),
      register: true,
      transport: 't1',
      target,
      injection: injectionFor(callee),
      keys: { expires: '120', wait_ms: '10000' },
      timeoutMs: 13_000,
    });
    phones.push(phone);
    await phone.waitForLog(`registered ${callee}`, 5_000);
    const bindings = await server.api<{ source: { transport: string } }[]>('GET', `/api/v1/registrations?number=${callee}`);
    assert.deepEqual(bindings.body.map((b) => b.source.transport.toUpperCase()), ['TCP'], JSON.stringify(bindings.body));
    const callerResult = await runSipp({
      scenario: sippScenario('uac-call'),
      transport: 't1',
      target,
      injection: injectionFor(caller),
      keys: { callee, hold_ms: '300' },
      timeoutMs: 10_000,
    });
    const calleeResult = await phone.done;
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'answered');
    assert.equal(record!.hangupBy, 'caller');
  });

  it('keeps a forked call alive when one phone is busy and another answers', async () => {
    const caller = await newExtension();
    const callee = await newExtension();
    const busy = await startPhone(callee, 'uas-busy');
    const answering = await startPhone(callee, 'uas-answer', { ring_ms: '500' });
    const callerResult = await runCaller(caller, 'uac-call', { callee, hold_ms: '300' });
    const [busyResult, answeredResult] = await Promise.all([busy.done, answering.done]);
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(busyResult.code, 0, explain('busy phone', busyResult));
    assert.equal(answeredResult.code, 0, explain('answering phone', answeredResult));
    assert.match(busyResult.log, /rejected/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'answered');
    assert.equal(record!.finalStatus, 200);
  });

  it('carries five overlapping calls to one phone (uac-call -m 5 + uas-answer)', async () => {
    const caller = await newExtension();
    const callee = await newExtension();
    const phone = await startPhone(callee, 'uas-answer', { ring_ms: '200', expect_calls: '5' });
    const callerResult = await runSipp({
      scenario: sippScenario('uac-call'),
      target,
      injection: injectionFor(caller),
      calls: 5,
      rate: 20,
      keys: { callee, hold_ms: '500' },
      timeoutMs: 10_000,
    });
    const calleeResult = await phone.done;
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.deepEqual(callerResult.stats, { successful: 5, failed: 0 });
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    const items = await records(caller, callee, 5);
    assert.ok(items.every((r) => r.disposition === 'answered' && r.hangupBy === 'caller'), JSON.stringify(items));
    assert.equal(new Set(items.map((r) => r.id)).size, 5);
  });

  it('lists an answered call in GET /api/v1/calls and ends it with DELETE /api/v1/calls/:id', async () => {
    const caller = await newExtension();
    const callee = await newExtension();
    const phone = await startPhone(callee, 'uas-answer', { ring_ms: '1500' });
    const callerSipp = await startSipp({
      scenario: sippScenario('uac-call-callee-hangs-up'),
      target,
      injection: injectionFor(caller),
      keys: { callee, hold_ms: '60000' },
      timeoutMs: 15_000,
    });
    phones.push(callerSipp);

    const ringing = await waitForActiveCall(caller, callee, 'ringing');
    assert.equal(ringing.answeredAt, null);
    const answered = await waitForActiveCall(caller, callee, 'answered');
    assert.equal(answered.id, ringing.id);
    assert.notEqual(answered.answeredAt, null);

    const hangup = await server.api('DELETE', `/api/v1/calls/${encodeURIComponent(answered.id)}`);
    assert.equal(hangup.status, 204, JSON.stringify(hangup.body));
    const [callerResult, calleeResult] = await Promise.all([callerSipp.done, phone.done]);
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.match(callerResult.log, /far end hung up/, 'the caller gets a BYE');
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    assert.match(calleeResult.log, /call done/, 'the callee gets a BYE');

    assert.equal((await activeCalls()).some((c) => c.id === answered.id), false);
    const again = await server.api('DELETE', `/api/v1/calls/${encodeURIComponent(answered.id)}`);
    assert.equal(again.status, 404);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'answered');
    assert.equal(record!.hangupBy, 'system');
    assert.equal(record!.finalStatus, 200);
  });

  it('ends a ringing call with DELETE /api/v1/calls/:id: the caller gets 487, the phone a CANCEL', async () => {
    const caller = await newExtension();
    const callee = await newExtension();
    const phone = await startPhone(callee, 'uas-ring-forever');
    const callerSipp = await startSipp({
      scenario: sippScenario('uac-expect-status'),
      target,
      injection: injectionFor(caller),
      keys: { callee, status: '487' },
      timeoutMs: 15_000,
    });
    phones.push(callerSipp);

    const ringing = await waitForActiveCall(caller, callee, 'ringing');
    await phone.waitForLog('incoming', 3_000);
    const hangup = await server.api('DELETE', `/api/v1/calls/${encodeURIComponent(ringing.id)}`);
    assert.equal(hangup.status, 204, JSON.stringify(hangup.body));
    const [callerResult, calleeResult] = await Promise.all([callerSipp.done, phone.done]);
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
    assert.match(calleeResult.log, /cancelled/);
    const [record] = await records(caller, callee);
    assert.equal(record!.disposition, 'cancelled');
    assert.equal(record!.finalStatus, 487);
    assert.equal(record!.hangupBy, 'system');
  });

  it('writes every call record to the daily CSV file as well', async () => {
    // a call of its own, so this test does not depend on the others having run
    const { caller, callee, callerResult } = await call('uac-expect-status', 'uas-busy', { status: '486' });
    assert.equal(callerResult.code, 0, explain('caller', callerResult));
    const [own] = await records(caller, callee);

    const all = await server.api<{ total: number; items: (CallRecordItem & { endedAt: string })[] }>('GET', '/api/v1/call-records?limit=1000');
    assert.equal(all.status, 200);
    assert.equal(all.body.items.length, all.body.total);
    const cdrDir = path.join(dataDir, 'cdr');
    const files = (await readdir(cdrDir)).filter((f) => /^cdr-\d{4}-\d{2}-\d{2}\.csv$/.test(f));
    const ownEnd = all.body.items.find((r) => r.id === own!.id)?.endedAt ?? '';
    const dayFile = `cdr-${ownEnd.slice(0, 10)}.csv`;
    assert.ok(files.includes(dayFile), `no ${dayFile} in ${cdrDir}: ${files.join(', ')}`);
    const lines = (await Promise.all(files.map((f) => readFile(path.join(cdrDir, f), 'utf8'))))
      .flatMap((text) => text.split('\r\n'))
      .filter((line) => line.length > 0);
    const header = lines.find((line) => line.startsWith('id,'));
    assert.ok(header, lines.slice(0, 3).join('\n'));
    const columns = header.split(',');
    for (const name of ['id', 'caller', 'callee', 'disposition', 'final_status', 'hangup_by']) assert.ok(columns.includes(name), header);
    const rows = lines.filter((line) => !line.startsWith('id,')).map((line) => line.split(','));
    assert.equal(rows.length, all.body.total, `CSV rows vs API total:\n${lines.join('\n')}`);
    const col = (row: string[], name: string) => row[columns.indexOf(name)];
    for (const record of all.body.items) {
      const row = rows.find((r) => col(r, 'id') === String(record.id));
      assert.ok(row, `record ${record.id} (${record.caller} -> ${record.callee}) is not in the CSV`);
      assert.equal(col(row, 'caller'), record.caller);
      assert.equal(col(row, 'callee'), record.callee);
      assert.equal(col(row, 'disposition'), record.disposition);
      assert.equal(col(row, 'final_status'), String(record.finalStatus));
      assert.equal(col(row, 'hangup_by'), record.hangupBy ?? '');
    }
  });
});
