// The server as a media endpoint, driven by services the test writes itself (as Lua services will be):
// DTMF in all three forms from SIPp and baresip, a prompt checked packet by packet, a recording, a
// three-party conference, music on hold in a relayed call, and the echo test — all with real phones.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Application } from '../../src/call/local-call.js';
import { linearToUlaw, ulawToLinear } from '../../src/media/codecs/g711.js';
import type { DigitSource } from '../../src/media/endpoint/media-endpoint.js';
import { DtmfToneGenerator } from '../../src/media/tones.js';
import { encodeWav, readWav } from '../../src/media/wav.js';
import { startBaresip, type Baresip } from '../support/baresip.js';
import { startInProcess, type InProcessServer } from '../support/in-process-server.js';
import { runSipp, sippInjection, sippScenario, startSipp, type SippResult } from '../support/sipp.js';
import { toneContent } from '../support/tone-measure.js';

const execFileAsync = promisify(execFile);
const HOST = '127.0.0.1';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function explain(name: string, result: SippResult): string {
  return `${name}: exit ${result.code}\n--- errors\n${result.errors}\n--- log\n${result.log}\n--- screen\n${result.stdout.slice(-2500)}`;
}

async function until<T>(what: string, probe: () => T | undefined, waitMs = 10_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let i = 0; i < 2_000 && Date.now() < deadline; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function soxTone(file: string, hz: number, seconds = 30, rate = 8000): Promise<string> {
  await execFileAsync('sox', ['-n', '-r', String(rate), '-c', '1', '-b', '16', '-e', 'signed-integer', file, 'synth', String(seconds), 'sine', String(hz), 'vol', '0.5']);
  return file;
}

async function heard(recordDir: string): Promise<{ samples: Int16Array; sampleRate: number }> {
  const files = (await readdir(recordDir)).filter((f) => f.endsWith('-dec.wav'));
  assert.equal(files.length, 1, `one received-audio recording in ${recordDir}: ${files.join(', ')}`);
  return readWav(await readFile(path.join(recordDir, files[0]!)));
}

interface RtpIn {
  data: Buffer;
  at: number;
}

class RtpSocket {
  readonly packets: RtpIn[] = [];
  private constructor(readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (data) => this.packets.push({ data, at: performance.now() }));
  }

  static async open(): Promise<RtpSocket> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
    return new RtpSocket(socket, socket.address().port);
  }

  close(): void {
    this.socket.close();
  }
}

function pcmuPacket(seq: number, ssrc: number, payload: Uint8Array): Buffer {
  const p = Buffer.alloc(12 + payload.length);
  p[0] = 0x80;
  p[1] = 0;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((seq * 160) >>> 0, 4);
  p.writeUInt32BE(ssrc, 8);
  p.set(payload, 12);
  return p;
}

describe('services on the media endpoint (in-process server, real phones)', { timeout: 180_000 }, () => {
  let pbx: InProcessServer;
  let work: string;
  const digits = new Map<string, Array<{ digit: string; source: DigitSource }>>();
  const recordings: Array<{ path: string; seconds: number; stoppedBy: string }> = [];
  const extensions = ['5001', '5002', '5003', '5004', '5005', '5006'].map((number) => ({ number, password: `Pw-${number}-Svc` }));
  const password = (n: string) => `Pw-${n}-Svc`;

  const collectDigits: Application = async (call) => {
    const endpoint = await call.answer();
    const seen: Array<{ digit: string; source: DigitSource }> = [];
    digits.set(call.caller, seen);
    endpoint.onDigit = (digit, source) => seen.push({ digit, source });
    await call.ended;
  };
  const sayGoodbye: Application = async (call, services) => {
    const endpoint = await call.answer();
    const goodbye = await services.sounds.load('goodbye', 'en');
    await endpoint.play(services.sounds.source(goodbye));
  };
  const recordTwoSeconds: Application = async (call) => {
    const endpoint = await call.answer();
    recordings.push(await endpoint.record(path.join(work, `recording-${call.caller}.wav`), { maxSeconds: 2 }));
  };
  const conference: Application = async (call, services) => {
    const endpoint = await call.answer();
    const room = services.conferences.room('test-room');
    assert.ok(room.join(call.id, endpoint));
    await call.ended;
    room.leave(call.id);
  };

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'sb-services-'));
    pbx = await startInProcess({
      applications: new Map([['7001', collectDigits], ['7002', sayGoodbye], ['7003', recordTwoSeconds], ['7004', conference]]),
      extensions,
      // baresip 1.0 gives up when offered a SHA-256 challenge (docs/variables.md)
      variables: '[sip]\ndigest_algorithms = MD5\n[log]\nlevel = warn\n',
    });
  });

  after(async () => {
    await pbx?.stop();
    await rm(work, { recursive: true, force: true });
  });

  function caller(number: string, scenario: string, keys: Record<string, string>): Promise<SippResult> {
    return runSipp({
      scenario: sippScenario(scenario),
      target: `${HOST}:${pbx.sipPort}`,
      injection: sippInjection([{ number, password: password(number) }]),
      keys,
      timeoutMs: 30_000,
    });
  }

  async function phone(user: string, options: { audioSource?: string; record?: boolean; codec?: 'G722' } = {}): Promise<{ phone: Baresip; recordDir: string }> {
    const recordDir = await mkdtemp(path.join(work, `rec-${user}-`));
    const p = await startBaresip({
      user,
      password: password(user),
      serverPort: pbx.sipPort,
      audioSource: options.audioSource,
      recordDir: options.record ? recordDir : undefined,
      codec: options.codec,
    });
    await p.waitRegistered();
    return { phone: p, recordDir };
  }

  it('detects DTMF from SIPp sent as RFC 4733 events and as SIP INFO', async () => {
    const result = await caller('5001', 'uac-call-dtmf', { callee: '7001' });
    assert.equal(result.code, 0, explain('caller', result));
    const seen = await until('digits', () => (digits.get('5001')?.length === 2 ? digits.get('5001') : undefined));
    assert.deepEqual(seen, [{ digit: '1', source: 'rfc4733' }, { digit: '5', source: 'info' }]);
  });

  it('detects DTMF from baresip sent in-band in the audio and as RFC 4733 events', async () => {
    // the microphone: a second of silence, then 7 and # as tones, then silence
    const rate = 8000;
    const audio = new Int16Array(rate * 4);
    let at = rate;
    for (const d of ['7', '#']) {
      const gen = new DtmfToneGenerator(d, 120, rate);
      at += gen.fill(audio.subarray(at), rate);
      at += rate / 4;
    }
    const file = path.join(work, 'dtmf-inband.wav');
    await writeFile(file, encodeWav(audio, rate));
    const { phone: p } = await phone('5002', { audioSource: file });
    try {
      assert.ok((await p.dial(`sip:7001@${HOST}:${pbx.sipPort}`)).ok);
      await p.waitEvent('CALL_ESTABLISHED', 10_000);
      await until('in-band digits', () => ((digits.get('5002')?.length ?? 0) >= 2 ? true : undefined), 8_000);
      assert.ok((await p.command('sndcode', '3')).ok);
      const seen = await until('three digits', () => ((digits.get('5002')?.length ?? 0) >= 3 ? digits.get('5002') : undefined), 5_000);
      assert.deepEqual(seen, [{ digit: '7', source: 'inband' }, { digit: '#', source: 'inband' }, { digit: '3', source: 'rfc4733' }]);
      await p.hangup();
    } finally {
      await p.stop();
    }
  });

  it('plays a prompt as correctly paced PCMU packets that decode to the prompt', async () => {
    const rtp = await RtpSocket.open();
    try {
      const result = await caller('5001', 'uac-call-callee-hangs-up', { callee: '7002', rtp_port: String(rtp.port) });
      assert.equal(result.code, 0, explain('caller (expects the BYE after the prompt)', result));
      const prompt = readWav(await readFile(path.join('sounds', 'en', 'goodbye.wav'))).samples;
      const packets = rtp.packets;
      assert.equal(packets.length, Math.ceil(prompt.length / 160), 'one packet per 20 ms of the prompt');
      const ssrc = packets[0]!.data.readUInt32BE(8);
      packets.forEach((p, i) => {
        assert.equal(p.data[0]! >> 6, 2, 'RTP version 2');
        assert.equal(p.data[1]! & 0x7f, 0, 'PCMU');
        assert.equal((p.data[1]! & 0x80) !== 0, i === 0, 'marker bit on the first packet only');
        assert.equal(p.data.readUInt32BE(8), ssrc, 'one SSRC');
        if (i > 0) {
          const prev = packets[i - 1]!.data;
          assert.equal(p.data.readUInt16BE(2), (prev.readUInt16BE(2) + 1) & 0xffff, 'sequence + 1');
          assert.equal(p.data.readUInt32BE(4), (prev.readUInt32BE(4) + 160) >>> 0, 'timestamp + 160');
        }
      });
      const spanMs = packets.at(-1)!.at - packets[0]!.at;
      const expectedMs = (packets.length - 1) * 20;
      assert.ok(Math.abs(spanMs - expectedMs) < 200, `paced in real time: ${spanMs.toFixed(0)} ms for ${expectedMs} ms of audio`);
      const decoded = Buffer.concat(packets.map((p) => p.data.subarray(12)));
      for (let i = 0; i < prompt.length; i++) {
        assert.equal(ulawToLinear(decoded[i]!), ulawToLinear(linearToUlaw(prompt[i]!)), `sample ${i} is the prompt's`);
      }
    } finally {
      rtp.close();
    }
  });

  it('records what the caller sends to a WAV file', async () => {
    const rtp = await RtpSocket.open();
    try {
      const run = caller('5003', 'uac-call-callee-hangs-up', { callee: '7003', rtp_port: String(rtp.port) });
      const serverPort = await until('the answered local call', () => pbx.server.activeCalls().find((c) => c.caller === '5003' && c.media.length > 0)?.media[0]!.caller.relayPort);
      const tone = new Int16Array(160);
      const payload = new Uint8Array(160);
      const start = performance.now();
      for (let seq = 0; seq < 150; seq++) {
        for (let i = 0; i < 160; i++) tone[i] = Math.round(12000 * Math.sin((2 * Math.PI * 440 * (seq * 160 + i)) / 8000));
        for (let i = 0; i < 160; i++) payload[i] = linearToUlaw(tone[i]!);
        rtp.socket.send(pcmuPacket(seq, 0x4444, payload), serverPort, HOST);
        // paced like a phone: to the 20 ms grid, not 20 ms after whenever the last one went
        await sleep(Math.max(0, start + (seq + 1) * 20 - performance.now()));
        if (recordings.length > 0) break;
      }
      const result = await run;
      assert.equal(result.code, 0, explain('caller', result));
      const rec = await until('the recording', () => recordings[0]);
      assert.equal(rec.stoppedBy, 'max');
      assert.ok(Math.abs(rec.seconds - 2) < 0.05, `2 s recorded (${rec.seconds})`);
      const wav = readWav(await readFile(rec.path));
      const content = toneContent(wav.samples.subarray(800), 440, wav.sampleRate);
      assert.ok(content.share > 0.9, `the recording is the 440 Hz tone (${(content.share * 100).toFixed(1)}%)`);
    } finally {
      rtp.close();
    }
  });

  it('joins three phones in a conference, one of them on G.722, where each hears the other two', async () => {
    const tones = { '5004': 440, '5005': 1000, '5006': 1700 } as const;
    const wideband = '5006';
    const parties: Array<{ phone: Baresip; recordDir: string; user: keyof typeof tones }> = [];
    try {
      for (const user of Object.keys(tones) as Array<keyof typeof tones>) {
        const g722 = user === wideband;
        const src = await soxTone(path.join(work, `conf-${user}.wav`), tones[user], 30, g722 ? 16000 : 8000);
        const { phone: p, recordDir } = await phone(user, { audioSource: src, record: true, codec: g722 ? 'G722' : undefined });
        parties.push({ phone: p, recordDir, user });
        assert.ok((await p.dial(`sip:7004@${HOST}:${pbx.sipPort}`)).ok);
        await p.waitEvent('CALL_ESTABLISHED', 10_000);
      }
      await sleep(3_000);
      for (const { phone: p } of parties) await p.hangup();
      for (const { phone: p } of parties) await p.stop();
      for (const { user, recordDir } of parties) {
        const { samples, sampleRate } = await heard(recordDir);
        assert.equal(sampleRate, user === wideband ? 16000 : 8000, `${user} decoded ${user === wideband ? 'G.722' : 'G.711'}`);
        // the last two seconds: everyone is in the room
        const tail = samples.subarray(Math.max(0, samples.length - 2 * sampleRate));
        for (const other of Object.keys(tones) as Array<keyof typeof tones>) {
          const { share } = toneContent(tail, tones[other], sampleRate);
          if (other === user) assert.ok(share < 0.02, `${user} does not hear itself (${(share * 100).toFixed(2)}%)`);
          else assert.ok(share > 0.2, `${user} hears ${other}'s ${tones[other]} Hz (${(share * 100).toFixed(1)}%)`);
        }
      }
    } finally {
      await Promise.all(parties.map(({ phone: p }) => p.stop()));
    }
  });

  it('plays music on hold to the held party of a relayed call, continuing the holder\'s stream, and restores the bridge on resume', async () => {
    // the holder is SIPp (re-INVITE a=sendonly, then a=sendrecv) whose RTP the test sends; the held phone's RTP socket is the test's
    const holderRtp = await RtpSocket.open();
    const heldRtp = await RtpSocket.open();
    const phase = 1_500;
    try {
      const held = await startSipp({
        scenario: sippScenario('uas-reinvite'),
        register: true,
        target: `${HOST}:${pbx.sipPort}`,
        injection: sippInjection([{ number: '5006', password: password('5006') }]),
        keys: { expires: '120', wait_ms: '20000', rtp_port: String(heldRtp.port) },
        timeoutMs: 30_000,
      });
      await held.waitForLog('registered 5006', 5_000);
      const run = caller('5004', 'uac-reinvite', { callee: '5006', hold_ms: String(phase), rtp_port: String(holderRtp.port) });
      const relayPort = await until('the relayed call', () => pbx.server.activeCalls().find((c) => c.caller === '5004' && c.state === 'answered')?.media[0]?.caller.relayPort);
      const voice = new Uint8Array(160).fill(0x11);
      const start = performance.now();
      for (let seq = 0; seq < 250 && performance.now() - start < 3.5 * phase; seq++) {
        holderRtp.socket.send(pcmuPacket(1000 + seq, 0x7777, voice), relayPort, HOST);
        await sleep(Math.max(0, start + (seq + 1) * 20 - performance.now()));
      }
      assert.equal((await run).code, 0);
      assert.equal((await held.done).code, 0);

      const packets = heldRtp.packets.map((p) => p.data);
      const isVoice = (p: Buffer) => p.subarray(12).every((b) => b === 0x11);
      const firstMusic = packets.findIndex((p) => !isVoice(p));
      const resumed = packets.findIndex((p, i) => i > firstMusic && isVoice(p));
      assert.ok(firstMusic > 20, `the held party first hears the holder (${firstMusic} packets)`);
      assert.ok(resumed - firstMusic > 40, `then music for the hold (${resumed - firstMusic} packets)`);
      assert.ok(packets.length - resumed > 20, `then the holder again after the resume (${packets.length - resumed} packets)`);
      const music = packets.slice(firstMusic, resumed);
      assert.ok(music.every((p) => !isVoice(p)), 'nothing of the holder leaks into the hold');
      const moh = readWav(await readFile(path.join('sounds', 'moh', 'default.wav'))).samples;
      music.slice(0, 25).forEach((p, i) => {
        for (let j = 0; j < 160; j++) {
          assert.equal(ulawToLinear(p[12 + j]!), ulawToLinear(linearToUlaw(moh[i * 160 + j]!)), `music packet ${i} sample ${j}`);
        }
      });
      const before = packets[firstMusic - 1]!;
      const first = packets[firstMusic]!;
      assert.equal(first.readUInt32BE(8), 0x7777, 'the music continues the holder\'s SSRC');
      assert.equal(first.readUInt16BE(2), (before.readUInt16BE(2) + 1) & 0xffff, 'and its sequence numbers');
    } finally {
      holderRtp.close();
      heldRtp.close();
    }
  });

  it('answers the echo test (*43) with a beep, then sends the caller its own audio back', async () => {
    const rtp = await RtpSocket.open();
    try {
      const run = caller('5001', 'uac-call', { callee: '*43', rtp_port: String(rtp.port), hold_ms: '2500' });
      const serverPort = await until('the echo test call', () => pbx.server.activeCalls().find((c) => c.callee === '*43' && c.media.length > 0)?.media[0]!.caller.relayPort);
      await sleep(600);
      const afterBeep = rtp.packets.length;
      assert.ok(afterBeep >= 10, `the beep came first (${afterBeep} packets)`);
      const payload = new Uint8Array(160);
      const start = performance.now();
      for (let seq = 0; seq < 25; seq++) {
        for (let i = 0; i < 160; i++) payload[i] = linearToUlaw(Math.round(8000 * Math.sin((2 * Math.PI * 600 * (seq * 160 + i)) / 8000)));
        rtp.socket.send(pcmuPacket(seq, 0x5555, payload), serverPort, HOST);
        await sleep(Math.max(0, start + (seq + 1) * 20 - performance.now()));
      }
      await sleep(300);
      const echoed = rtp.packets.slice(afterBeep).map((p) => p.data.subarray(12));
      const pcm = new Int16Array(echoed.length * 160);
      echoed.forEach((p, i) => p.forEach((b, j) => (pcm[i * 160 + j] = ulawToLinear(b))));
      assert.ok(toneContent(pcm, 600).share > 0.8, 'the caller hears its 600 Hz tone back');
      assert.equal((await run).code, 0);
    } finally {
      rtp.close();
    }
  });
});
