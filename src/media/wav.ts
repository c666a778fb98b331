// WAV files for prompts and music on hold (read whole) and call recordings (written as they grow).

import { open, type FileHandle } from 'node:fs/promises';
import { alawToLinear, ulawToLinear } from './codecs/g711.js';

const FORMAT_PCM = 1;
const FORMAT_ALAW = 6;
const FORMAT_ULAW = 7;
/** WAVE_FORMAT_EXTENSIBLE: the real format code is the first two bytes of the sub-format GUID. */
const FORMAT_EXTENSIBLE = 0xfffe;
const HEADER_BYTES = 44;

/** A file that is not a WAV file this server can play, with a message saying what is wrong. */
export class WavFormatError extends Error {
  override readonly name = 'WavFormatError';
}

export interface DecodedWav {
  sampleRate: number;
  /** mono: stereo files are mixed down */
  samples: Int16Array;
}

interface FormatChunk {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
}

/** Decodes a RIFF/WAVE file holding 16-bit PCM, µ-law or A-law, mono or stereo, into mono 16-bit PCM. */
export function readWav(bytes: Uint8Array): DecodedWav {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || fourCC(bytes, 0) !== 'RIFF' || fourCC(bytes, 8) !== 'WAVE') {
    throw new WavFormatError('not a RIFF/WAVE file');
  }
  let format: FormatChunk | undefined;
  let data: Uint8Array | undefined;
  // Chunks may come in any order and include ones we do not know (LIST, fact, cue ...): skip those.
  for (let offset = 12; offset + 8 <= bytes.length; ) {
    const id = fourCC(bytes, offset);
    const size = view.getUint32(offset + 4, true);
    const start = offset + 8;
    if (id === 'fmt ') {
      format = parseFormat(view, start, size);
    } else if (id === 'data') {
      if (start + size > bytes.length) {
        throw new WavFormatError(`truncated data chunk: ${size} bytes declared, ${bytes.length - start} present`);
      }
      data = bytes.subarray(start, start + size);
    }
    // RIFF pads every odd-sized chunk to an even length.
    offset = start + size + (size & 1);
  }
  if (format === undefined) throw new WavFormatError('missing fmt chunk');
  if (data === undefined) throw new WavFormatError('missing data chunk');
  return { sampleRate: format.sampleRate, samples: decodeSamples(format, data) };
}

function parseFormat(view: DataView, start: number, size: number): FormatChunk {
  if (size < 16 || start + 16 > view.byteLength) throw new WavFormatError('truncated fmt chunk');
  let format = view.getUint16(start, true);
  const channels = view.getUint16(start + 2, true);
  const sampleRate = view.getUint32(start + 4, true);
  const bitsPerSample = view.getUint16(start + 14, true);
  if (format === FORMAT_EXTENSIBLE) {
    if (size < 40 || start + 26 > view.byteLength) throw new WavFormatError('truncated extensible fmt chunk');
    format = view.getUint16(start + 24, true);
  }
  const supported = '(only PCM 16-bit, µ-law, A-law)';
  if (format !== FORMAT_PCM && format !== FORMAT_ALAW && format !== FORMAT_ULAW) {
    throw new WavFormatError(`unsupported WAV format ${format} ${supported}`);
  }
  if (bitsPerSample !== (format === FORMAT_PCM ? 16 : 8)) {
    throw new WavFormatError(`unsupported WAV format ${format} with ${bitsPerSample}-bit samples ${supported}`);
  }
  if (channels !== 1 && channels !== 2) {
    throw new WavFormatError(`unsupported channel count ${channels} (only mono or stereo)`);
  }
  if (sampleRate === 0) throw new WavFormatError('sample rate 0 in fmt chunk');
  return { format, channels, sampleRate, bitsPerSample };
}

function decodeSamples(format: FormatChunk, data: Uint8Array): Int16Array {
  const bytesPerSample = format.bitsPerSample / 8;
  // A trailing partial frame is dropped rather than rejected, as a cut-off recording still plays.
  const frames = Math.floor(data.length / (bytesPerSample * format.channels));
  const samples = new Int16Array(frames);
  const sampleAt = sampleReader(format.format, data);
  if (format.channels === 1) {
    for (let i = 0; i < frames; i++) samples[i] = sampleAt(i);
  } else {
    for (let i = 0; i < frames; i++) samples[i] = (sampleAt(2 * i) + sampleAt(2 * i + 1)) >> 1;
  }
  return samples;
}

function sampleReader(format: number, data: Uint8Array): (index: number) => number {
  if (format === FORMAT_ULAW) return (index) => ulawToLinear(data[index]);
  if (format === FORMAT_ALAW) return (index) => alawToLinear(data[index]);
  return (index) => (data[2 * index] | (data[2 * index + 1] << 8)) << 16 >> 16;
}

function fourCC(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]);
}

/** RIFF sizes are 32-bit: a recording past 4 GiB (37 hours at 16 kHz) keeps a full header rather than a wrapped one. */
const MAX_DATA_BYTES = 0xffffffff - 36;

/** The 44-byte header of a mono 16-bit PCM file holding `dataBytes` bytes of samples. */
function pcmHeader(header: Buffer, sampleRate: number, dataBytes: number): void {
  const size = Math.min(dataBytes, MAX_DATA_BYTES);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + size, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(FORMAT_PCM, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(size, 40);
}

/** Copies samples[from, from + count) little-endian whatever the host's byte order, as WAV requires. */
function writeSamples(target: Buffer, offset: number, samples: Int16Array, from: number, count: number): void {
  for (let i = from; i < from + count; i++) {
    const sample = samples[i];
    target[offset++] = sample & 0xff;
    target[offset++] = (sample >> 8) & 0xff;
  }
}

/** A whole mono 16-bit PCM WAV file. */
export function encodeWav(samples: Int16Array, sampleRate: number): Buffer {
  const file = Buffer.alloc(HEADER_BYTES + samples.length * 2);
  pcmHeader(file, sampleRate, samples.length * 2);
  writeSamples(file, HEADER_BYTES, samples, 0, samples.length);
  return file;
}

/**
 * Writes a mono 16-bit PCM WAV file as a call goes on. write() only copies into memory, which goes
 * to disk a second's worth at a time without blocking the event loop; close() writes the rest and
 * fills in the sizes the header left at zero. A failed disk write is reported by close().
 */
export class WavFileWriter {
  private readonly chunkBytes: number;
  private current: Buffer;
  private filled = 0;
  private readonly fullChunks: Buffer[] = [];
  /** chunks already on disk, kept for reuse so a long recording stops allocating */
  private readonly spareChunks: Buffer[] = [];
  private position = HEADER_BYTES;
  private samples = 0;
  private flushing: Promise<void> | undefined;
  private failure: unknown;
  private closing: Promise<{ samples: number }> | undefined;

  private constructor(
    private readonly file: FileHandle,
    private readonly sampleRate: number,
  ) {
    this.chunkBytes = sampleRate * 2;
    this.current = Buffer.allocUnsafe(this.chunkBytes);
  }

  static async open(path: string, sampleRate: number): Promise<WavFileWriter> {
    const file = await open(path, 'w');
    try {
      const header = Buffer.alloc(HEADER_BYTES);
      pcmHeader(header, sampleRate, 0);
      await file.write(header, 0, HEADER_BYTES, 0);
    } catch (error) {
      await file.close();
      throw error;
    }
    return new WavFileWriter(file, sampleRate);
  }

  write(samples: Int16Array, count: number): void {
    if (this.closing !== undefined) throw new Error('WavFileWriter.write after close');
    for (let from = 0; from < count; ) {
      const taken = Math.min((this.chunkBytes - this.filled) >> 1, count - from);
      writeSamples(this.current, this.filled, samples, from, taken);
      this.filled += taken * 2;
      from += taken;
      if (this.filled === this.chunkBytes) {
        this.fullChunks.push(this.current);
        this.current = this.spareChunks.pop() ?? Buffer.allocUnsafe(this.chunkBytes);
        this.filled = 0;
        this.startFlush();
      }
    }
    this.samples += count;
  }

  /** Writes what is left, patches the header's sizes and closes the file; later calls get the same answer. */
  close(): Promise<{ samples: number }> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<{ samples: number }> {
    try {
      if (this.filled > 0) this.fullChunks.push(this.current.subarray(0, this.filled));
      while (this.flushing !== undefined) await this.flushing;
      await this.drain();
      if (this.failure !== undefined) throw this.failure;
      const header = Buffer.alloc(HEADER_BYTES);
      pcmHeader(header, this.sampleRate, this.position - HEADER_BYTES);
      await this.file.write(header, 0, HEADER_BYTES, 0);
    } finally {
      await this.file.close();
    }
    return { samples: this.samples };
  }

  /** One drain at a time, so chunks land in order; one queued meanwhile is taken by the running drain. */
  private startFlush(): void {
    if (this.flushing !== undefined || this.fullChunks.length === 0) return;
    this.flushing = this.drain().finally(() => {
      this.flushing = undefined;
      this.startFlush();
    });
  }

  private async drain(): Promise<void> {
    for (let chunk = this.fullChunks.shift(); chunk !== undefined; chunk = this.fullChunks.shift()) {
      // After a failure the rest is dropped, not retried: close() reports the first error.
      if (this.failure === undefined) {
        try {
          for (let done = 0; done < chunk.length; ) {
            const { bytesWritten } = await this.file.write(chunk, done, chunk.length - done, this.position);
            this.position += bytesWritten;
            done += bytesWritten;
          }
        } catch (error) {
          this.failure = error;
        }
      }
      if (chunk.length === this.chunkBytes) this.spareChunks.push(chunk);
    }
  }
}
