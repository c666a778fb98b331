// WAV reading against files sox writes and files built chunk by chunk, encodeWav round trips, and
// WavFileWriter recordings checked by readWav and by soxi.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeWav, readWav, WavFileWriter, WavFormatError } from '../../src/media/wav.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-wav-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sox(...args: string[]): void {
  execFileSync('sox', args, { stdio: 'pipe' });
}

function soxi(flag: string, path: string): string {
  return execFileSync('soxi', [flag, path], { encoding: 'utf8' }).trim();
}

/** What sox itself decodes a file to: interleaved 16-bit samples. */
function soxDecode(path: string): Int16Array {
  const raw = execFileSync('sox', [path, '-t', 'raw', '-e', 'signed-integer', '-b', '16', '-L', '-']);
  const samples = new Int16Array(raw.length / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = raw.readInt16LE(2 * i);
  return samples;
}

/** Frequency from the count of sign changes: two per period. */
function zeroCrossingFrequency(samples: Int16Array, sampleRate: number): number {
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i - 1] < 0 !== samples[i] < 0) crossings++;
  return (crossings / 2) * (sampleRate / (samples.length - 1));
}

function testSignal(count: number): Int16Array {
  const samples = new Int16Array(count);
  let seed = 7;
  for (let i = 0; i < count; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    samples[i] = Math.round(9000 * Math.sin(i / 5)) + ((seed >> 16) & 0x3fff) - 8192;
  }
  samples.set([32767, -32768, 0, -1, 1], 0);
  return samples;
}

/** A RIFF/WAVE file from chunks given as [id, body], padding odd bodies as RIFF requires. */
function riff(chunks: [string, Uint8Array][]): Buffer {
  const parts = chunks.map(([id, body]) => {
    const header = Buffer.alloc(8);
    header.write(id, 0, 'latin1');
    header.writeUInt32LE(body.length, 4);
    return Buffer.concat([header, body, Buffer.alloc(body.length & 1)]);
  });
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + parts.reduce((sum, part) => sum + part.length, 0), 4);
  head.write('WAVE', 8, 'latin1');
  return Buffer.concat([head, ...parts]);
}

function fmt(format: number, channels: number, sampleRate: number, bitsPerSample: number): Buffer {
  const body = Buffer.alloc(16);
  const blockAlign = (channels * bitsPerSample) / 8;
  body.writeUInt16LE(format, 0);
  body.writeUInt16LE(channels, 2);
  body.writeUInt32LE(sampleRate, 4);
  body.writeUInt32LE(sampleRate * blockAlign, 8);
  body.writeUInt16LE(blockAlign, 12);
  body.writeUInt16LE(bitsPerSample, 14);
  return body;
}

function pcm16(samples: number[]): Buffer {
  const body = Buffer.alloc(samples.length * 2);
  samples.forEach((sample, i) => body.writeInt16LE(sample, 2 * i));
  return body;
}

function assertWavError(bytes: Uint8Array, message: string): void {
  assert.throws(
    () => readWav(bytes),
    (error: unknown) => error instanceof WavFormatError && error.message === message,
    `expected WavFormatError "${message}"`,
  );
}

describe('encodeWav and readWav', () => {
  it('round-trips 16-bit PCM, extremes included, behind a 44-byte canonical header', () => {
    const samples = testSignal(1001);
    const file = encodeWav(samples, 16000);
    assert.equal(file.length, 44 + 2 * samples.length);
    assert.equal(file.toString('latin1', 0, 4), 'RIFF');
    assert.equal(file.readUInt32LE(4), file.length - 8);
    assert.equal(file.readUInt16LE(20), 1);
    assert.equal(file.readUInt16LE(22), 1);
    assert.equal(file.readUInt32LE(24), 16000);
    assert.equal(file.readUInt32LE(28), 32000);
    assert.equal(file.readUInt32LE(40), 2 * samples.length);
    assert.deepEqual(readWav(file), { sampleRate: 16000, samples });
  });

  it('writes files that sox reads as the same samples', () => {
    const samples = testSignal(800);
    const path = join(dir, 'encoded.wav');
    writeFileSync(path, encodeWav(samples, 8000));
    assert.deepEqual([soxi('-r', path), soxi('-c', path), soxi('-s', path)], ['8000', '1', '800']);
    assert.deepEqual(soxDecode(path), samples);
  });
});

describe('readWav', () => {
  for (const [encoding, label] of [
    ['u-law', 'µ-law'],
    ['a-law', 'A-law'],
  ]) {
    it(`decodes a ${label} file from sox to its 440 Hz tone, sample for sample as sox does`, () => {
      const path = join(dir, `${encoding}.wav`);
      sox('-n', '-r', '8000', '-e', encoding, path, 'synth', '0.5', 'sine', '440');
      const wav = readWav(readFileSync(path));
      assert.equal(wav.sampleRate, 8000);
      assert.equal(wav.samples.length, 4000);
      assert.ok(Math.abs(zeroCrossingFrequency(wav.samples, 8000) - 440) < 3);
      assert.deepEqual(wav.samples, soxDecode(path));
    });
  }

  it('mixes a stereo file down to the average of its channels', () => {
    const path = join(dir, 'stereo.wav');
    sox('-n', '-r', '16000', '-b', '16', '-c', '2', path, 'synth', '0.25', 'sine', '440', 'sine', '1000');
    const interleaved = soxDecode(path);
    const wav = readWav(readFileSync(path));
    assert.equal(wav.sampleRate, 16000);
    assert.equal(wav.samples.length, 4000);
    const expected = new Int16Array(4000);
    for (let i = 0; i < expected.length; i++) expected[i] = Math.floor((interleaved[2 * i] + interleaved[2 * i + 1]) / 2);
    assert.deepEqual(wav.samples, expected);
  });

  it('skips unknown chunks, odd-sized ones with their padding byte included', () => {
    const file = riff([
      ['LIST', Buffer.from('INFOx')],
      ['fmt ', fmt(1, 1, 8000, 16)],
      ['junk', Buffer.from([1, 2, 3])],
      ['data', pcm16([100, -200, 300])],
      ['cue ', Buffer.alloc(5)],
    ]);
    assert.deepEqual(readWav(file), { sampleRate: 8000, samples: Int16Array.of(100, -200, 300) });
  });

  it('reads WAVE_FORMAT_EXTENSIBLE by its sub-format', () => {
    const extensible = Buffer.alloc(40);
    fmt(0xfffe, 1, 16000, 16).copy(extensible);
    extensible.writeUInt16LE(22, 16);
    extensible.writeUInt16LE(16, 18);
    extensible.writeUInt16LE(1, 24);
    const file = riff([
      ['fmt ', extensible],
      ['data', pcm16([5, -6])],
    ]);
    assert.deepEqual(readWav(file), { sampleRate: 16000, samples: Int16Array.of(5, -6) });
  });

  it('rejects what is not a RIFF/WAVE file', () => {
    assertWavError(Buffer.from('this is not audio at all'), 'not a RIFF/WAVE file');
    assertWavError(new Uint8Array(0), 'not a RIFF/WAVE file');
    const avi = riff([['data', Buffer.alloc(4)]]);
    avi.write('AVI ', 8, 'latin1');
    assertWavError(avi, 'not a RIFF/WAVE file');
  });

  it('rejects sample formats it cannot play, naming them', () => {
    const float = join(dir, 'float.wav');
    sox('-n', '-r', '8000', '-e', 'floating-point', '-b', '32', float, 'synth', '0.1', 'sine', '440');
    assertWavError(readFileSync(float), 'unsupported WAV format 3 (only PCM 16-bit, µ-law, A-law)');
    const eightBit = join(dir, 'eight-bit.wav');
    sox('-n', '-r', '8000', '-e', 'unsigned-integer', '-b', '8', eightBit, 'synth', '0.1', 'sine', '440');
    assertWavError(readFileSync(eightBit), 'unsupported WAV format 1 with 8-bit samples (only PCM 16-bit, µ-law, A-law)');
    assertWavError(
      riff([
        ['fmt ', fmt(1, 3, 8000, 16)],
        ['data', pcm16([1, 2, 3])],
      ]),
      'unsupported channel count 3 (only mono or stereo)',
    );
  });

  it('rejects files missing a chunk or cut short', () => {
    assertWavError(riff([['fmt ', fmt(1, 1, 8000, 16)]]), 'missing data chunk');
    assertWavError(riff([['data', pcm16([1])]]), 'missing fmt chunk');
    const whole = encodeWav(testSignal(100), 8000);
    assertWavError(whole.subarray(0, 100), 'truncated data chunk: 200 bytes declared, 56 present');
    assertWavError(whole.subarray(0, 30), 'truncated fmt chunk');
  });
});

describe('WavFileWriter', () => {
  const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

  async function waitForFileSize(path: string, bytes: number): Promise<void> {
    for (let tries = 0; statSync(path).size < bytes; tries++) {
      assert.ok(tries < 1000, `${path} never reached ${bytes} bytes`);
      await new Promise<void>((resolve) => setTimeout(resolve, 2));
    }
  }

  it('records frames to disk as they come and leaves a file that readWav and soxi read', async () => {
    const path = join(dir, 'recording.wav');
    const audio = testSignal(20000);
    const writer = await WavFileWriter.open(path, 8000);
    // 157-sample frames straddle the one-second chunk boundaries.
    let written = 0;
    const writeUpTo = (end: number) => {
      while (written < end) {
        const count = Math.min(157, end - written);
        writer.write(audio.subarray(written, written + count), count);
        written += count;
      }
    };
    writeUpTo(12000);
    // The first full second goes to disk before close, while more frames keep arriving.
    const flushed = waitForFileSize(path, 44 + 16000);
    for (let frame = 0; frame < 10; frame++) {
      writeUpTo(written + 300);
      await yieldToEventLoop();
    }
    await flushed;
    writeUpTo(audio.length);
    assert.deepEqual(await writer.close(), { samples: audio.length });

    assert.deepEqual(readWav(readFileSync(path)), { sampleRate: 8000, samples: audio });
    assert.deepEqual(
      [soxi('-r', path), soxi('-c', path), soxi('-b', path), soxi('-s', path)],
      ['8000', '1', '16', String(audio.length)],
    );
  });

  it('keeps every sample of a burst written in one go while flushes run', async () => {
    const path = join(dir, 'burst.wav');
    const audio = testSignal(16000 * 3 + 5);
    const writer = await WavFileWriter.open(path, 16000);
    for (let start = 0; start < audio.length; start += 320) {
      writer.write(audio.subarray(start), Math.min(320, audio.length - start));
    }
    assert.deepEqual(await writer.close(), { samples: audio.length });
    assert.deepEqual(readWav(readFileSync(path)).samples, audio);
  });

  it('closes once, answers later close calls alike, and refuses writes after close', async () => {
    const path = join(dir, 'empty.wav');
    const writer = await WavFileWriter.open(path, 16000);
    const first = writer.close();
    assert.equal(writer.close(), first);
    assert.deepEqual(await first, { samples: 0 });
    assert.throws(() => writer.write(new Int16Array(160), 160), /after close/);
    assert.deepEqual(readWav(readFileSync(path)), { sampleRate: 16000, samples: new Int16Array(0) });
    assert.equal(soxi('-s', path), '0');
  });
});
