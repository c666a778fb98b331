import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../support/repo-root.js';

interface CountingRange {
  from: number;
  to: number;
  say: string[];
}

interface SoundsManifest {
  languages: Record<string, { name: string; voice: string }>;
  prompts: Record<string, Record<string, string>>;
  counting: { rule: string; languages: Record<string, CountingRange[]> };
}

interface PcmWav {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  samples: Int16Array;
}

const soundsDir = path.join(repoRoot, 'sounds');
const script = path.join(repoRoot, 'scripts', 'generate-sounds.sh');
const manifest = JSON.parse(readFileSync(path.join(soundsDir, 'prompts.json'), 'utf8')) as SoundsManifest;
const languages = Object.keys(manifest.languages).sort();
const WAVE_FORMAT_PCM = 1;
// -50 dBFS: what counts as silence when checking the trimmed ends.
const SILENCE_LEVEL = 100;

/** Reads a RIFF/WAVE file chunk by chunk, so files with extra chunks (LIST, fact) still parse. */
function readPcmWav(file: Buffer): PcmWav {
  assert.equal(file.toString('latin1', 0, 4), 'RIFF');
  assert.equal(file.toString('latin1', 8, 12), 'WAVE');
  let fmt: Omit<PcmWav, 'samples'> | undefined;
  let offset = 12;
  while (offset + 8 <= file.length) {
    const id = file.toString('latin1', offset, offset + 4);
    const size = file.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      fmt = {
        format: file.readUInt16LE(body),
        channels: file.readUInt16LE(body + 2),
        sampleRate: file.readUInt32LE(body + 4),
        bitsPerSample: file.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      assert.ok(fmt, 'fmt chunk before data');
      const data = file.subarray(body, body + size);
      const samples = new Int16Array(data.length >> 1);
      for (let i = 0; i < samples.length; i++) samples[i] = data.readInt16LE(i * 2);
      return { ...fmt, samples };
    }
    offset = body + size + (size & 1);
  }
  throw new Error('no data chunk');
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length) / 32768;
}

function peak(samples: Int16Array): number {
  let max = 0;
  for (const s of samples) max = Math.max(max, Math.abs(s));
  return max / 32768;
}

function quietSecondsAtEnds(samples: Int16Array, sampleRate: number): { lead: number; trail: number } {
  const first = samples.findIndex((s) => Math.abs(s) > SILENCE_LEVEL);
  let last = samples.length - 1;
  while (last >= 0 && Math.abs(samples[last]!) <= SILENCE_LEVEL) last--;
  return { lead: first / sampleRate, trail: (samples.length - 1 - last) / sampleRate };
}

/** What a service plays for a count, following the manifest's counting rule. */
function promptsForCount(lang: string, count: number): string[] {
  const ranges = manifest.counting.languages[lang]!.filter((r) => r.from <= count && count <= r.to);
  assert.equal(ranges.length, 1, `${lang}: exactly one counting range holds ${count}`);
  const tens = Math.floor(count / 10);
  const units = count % 10;
  return ranges[0]!.say
    .filter((name) => !(name.includes('{units}') && units === 0))
    .map((name) =>
      name.replace('{n}', String(count)).replace('{tens}', String(tens)).replace('{units}', String(units)),
    );
}

/** Problems with one telephone-band prompt or music file, as readable lines. */
function problemsWith(label: string, wav: PcmWav, minSeconds: number, maxSeconds: number): string[] {
  const problems: string[] = [];
  if (wav.format !== WAVE_FORMAT_PCM || wav.channels !== 1 || wav.sampleRate !== 8000 || wav.bitsPerSample !== 16) {
    problems.push(`${label}: format ${wav.format}, ${wav.channels} ch, ${wav.sampleRate} Hz, ${wav.bitsPerSample} bit`);
  }
  const seconds = wav.samples.length / wav.sampleRate;
  if (seconds < minSeconds || seconds > maxSeconds) problems.push(`${label}: lasts ${seconds} s`);
  if (rms(wav.samples) < 0.02) problems.push(`${label}: RMS ${rms(wav.samples)} is close to silence`);
  return problems;
}

const requiredPrompts = [
  'welcome', 'enter-extension', 'welcome-enter-extension', 'vm-leave-message', 'vm-greeting-unavailable',
  'vm-enter-mailbox', 'vm-enter-pin', 'vm-wrong-pin', 'vm-you-have', 'vm-new-messages', 'vm-new-message',
  'vm-saved-messages', 'vm-no-messages', 'vm-main-menu', 'vm-message-menu', 'vm-deleted', 'vm-saved',
  'vm-record-greeting', 'vm-greeting-saved', 'vm-enter-new-pin', 'vm-pin-changed', 'invalid-entry',
  'please-try-again', 'goodbye', 'conf-enter-pin', 'conf-wrong-pin', 'conf-full', 'conf-joined',
  'conf-only-person', 'parked-at', 'park-slot-empty', 'call-restricted', 'transfer', 'please-hold', 'queue-wait', 'queue-position',
  'not-available', 'busy', 'number-not-in-service', 'digit-star', 'digit-pound',
  ...Array.from({ length: 10 }, (_, d) => `digit-${d}`),
];

test('the manifest names every prompt services rely on, in kebab-case, with a text per language', () => {
  assert.deepEqual(languages, ['en', 'zh']);
  for (const name of requiredPrompts) assert.ok(manifest.prompts[name], `prompt ${name} is missing`);
  for (const [name, texts] of Object.entries(manifest.prompts)) {
    assert.match(name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
    assert.deepEqual(Object.keys(texts).sort(), languages, `${name} has a text for each language`);
  }
});

for (const lang of languages) {
  test(`every ${lang} prompt is an 8 kHz mono 16-bit WAV of speech, trimmed and at -3 dBFS peak`, async () => {
    const problems: string[] = [];
    for (const name of Object.keys(manifest.prompts)) {
      const label = `${lang}/${name}.wav`;
      const wav = readPcmWav(await readFile(path.join(soundsDir, lang, `${name}.wav`)));
      problems.push(...problemsWith(label, wav, 0.2, 12));
      const peakDb = 20 * Math.log10(peak(wav.samples));
      if (peakDb < -4 || peakDb > -2) problems.push(`${label}: peak ${peakDb.toFixed(1)} dBFS`);
      const { lead, trail } = quietSecondsAtEnds(wav.samples, wav.sampleRate);
      if (lead > 0.15 || trail > 0.15) problems.push(`${label}: ${lead} s of silence before, ${trail} s after`);
    }
    assert.deepEqual(problems, []);
  });

  test(`sounds/${lang} holds no prompt the manifest does not name`, async () => {
    const stray = (await readdir(path.join(soundsDir, lang))).filter(
      (file) => !(file.endsWith('.wav') && manifest.prompts[file.slice(0, -'.wav'.length)]),
    );
    assert.deepEqual(stray, []);
  });

  test(`${lang} can say every count from 0 to 99 with shipped prompts`, () => {
    for (let count = 0; count <= 99; count++) {
      for (const name of promptsForCount(lang, count)) {
        assert.ok(manifest.prompts[name], `${lang} ${count}: no prompt ${name}`);
      }
    }
  });
}

test('counts compose as documented: tens words in English, digit + ten + digit in Chinese', () => {
  assert.deepEqual(promptsForCount('en', 23), ['number-20', 'digit-3']);
  assert.deepEqual(promptsForCount('en', 20), ['number-20']);
  assert.deepEqual(promptsForCount('en', 13), ['number-13']);
  assert.deepEqual(promptsForCount('zh', 23), ['digit-2', 'number-10', 'digit-3']);
  assert.deepEqual(promptsForCount('zh', 10), ['number-10']);
  assert.deepEqual(promptsForCount('zh', 2), ['number-2']);
  assert.deepEqual(promptsForCount('zh', 22), ['digit-2', 'number-10', 'digit-2']);
});

test('the default music on hold lasts 20-60 s and starts and ends quietly, so it loops without a click', async () => {
  const wav = readPcmWav(await readFile(path.join(soundsDir, 'moh', 'default.wav')));
  assert.deepEqual(problemsWith('moh/default.wav', wav, 20, 60), []);
  const edge = wav.sampleRate / 50;
  assert.ok(peak(wav.samples.subarray(0, edge)) < 0.05, 'first 20 ms quiet');
  assert.ok(peak(wav.samples.subarray(-edge)) < 0.05, 'last 20 ms quiet');
});

test('the script regenerates prompts and music on hold byte for byte', async () => {
  const outDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-sounds-'));
  try {
    await promisify(execFile)('bash', [script, '-o', outDir, 'vm-you-have', 'moh'], { timeout: 60_000 });
    const files = [...languages.map((lang) => path.join(lang, 'vm-you-have.wav')), path.join('moh', 'default.wav')];
    for (const file of files) {
      const fresh = await readFile(path.join(outDir, file));
      const committed = await readFile(path.join(soundsDir, file));
      assert.ok(
        fresh.equals(committed),
        `${file} differs from the committed one: regenerate, or compare tool versions with docs/sounds.md`,
      );
    }
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
});
