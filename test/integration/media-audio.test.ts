// Real audio through the relay: two baresip phones, each sending a test tone from a WAV file and
// recording what it hears, call each other through Switchboard — on loopback, and with one phone behind
// a NAT built from network namespaces that advertises its private address in SDP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { readWav } from '../../src/media/wav.js';
import { startBaresip, type Baresip, type BaresipOptions } from '../support/baresip.js';
import { bridgeTcpToUnix, createNatTopology, netnsAvailable, type NatRole, type NatTopology } from '../support/netns.js';
import { startSwitchboard, type Switchboard } from '../support/server.js';
import { toneContent } from '../support/tone-measure.js';

const execFileAsync = promisify(execFile);
const CALLER_TONE_HZ = 440;
const CALLEE_TONE_HZ = 1000;
const TALK_MS = 3_000;

async function makeTone(dir: string, hz: number): Promise<string> {
  const file = path.join(dir, `tone-${hz}.wav`);
  await execFileAsync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', file, 'synth', '30', 'sine', String(hz), 'vol', '0.5']);
  return file;
}

/** What a phone heard: its sndfile recording of decoded audio, with the silence before media trimmed. */
async function heard(recordDir: string): Promise<Int16Array> {
  const files = (await readdir(recordDir)).filter((f) => f.endsWith('-dec.wav'));
  assert.equal(files.length, 1, `one received-audio recording in ${recordDir}: ${files.join(', ')}`);
  const wav = readWav(await readFile(path.join(recordDir, files[0]!)));
  assert.equal(wav.sampleRate, 8000);
  const first = wav.samples.findIndex((s) => Math.abs(s) > 1000);
  assert.ok(first >= 0, 'the recording is not silent');
  return wav.samples.subarray(first);
}

function assertHearsTone(samples: Int16Array, hz: number, other: number, who: string): void {
  assert.ok(samples.length >= 8000, `${who} heard at least a second of audio (${samples.length} samples)`);
  const wanted = toneContent(samples, hz, 8000);
  const unwanted = toneContent(samples, other, 8000);
  assert.ok(wanted.share > 0.8, `${who} hears ${hz} Hz: ${(wanted.share * 100).toFixed(1)}% of the energy`);
  assert.ok(unwanted.share < 0.01, `${who} does not hear its own ${other} Hz: ${(unwanted.share * 100).toFixed(2)}%`);
  assert.ok(wanted.dbfs > -20 && wanted.dbfs < 0, `${who}: level ${wanted.dbfs.toFixed(1)} dBFS`);
}

interface Phones {
  caller: Baresip;
  callee: Baresip;
  callerRecordings: string;
  calleeRecordings: string;
}

/** caller dials callee, callee answers, they talk, caller hangs up; both are stopped so the recordings are complete. */
async function talk(phones: Phones, calleeUri: string): Promise<void> {
  const { caller, callee } = phones;
  const dialled = await caller.dial(calleeUri);
  assert.ok(dialled.ok, dialled.data);
  await callee.waitEvent('CALL_INCOMING', 10_000);
  const accepted = await callee.accept();
  assert.ok(accepted.ok, accepted.data);
  await caller.waitEvent('CALL_ESTABLISHED', 10_000);
  await callee.waitEvent('CALL_ESTABLISHED', 10_000);
  await new Promise((resolve) => setTimeout(resolve, TALK_MS));
  await caller.hangup();
  await callee.waitEvent('CALL_CLOSED', 10_000);
  await caller.stop();
  await callee.stop();
}

describe('audio through the relay (baresip)', { timeout: 120_000 }, () => {
  let work: string;
  let callerTone: string;
  let calleeTone: string;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'sb-audio-'));
    callerTone = await makeTone(work, CALLER_TONE_HZ);
    calleeTone = await makeTone(work, CALLEE_TONE_HZ);
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function recordDir(name: string): Promise<string> {
    return mkdtemp(path.join(work, `${name}-`));
  }

  /** baresip 1.0 gives up when offered a SHA-256 challenge it cannot answer (docs/variables.md). */
  async function dataDirFor(name: string): Promise<string> {
    const dir = await mkdtemp(path.join(work, `${name}-`));
    await writeFile(path.join(dir, 'mss_var_param.ini'), '[sip]\ndigest_algorithms = MD5\n');
    return dir;
  }

  it('two phones on loopback hear each other\'s tone', async () => {
    const dataDir = await dataDirFor('data');
    const server = await startSwitchboard({ dataDir });
    const phones: Baresip[] = [];
    try {
      await server.createExtension('3101', 'Pw-3101-Tone');
      await server.createExtension('3102', 'Pw-3102-Tone');
      const callerRecordings = await recordDir('caller');
      const calleeRecordings = await recordDir('callee');
      const caller = await startBaresip({ user: '3101', password: 'Pw-3101-Tone', serverPort: server.sipPort, audioSource: callerTone, recordDir: callerRecordings });
      phones.push(caller);
      const callee = await startBaresip({ user: '3102', password: 'Pw-3102-Tone', serverPort: server.sipPort, audioSource: calleeTone, recordDir: calleeRecordings });
      phones.push(callee);
      await caller.waitRegistered();
      await callee.waitRegistered();
      await talk({ caller, callee, callerRecordings, calleeRecordings }, `sip:3102@127.0.0.1:${server.sipPort}`);
      assertHearsTone(await heard(calleeRecordings), CALLER_TONE_HZ, CALLEE_TONE_HZ, 'the callee');
      assertHearsTone(await heard(callerRecordings), CALLEE_TONE_HZ, CALLER_TONE_HZ, 'the caller');
    } finally {
      await Promise.all(phones.map((p) => p.stop()));
      await server.stop();
    }
  });

  it('a phone behind NAT that advertises its private address hears and is heard', async () => {
    assert.equal(await netnsAvailable(), undefined, 'this test builds network namespaces: it needs root, ip and iptables');
    const net: NatTopology = await createNatTopology();
    const phones: Baresip[] = [];
    let server: Switchboard | undefined;
    try {
      const dataDir = await dataDirFor('nat-data');
      const domain = net.serverAddress;
      // the relay must not be told the phone's address some other way: only its own packets reveal it
      server = await startSwitchboard({
        dataDir,
        host: net.serverAddress,
        namespace: {
          commandPrefix: net.commandPrefix('server'),
          openApiSocket: (port) => bridgeTcpToUnix(net.namespace('server'), port, net.serverAddress),
        },
      });
      await server.createExtension('3201', 'Pw-3201-Nat');
      await server.createExtension('3202', 'Pw-3202-Nat');
      const inside = (role: NatRole, host: string): Pick<BaresipOptions, 'namespace' | 'host' | 'domain'> => ({
        host,
        domain,
        namespace: { commandPrefix: net.commandPrefix(role), openControlSocket: (port) => bridgeTcpToUnix(net.namespace(role), port) },
      });
      const callerRecordings = await recordDir('nat-caller');
      const calleeRecordings = await recordDir('nat-callee');
      const caller = await startBaresip({
        user: '3201', password: 'Pw-3201-Nat', serverPort: server.sipPort, audioSource: callerTone, recordDir: callerRecordings,
        ...inside('phone', net.phonePrivateAddress),
      });
      phones.push(caller);
      const callee = await startBaresip({
        user: '3202', password: 'Pw-3202-Nat', serverPort: server.sipPort, audioSource: calleeTone, recordDir: calleeRecordings,
        ...inside('public', net.publicPhoneAddress),
      });
      phones.push(callee);
      await caller.waitRegistered();
      await callee.waitRegistered();

      const calls = server.api<Array<{ media: Array<{ caller: { sendsTo: { address: string; latched: boolean } | null } }> }>>;
      const dialled = await caller.dial(`sip:3202@${domain}:${server.sipPort}`);
      assert.ok(dialled.ok, dialled.data);
      await callee.waitEvent('CALL_INCOMING', 10_000);
      await callee.accept();
      await caller.waitEvent('CALL_ESTABLISHED', 10_000);
      await new Promise((resolve) => setTimeout(resolve, TALK_MS));
      const active = await calls('GET', '/api/v1/calls');
      assert.deepEqual(
        { address: active.body[0]?.media[0]?.caller.sendsTo?.address, latched: active.body[0]?.media[0]?.caller.sendsTo?.latched },
        { address: net.natPublicAddress, latched: true },
        'media to the phone behind NAT goes to the router\'s public address it came from',
      );
      await caller.hangup();
      await callee.waitEvent('CALL_CLOSED', 10_000);
      await caller.stop();
      await callee.stop();
      assertHearsTone(await heard(calleeRecordings), CALLER_TONE_HZ, CALLEE_TONE_HZ, 'the public callee');
      assertHearsTone(await heard(callerRecordings), CALLEE_TONE_HZ, CALLER_TONE_HZ, 'the caller behind NAT');
    } finally {
      await Promise.all(phones.map((p) => p.stop()));
      await server?.stop();
      await net.destroy();
    }
  });
});
