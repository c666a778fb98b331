// Prompt and music files by name: data-directory overrides, language fallback, name checks, and the
// decode cache that follows changes on disk.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  InvalidSoundNameError,
  SoundLibrary,
  SoundNotFoundError,
  type SoundLibraryOptions,
} from '../../src/media/sound-library.js';
import { encodeWav, WavFormatError } from '../../src/media/wav.js';
import { repoRoot } from '../support/repo-root.js';

/** A short file whose samples say which file it is. */
function marked(marker: number, samples = 8, sampleRate = 8000): Buffer {
  return encodeWav(Int16Array.from({ length: samples }, (_, i) => marker * 100 + i), sampleRate);
}

async function put(dir: string, relative: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return file;
}

function markerOf(samples: Int16Array): number {
  return Math.floor(samples[0]! / 100);
}

describe('SoundLibrary', () => {
  let root: string;
  let shippedDir: string;
  let overrideDir: string;
  let caseNumber = 0;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'sound-library-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Fresh shipped and override directories for every test, so no test sees another's files. */
  function library(options: Partial<SoundLibraryOptions> = {}): SoundLibrary {
    caseNumber++;
    shippedDir = path.join(root, `case-${caseNumber}`, 'shipped');
    overrideDir = path.join(root, `case-${caseNumber}`, 'data', 'sounds');
    return new SoundLibrary({ shippedDir, overrideDir, defaultLanguage: 'en', ...options });
  }

  it('takes the data directory file over the shipped one', async () => {
    const sounds = library();
    await put(shippedDir, 'en/welcome.wav', marked(1));
    assert.equal(markerOf((await sounds.load('welcome', 'en')).samples), 1);
    await put(overrideDir, 'en/welcome.wav', marked(2));
    assert.equal(markerOf((await sounds.load('welcome', 'en')).samples), 2);
  });

  it('works without a data directory', async () => {
    const sounds = library();
    await put(shippedDir, 'en/goodbye.wav', marked(3));
    const sound = await sounds.load('goodbye');
    assert.equal(sound.sampleRate, 8000);
    assert.deepEqual([...sound.samples], [300, 301, 302, 303, 304, 305, 306, 307]);
  });

  it('prefers the asked-for language, shipped or overridden, over the default language', async () => {
    const sounds = library();
    await put(overrideDir, 'en/busy.wav', marked(1));
    await put(shippedDir, 'de/busy.wav', marked(2));
    assert.equal(markerOf((await sounds.load('busy', 'de')).samples), 2);
    await put(overrideDir, 'de/busy.wav', marked(3));
    assert.equal(markerOf((await sounds.load('busy', 'de')).samples), 3);
  });

  it('falls back to the default language, override first', async () => {
    const sounds = library();
    await put(shippedDir, 'en/busy.wav', marked(1));
    assert.equal(markerOf((await sounds.load('busy', 'de')).samples), 1);
    await put(overrideDir, 'en/busy.wav', marked(2));
    assert.equal(markerOf((await sounds.load('busy', 'de')).samples), 2);
  });

  it('names the prompt, the language and every file it looked for when nothing is found', async () => {
    const sounds = library();
    const error = await sounds.load('no-such-prompt', 'de').then(
      () => assert.fail('load should fail'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof SoundNotFoundError);
    const expected = [
      path.join(overrideDir, 'de', 'no-such-prompt.wav'),
      path.join(shippedDir, 'de', 'no-such-prompt.wav'),
      path.join(overrideDir, 'en', 'no-such-prompt.wav'),
      path.join(shippedDir, 'en', 'no-such-prompt.wav'),
    ];
    assert.deepEqual(error.searched, expected);
    assert.match(error.message, /prompt "no-such-prompt" in language "de" not found/);
    for (const file of expected) assert.ok(error.message.includes(file), `message names ${file}`);
  });

  it('looks in the default language only once when that is the language asked for', async () => {
    const sounds = library();
    const error = await sounds.load('missing').catch((e: unknown) => e);
    assert.ok(error instanceof SoundNotFoundError);
    assert.deepEqual(error.searched, [path.join(overrideDir, 'en', 'missing.wav'), path.join(shippedDir, 'en', 'missing.wav')]);
  });

  it('rejects names and languages that are not kebab-case before touching the disk', async () => {
    const sounds = library();
    // What the first name would reach from <shipped>/en if it were taken as a path.
    await put(path.dirname(shippedDir), 'secret.wav', marked(9));
    for (const name of ['../../secret', '../secret', 'en/welcome', 'a\\b', '..', '.hidden', 'welcome.wav', 'Welcome', '', '-x', 'x-', 'a--b', 'a b']) {
      await assert.rejects(sounds.load(name), InvalidSoundNameError, `name ${JSON.stringify(name)}`);
    }
    for (const language of ['..', '../..', 'en/..', 'EN', '']) {
      await assert.rejects(sounds.load('welcome', language), InvalidSoundNameError, `language ${JSON.stringify(language)}`);
    }
    await assert.rejects(sounds.load('../x'), /invalid sound name "\.\.\/x"/);
    assert.throws(() => library({ defaultLanguage: '../en' }), InvalidSoundNameError);
  });

  it('returns the cached decode while the file is unchanged and reads it again after it changed', async () => {
    const sounds = library();
    const file = await put(shippedDir, 'en/welcome.wav', marked(1));
    const first = await sounds.load('welcome');
    assert.equal(await sounds.load('welcome'), first, 'second load is served from the cache');
    // Same size, new content: only the mtime tells.
    await writeFile(file, marked(2));
    const later = new Date(Date.now() + 60_000);
    await utimes(file, later, later);
    const second = await sounds.load('welcome');
    assert.notEqual(second, first);
    assert.equal(markerOf(second.samples), 2);
    assert.equal(await sounds.load('welcome'), second);
  });

  it('shares one read between loads that overlap', async () => {
    const sounds = library();
    await put(shippedDir, 'en/welcome.wav', marked(4));
    const [a, b] = await Promise.all([sounds.load('welcome'), sounds.load('welcome')]);
    assert.equal(a, b);
  });

  it('drops the least recently used decodes beyond its memory limit', async () => {
    // Each file is 1000 samples (2000 bytes): two fit, three do not.
    const sounds = library({ cacheLimitBytes: 4000 });
    for (const [i, name] of ['one', 'two', 'three'].entries()) await put(shippedDir, `en/${name}.wav`, marked(i, 1000));
    const one = await sounds.load('one');
    const two = await sounds.load('two');
    assert.equal(await sounds.load('one'), one, 'one is now the most recently used');
    await sounds.load('three');
    assert.equal(await sounds.load('one'), one, 'one was kept');
    assert.notEqual(await sounds.load('two'), two, 'two was dropped and read again');
  });

  it('does not keep a file larger than the whole limit', async () => {
    const sounds = library({ cacheLimitBytes: 1000 });
    await put(shippedDir, 'en/long.wav', marked(1, 1000));
    const first = await sounds.load('long');
    assert.equal(first.samples.length, 1000);
    assert.notEqual(await sounds.load('long'), first);
  });

  it('says which file is broken or has a rate no codec takes', async () => {
    const sounds = library();
    const broken = await put(overrideDir, 'en/broken.wav', Buffer.from('not a wav file at all'));
    await assert.rejects(sounds.load('broken'), (e: unknown) => e instanceof WavFormatError && e.message.startsWith(`${broken}: `));
    const cd = await put(overrideDir, 'en/cd.wav', marked(1, 8, 44100));
    await assert.rejects(sounds.load('cd'), (e: unknown) => e instanceof WavFormatError && e.message.includes(cd) && /44100 Hz/.test(e.message));
  });

  it('plays 16 kHz files as they are', async () => {
    const sounds = library();
    await put(overrideDir, 'en/wideband.wav', marked(5, 16, 16000));
    const sound = await sounds.load('wideband');
    assert.equal(sound.sampleRate, 16000);
    assert.equal(sound.samples.length, 16);
  });

  it('skips a directory where a file is expected', async () => {
    const sounds = library();
    await mkdir(path.join(overrideDir, 'en', 'welcome.wav'), { recursive: true });
    await put(shippedDir, 'en/welcome.wav', marked(6));
    assert.equal(markerOf((await sounds.load('welcome')).samples), 6);
  });

  it('takes the music on hold from the data directory over the shipped one', async () => {
    const sounds = library();
    const error = await sounds.musicOnHold().catch((e: unknown) => e);
    assert.ok(error instanceof SoundNotFoundError);
    assert.deepEqual(error.searched, [path.join(overrideDir, 'moh', 'default.wav'), path.join(shippedDir, 'moh', 'default.wav')]);
    assert.match(error.message, /^music on hold not found/);
    await put(shippedDir, 'moh/default.wav', marked(1));
    assert.equal(markerOf((await sounds.musicOnHold()).samples), 1);
    await put(overrideDir, 'moh/default.wav', marked(2));
    assert.equal(markerOf((await sounds.musicOnHold()).samples), 2);
  });

  it('hands out sources with their own position, looping when asked', async () => {
    const sounds = library();
    await put(shippedDir, 'en/short.wav', marked(7, 4));
    const sound = await sounds.load('short');
    const once = sounds.source(sound);
    const looping = sounds.source(sound, { loop: true });
    assert.equal(once.sampleRate, 8000);
    const out = new Int16Array(10);
    assert.equal(once.read(out, 10), 4);
    assert.deepEqual([...out.subarray(0, 4)], [700, 701, 702, 703]);
    assert.equal(once.read(out, 10), 0);
    assert.equal(looping.read(out, 10), 10);
    assert.deepEqual([...out], [700, 701, 702, 703, 700, 701, 702, 703, 700, 701]);
  });
});

describe('the shipped sounds', () => {
  const sounds = new SoundLibrary({
    shippedDir: SoundLibrary.shippedSoundsDir(),
    overrideDir: path.join(os.tmpdir(), 'switchboard-no-such-data-dir', 'sounds'),
    defaultLanguage: 'en',
  });

  it('are found from the module location', () => {
    assert.equal(path.resolve(SoundLibrary.shippedSoundsDir()), path.join(repoRoot, 'sounds'));
  });

  it('have goodbye in English and in Chinese, different recordings at 8 kHz', async () => {
    const english = await sounds.load('goodbye', 'en');
    const chinese = await sounds.load('goodbye', 'zh');
    assert.equal(english.sampleRate, 8000);
    assert.equal(chinese.sampleRate, 8000);
    assert.ok(english.samples.length > 4000, 'at least half a second');
    assert.ok(chinese.samples.length > 4000, 'at least half a second');
    assert.notDeepEqual(english.samples, chinese.samples);
  });

  it('fall back to English for a language that is not shipped', async () => {
    const english = await sounds.load('welcome', 'en');
    assert.equal(await sounds.load('welcome', 'de'), english);
  });

  it('have 30 s of music on hold', async () => {
    const music = await sounds.musicOnHold();
    assert.equal(music.sampleRate, 8000);
    assert.equal(music.samples.length, 30 * 8000);
  });
});
