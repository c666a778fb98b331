// The media relay with real SIP signalling (SIPp phones) and RTP sent and received by the test's own
// UDP sockets at the addresses the phones put in their SDP: forwarding both ways, symmetric-RTP
// latching, hijack protection, the media timeout, and ports given back on every end.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { linearToUlaw } from '../../src/media/codecs/g711.js';
import { readWav } from '../../src/media/wav.js';
import { freeConsecutivePorts } from '../support/ports.js';
import { mayUseRealtime, realtimeThreads } from '../support/realtime.js';
import { toneContent } from '../support/tone-measure.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippHandle, type SippResult } from '../support/sipp.js';

const HOST = '127.0.0.1';
const MEDIA_TIMEOUT_S = 2;
const POLL_MS = 50;

interface MediaLegView {
  relayPort: number;
  sendsTo: { address: string; port: number; latched: boolean } | null;
  packetsReceived: number;
  packetsDropped: number;
}

interface ActiveCall {
  id: string;
  caller: string;
  callee: string;
  state: 'ringing' | 'answered';
  media: Array<{ type: string; caller: MediaLegView; callee: MediaLegView; heldBy: string | null }>;
}

interface CallRecordItem {
  disposition: string;
  hangupBy: string | null;
  endReason: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function explain(name: string, result: SippResult): string {
  return `${name}: exit ${result.code}\n--- errors\n${result.errors}\n--- log\n${result.log}\n--- screen\n${result.stdout.slice(-2500)}`;
}

/** A UDP socket standing in for a phone's RTP port; keeps what arrives. */
class RtpEndpoint {
  readonly received: Array<{ data: Buffer; from: string; port: number }> = [];
  private constructor(readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (data, rinfo) => this.received.push({ data, from: rinfo.address, port: rinfo.port }));
  }

  static async open(port = 0, address = HOST): Promise<RtpEndpoint> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => resolve());
    });
    return new RtpEndpoint(socket, socket.address().port);
  }

  send(packet: Buffer, port: number): void {
    this.socket.send(packet, port, HOST);
  }

  close(): void {
    this.socket.close();
  }
}

/** 20 ms of a PCMU sine at `hz`, packet `seq` of its stream. */
function pcmuTone(seq: number, ssrc: number, hz: number): Buffer {
  const payload = Buffer.alloc(160);
  for (let i = 0; i < 160; i++) payload[i] = linearToUlaw(Math.round(10000 * Math.sin((2 * Math.PI * hz * (seq * 160 + i)) / 8000)));
  const header = rtpPacket(ssrc, seq, '').subarray(0, 12);
  return Buffer.concat([header, payload]);
}

/** A 12-byte RTP header (PCMU) and a payload that names the packet. */
function rtpPacket(ssrc: number, seq: number, text: string): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = 0;
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE(seq * 160, 4);
  header.writeUInt32BE(ssrc, 8);
  return Buffer.concat([header, Buffer.from(text)]);
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, waitMs = 5_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let i = 0; i < 1_000 && Date.now() < deadline; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(POLL_MS);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function canBind(port: number): Promise<boolean> {
  try {
    const e = await RtpEndpoint.open(port, '0.0.0.0');
    e.close();
    return true;
  } catch {
    return false;
  }
}

/** relay_realtime is on: real-time for the native relay thread when the test may, else a warning saying why not. */
function assertRelayPriority(server: Switchboard, engine: 'native' | 'node'): void {
  if (engine === 'node') {
    assert.match(server.output(), /relay_realtime applies to the native relay engine only/);
  } else if (mayUseRealtime()) {
    assert.match(server.output(), /"msg":"relay thread at real-time priority"/);
    assert.equal(realtimeThreads(server.pid, 'rtp-relay'), 1, 'the relay thread of the server runs under SCHED_RR');
  } else {
    assert.match(server.output(), /"reason":"EPERM: it needs root or CAP_SYS_NICE"[^\n]*real-time priority refused/);
  }
}

// both engines keep the same promises: the C relay thread and Node's own sockets
for (const engine of ['native', 'node'] as const) {
  describe(`media relay on the ${engine} engine (SIPp signalling, RTP from the test)`, { timeout: 90_000 }, () => {
    let server: Switchboard;
    let dataDir: string;
    let target: string;
    let rtpFirst: number;
    let nextNumber = 8600;
    const phones: SippHandle[] = [];
    const endpoints: RtpEndpoint[] = [];
    const password = (number: string) => `Pw-${number}-Media7`;

    before(async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'sb-media-'));
      await writeFile(path.join(dataDir, 'mss_var_param.ini'), `[media]\ntimeout = ${MEDIA_TIMEOUT_S}\nrelatch_quiet_ms = 300\nrelay_realtime = true\n`);
      rtpFirst = await freeConsecutivePorts(40);
      rtpFirst += rtpFirst % 2;
      server = await startSwitchboard({ dataDir, args: ['--rtp-ports', `${rtpFirst}-${rtpFirst + 35}`, '--relay-engine', engine] });
      assert.match(server.output(), new RegExp(`"engine":"${engine}"[^\\n]*"msg":"media relay engine"`), 'the server says which engine relays');
      assertRelayPriority(server, engine);
      target = `${HOST}:${server.sipPort}`;
    });

    after(async () => {
      for (const e of endpoints) e.close();
      await Promise.all(phones.map((p) => p.kill()));
      await server?.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    async function endpoint(port = 0, address = HOST): Promise<RtpEndpoint> {
      const e = await RtpEndpoint.open(port, address);
      endpoints.push(e);
      return e;
    }

    async function newExtension(): Promise<string> {
      const number = String(nextNumber++);
      await server.createExtension(number, password(number));
      return number;
    }

    async function activeCall(caller: string, callee: string): Promise<ActiveCall> {
      return until(`answered call ${caller} -> ${callee}`, async () => {
        const res = await server.api<ActiveCall[]>('GET', '/api/v1/calls');
        return res.body.find((c) => c.caller === caller && c.callee === callee && c.state === 'answered' && c.media.length > 0);
      });
    }

    async function record(caller: string, callee: string): Promise<CallRecordItem> {
      return until(`call record ${caller} -> ${callee}`, async () => {
        const res = await server.api<{ items: CallRecordItem[] }>('GET', `/api/v1/call-records?caller=${caller}&callee=${callee}`);
        return res.body.items[0];
      });
    }

    /**
     * An answered call between SIPp phones whose SDP names the test's sockets `callerRtp`/`calleeRtp`;
     * the caller runs `uacScenario` with `keys`.
     */
    async function placeCall(callerRtpPort: number, calleeRtpPort: number, uacScenario: string, keys: Record<string, string>) {
      const caller = await newExtension();
      const callee = await newExtension();
      const phone = await startSipp({
        scenario: sippScenario('uas-answer'),
        register: true,
        target,
        injection: sippInjection([{ number: callee, password: password(callee) }]),
        keys: { expires: '120', wait_ms: '30000', rtp_port: String(calleeRtpPort) },
        timeoutMs: 40_000,
      });
      phones.push(phone);
      await phone.waitForLog(`registered ${callee}`, 5_000);
      const callerRun = runSipp({
        scenario: sippScenario(uacScenario),
        target,
        injection: sippInjection([{ number: caller, password: password(caller) }]),
        keys: { callee, rtp_port: String(callerRtpPort), ...keys },
        timeoutMs: 40_000,
      });
      const call = await activeCall(caller, callee);
      return { caller, callee, call, callerRun, phone };
    }

    it('relays RTP both ways through its own ports, latches to the real source port, and refuses other sources', async () => {
      // the caller advertises one port but sends from another, as a phone behind a port-rewriting NAT does
      const advertised = await endpoint();
      const callerRtp = await endpoint();
      const calleeRtp = await endpoint();
      const intruder = await endpoint(0, '127.0.0.2');
      const { caller, callee, call, callerRun, phone } = await placeCall(advertised.port, calleeRtp.port, 'uac-call', { hold_ms: '2500' });
      const [stream] = call.media;
      assert.ok(stream, 'one relayed stream');
      assert.equal(stream.type, 'audio');
      const toCallerLeg = stream.caller.relayPort;
      const toCalleeLeg = stream.callee.relayPort;
      for (const port of [toCallerLeg, toCalleeLeg]) assert.ok(port >= rtpFirst && port <= rtpFirst + 35, `relay port ${port} in the range`);
      assert.notEqual(toCallerLeg, toCalleeLeg);

      for (let seq = 1; seq <= 5; seq++) callerRtp.send(rtpPacket(0x1111, seq, `caller-${seq}`), toCallerLeg);
      const forwarded = await until('caller RTP at the callee', () => (calleeRtp.received.length >= 5 ? calleeRtp.received : undefined));
      assert.deepEqual(forwarded.map((p) => p.data.subarray(12).toString()), [1, 2, 3, 4, 5].map((n) => `caller-${n}`));
      assert.equal(forwarded[0]!.port, toCalleeLeg, 'the callee hears the relay, from its own leg port');
      assert.equal(forwarded[0]!.data.readUInt32BE(8), 0x1111, 'the packet is forwarded unchanged');

      for (let seq = 1; seq <= 3; seq++) calleeRtp.send(rtpPacket(0x2222, seq, `callee-${seq}`), toCalleeLeg);
      const back = await until('callee RTP at the caller', () => (callerRtp.received.length >= 3 ? callerRtp.received : undefined));
      assert.deepEqual(back.map((p) => p.data.subarray(12).toString()), ['callee-1', 'callee-2', 'callee-3']);
      assert.equal(advertised.received.length, 0, 'media goes where the caller sends from, not where its SDP said');

      const before = calleeRtp.received.length;
      for (let seq = 1; seq <= 5; seq++) intruder.send(rtpPacket(0x6666, seq, 'hijack'), toCallerLeg);
      await sleep(300);
      assert.equal(calleeRtp.received.length, before, 'packets from another address are not forwarded');
      const view = await activeCall(caller, callee);
      assert.ok(view.media[0]!.caller.packetsDropped >= 5, JSON.stringify(view.media[0]));
      assert.deepEqual(view.media[0]!.caller.sendsTo, { address: HOST, port: callerRtp.port, latched: true });

      const callerResult = await callerRun;
      assert.equal(callerResult.code, 0, explain('caller', callerResult));
      assert.equal((await phone.done).code, 0);
      await until('relay ports released', async () => ((await canBind(toCallerLeg)) && (await canBind(toCalleeLeg)) ? true : undefined));
    });

    it('re-latches to a new source of the same party only after the old one fell quiet', async () => {
      const callerRtp = await endpoint();
      const callerNewSource = await endpoint();
      const calleeRtp = await endpoint();
      const { call, callerRun } = await placeCall(callerRtp.port, calleeRtp.port, 'uac-call', { hold_ms: '2000' });
      const leg = call.media[0]!.caller.relayPort;
      callerRtp.send(rtpPacket(0x1111, 1, 'old-1'), leg);
      await until('first packet', () => (calleeRtp.received.length === 1 ? true : undefined));
      callerNewSource.send(rtpPacket(0x3333, 1, 'new-too-soon'), leg);
      await sleep(100);
      assert.equal(calleeRtp.received.length, 1, 'a second source is ignored while the first is active');
      await sleep(400);
      callerNewSource.send(rtpPacket(0x3333, 2, 'new-after-quiet'), leg);
      await until('packet of the new source', () => (calleeRtp.received.length === 2 ? true : undefined));
      assert.equal(calleeRtp.received[1]!.data.subarray(12).toString(), 'new-after-quiet');
      calleeRtp.send(rtpPacket(0x2222, 1, 'reply'), call.media[0]!.callee.relayPort);
      await until('reply at the new source', () => (callerNewSource.received.length === 1 ? true : undefined));
      assert.equal(callerRtp.received.length, 0);
      assert.equal((await callerRun).code, 0);
    });

    it('records a relayed call with both parties mixed while the audio keeps flowing (POST/DELETE /calls/{id}/recording)', async () => {
      const callerRtp = await endpoint();
      const calleeRtp = await endpoint();
      const { call, callerRun } = await placeCall(callerRtp.port, calleeRtp.port, 'uac-call', { hold_ms: '3500' });
      const [stream] = call.media;
      const started = await server.api<{ file: string }>('POST', `/api/v1/calls/${call.id}/recording`);
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal((await server.api('POST', `/api/v1/calls/${call.id}/recording`)).status, 409, 'one recording at a time');
      const startedAt = performance.now();
      for (let seq = 0; seq < 75; seq++) {
        callerRtp.send(pcmuTone(seq, 0x1111, 440), stream!.caller.relayPort);
        calleeRtp.send(pcmuTone(seq, 0x2222, 1000), stream!.callee.relayPort);
        await sleep(Math.max(0, startedAt + (seq + 1) * 20 - performance.now()));
      }
      const stopped = await server.api<{ file: string; seconds: number }>('DELETE', `/api/v1/calls/${call.id}/recording`);
      assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
      assert.equal(stopped.body.file, started.body.file);
      assert.ok(stopped.body.seconds > 1 && stopped.body.seconds < 3, `${stopped.body.seconds} s recorded`);
      assert.ok(calleeRtp.received.length >= 70 && callerRtp.received.length >= 70, 'both parties still heard each other');
      const wav = readWav(await readFile(path.join(dataDir, stopped.body.file)));
      const audio = wav.samples.subarray(1600);
      assert.ok(toneContent(audio, 440).share > 0.2 && toneContent(audio, 1000).share > 0.2, 'both tones in the mix');
      assert.equal((await callerRun).code, 0);
    });

    it('leaves the SDP alone between two extensions with directMedia that reach each other, so no relay ports are used', async () => {
      const callerRtp = await endpoint();
      const calleeRtp = await endpoint();
      const caller = String(nextNumber++);
      const callee = String(nextNumber++);
      for (const number of [caller, callee]) {
        const created = await server.api('POST', '/api/v1/extensions', { number, password: password(number), directMedia: true });
        assert.equal(created.status, 201, JSON.stringify(created.body));
      }
      const phone = await startSipp({
        scenario: sippScenario('uas-answer-log-headers'),
        register: true,
        target,
        injection: sippInjection([{ number: callee, password: password(callee) }]),
        keys: { expires: '120', wait_ms: '20000', rtp_port: String(calleeRtp.port) },
        timeoutMs: 30_000,
      });
      phones.push(phone);
      await phone.waitForLog(`registered ${callee}`, 5_000);
      const run = runSipp({
        scenario: sippScenario('uac-call'),
        target,
        injection: sippInjection([{ number: caller, password: password(caller) }]),
        keys: { callee, rtp_port: String(callerRtp.port), hold_ms: '1000' },
        timeoutMs: 20_000,
      });
      const call = await until('the answered call', async () => {
        const res = await server.api<ActiveCall[]>('GET', '/api/v1/calls');
        return res.body.find((c) => c.caller === caller && c.state === 'answered');
      });
      assert.deepEqual(call.media, [], 'no relayed stream');
      assert.equal((await run).code, 0);
      const calleeResult = await phone.done;
      assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
      assert.match(calleeResult.log, new RegExp(`invite-sdp m=audio ${callerRtp.port}\\b`), 'the callee got the caller\'s own media port');
    });

    it(`ends an answered call without RTP after [media] timeout (${MEDIA_TIMEOUT_S} s): BYE to both, record media_timeout, ports free`, async () => {
      const callerRtp = await endpoint();
      const calleeRtp = await endpoint();
      const started = Date.now();
      const { caller, callee, call, callerRun, phone } = await placeCall(callerRtp.port, calleeRtp.port, 'uac-call-callee-hangs-up', {});
      const ports = [call.media[0]!.caller.relayPort, call.media[0]!.callee.relayPort];
      const callerResult = await callerRun;
      assert.equal(callerResult.code, 0, explain('caller (expects the BYE)', callerResult));
      const calleeResult = await phone.done;
      assert.equal(calleeResult.code, 0, explain('callee (expects the BYE)', calleeResult));
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= MEDIA_TIMEOUT_S * 1000 && elapsed < (MEDIA_TIMEOUT_S + 8) * 1000, `ended after ${elapsed} ms`);
      const rec = await record(caller, callee);
      assert.equal(rec.disposition, 'answered');
      assert.equal(rec.hangupBy, 'system');
      assert.equal(rec.endReason, 'media_timeout');
      for (const port of ports) assert.ok(await canBind(port), `port ${port} is free again`);
    });
  });
}

describe('a server behind NAT: [media] public_address', { timeout: 60_000 }, () => {
  it('is the address written into the SDP the server sends, instead of the local one', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sb-media-public-'));
    await writeFile(path.join(dataDir, 'mss_var_param.ini'), '[media]\npublic_address = 192.0.2.50\n');
    const server = await startSwitchboard({ dataDir });
    try {
      const target = `${HOST}:${server.sipPort}`;
      const [caller, callee] = ['8701', '8702'];
      for (const n of [caller, callee]) await server.createExtension(n, `Pw-${n}-Pub`);
      const phone = await startSipp({
        scenario: sippScenario('uas-answer-log-headers'),
        register: true,
        target,
        injection: sippInjection([{ number: callee, password: `Pw-${callee}-Pub` }]),
        keys: { expires: '120', wait_ms: '15000' },
        timeoutMs: 20_000,
      });
      await phone.waitForLog(`registered ${callee}`, 5_000);
      const result = await runSipp({
        scenario: sippScenario('uac-call'),
        target,
        injection: sippInjection([{ number: caller, password: `Pw-${caller}-Pub` }]),
        keys: { callee, hold_ms: '300' },
        timeoutMs: 15_000,
      });
      assert.equal(result.code, 0, explain('caller', result));
      const calleeResult = await phone.done;
      assert.equal(calleeResult.code, 0, explain('callee', calleeResult));
      assert.match(calleeResult.log, /invite-sdp-address c=IN IP4 192\.0\.2\.50\b/);
    } finally {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
