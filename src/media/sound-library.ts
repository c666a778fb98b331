// Prompt names to audio: a file in the data directory overrides the shipped one, and a language
// without the prompt falls back to the default language. Decoded files stay in memory until they
// change on disk, as the same few prompts are played over and over.
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BufferSource, type PcmSource } from './pcm-source.js';
import { readWav, WavFormatError } from './wav.js';

export interface DecodedSound {
  readonly sampleRate: number;
  /** shared by everyone playing the sound: read it, never write to it */
  readonly samples: Int16Array;
}

export interface SoundLibraryOptions {
  /** the `sounds/` directory of the installation */
  shippedDir: string;
  /** `<data-dir>/sounds`; need not exist */
  overrideDir: string;
  /** where a prompt missing in the asked-for language is taken from */
  defaultLanguage: string;
  /** what the decoded files kept in memory may take, in bytes; 32 MiB unless set */
  cacheLimitBytes?: number;
}

/** A prompt name or language that is not kebab-case, so it could not name a file in the sounds directory. */
export class InvalidSoundNameError extends Error {
  override readonly name = 'InvalidSoundNameError';
}

export class SoundNotFoundError extends Error {
  override readonly name = 'SoundNotFoundError';

  constructor(
    readonly sound: string,
    /** every file looked for, in the order tried */
    readonly searched: readonly string[],
  ) {
    super(`${sound} not found (looked for ${searched.join(', ')})`);
  }
}

/** Only these reach a codec: the player converts between them, nothing else. */
const PLAYABLE_RATES: ReadonlySet<number> = new Set([8000, 16000]);
const DEFAULT_CACHE_LIMIT_BYTES = 32 * 1024 * 1024;
// One rule for names and languages: whatever passes cannot leave its directory or name a hidden file.
const KEBAB_CASE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const MOH_FILE = path.join('moh', 'default.wav');

interface CacheEntry {
  mtimeMs: number;
  size: number;
  sound: Promise<DecodedSound>;
  /** 0 while the file is still being read */
  samples: number;
}

export class SoundLibrary {
  private readonly shippedDir: string;
  private readonly overrideDir: string;
  private readonly defaultLanguage: string;
  private readonly cacheLimitSamples: number;
  /** by file path, least recently used first */
  private readonly cache = new Map<string, CacheEntry>();
  private cachedSamples = 0;

  constructor(options: SoundLibraryOptions) {
    this.shippedDir = options.shippedDir;
    this.overrideDir = options.overrideDir;
    this.defaultLanguage = validated(options.defaultLanguage, 'language');
    this.cacheLimitSamples = Math.floor((options.cacheLimitBytes ?? DEFAULT_CACHE_LIMIT_BYTES) / Int16Array.BYTES_PER_ELEMENT);
  }

  /** The `sounds/` directory shipped with the server: this module runs from dist/src/media/. */
  static shippedSoundsDir(): string {
    return fileURLToPath(new URL('../../../sounds', import.meta.url));
  }

  /**
   * The prompt `name` in `language` (the default language if not given): the data directory's file,
   * else the shipped one, else the same two in the default language.
   */
  async load(name: string, language: string = this.defaultLanguage): Promise<DecodedSound> {
    const file = `${validated(name, 'sound name')}.wav`;
    const languages = [validated(language, 'language')];
    if (language !== this.defaultLanguage) languages.push(this.defaultLanguage);
    const candidates = languages.flatMap((lang) => [path.join(this.overrideDir, lang, file), path.join(this.shippedDir, lang, file)]);
    return this.loadFirst(`prompt "${name}" in language "${language}"`, candidates);
  }

  /** A WAV anywhere (a voicemail message, a recorded greeting), decoded like the prompts. */
  async loadFile(file: string): Promise<DecodedSound> {
    return this.loadFirst(`sound file ${file}`, [file]);
  }

  /** The music on hold: the data directory's `moh/default.wav`, else the shipped one. */
  async musicOnHold(): Promise<DecodedSound> {
    return this.loadFirst('music on hold', [path.join(this.overrideDir, MOH_FILE), path.join(this.shippedDir, MOH_FILE)]);
  }

  /** A fresh reader of `sound`, for a Player; every caller gets its own position. */
  source(sound: DecodedSound, options: { loop?: boolean } = {}): PcmSource {
    return new BufferSource(sound.samples, sound.sampleRate, options);
  }

  private async loadFirst(description: string, candidates: string[]): Promise<DecodedSound> {
    for (const file of candidates) {
      const stats = await fileStats(file);
      if (stats !== undefined) return this.decoded(file, stats);
    }
    throw new SoundNotFoundError(description, candidates);
  }

  /** The cached decode of `file` while its size and mtime are unchanged; otherwise it is read again. */
  private async decoded(file: string, stats: Stats): Promise<DecodedSound> {
    const cached = this.cache.get(file);
    if (cached !== undefined) {
      this.forget(file, cached);
      if (cached.mtimeMs === stats.mtimeMs && cached.size === stats.size) {
        this.remember(file, cached);
        return cached.sound;
      }
    }
    const entry: CacheEntry = { mtimeMs: stats.mtimeMs, size: stats.size, sound: readSound(file), samples: 0 };
    this.remember(file, entry);
    try {
      const sound = await entry.sound;
      // Evicted or replaced while it was read: the caller still gets it, the cache does not count it.
      if (this.cache.get(file) === entry) {
        entry.samples = sound.samples.length;
        this.cachedSamples += entry.samples;
        this.evictOverLimit();
      }
      return sound;
    } catch (error) {
      if (this.cache.get(file) === entry) this.forget(file, entry);
      throw error;
    }
  }

  private remember(file: string, entry: CacheEntry): void {
    this.cache.set(file, entry);
    this.cachedSamples += entry.samples;
  }

  private forget(file: string, entry: CacheEntry): void {
    this.cache.delete(file);
    this.cachedSamples -= entry.samples;
  }

  private evictOverLimit(): void {
    for (const [file, entry] of this.cache) {
      if (this.cachedSamples <= this.cacheLimitSamples) return;
      this.forget(file, entry);
    }
  }
}

function validated(value: string, what: string): string {
  if (!KEBAB_CASE.test(value)) {
    throw new InvalidSoundNameError(`invalid ${what} ${JSON.stringify(value)}: only lower-case letters, digits and single hyphens between them`);
  }
  return value;
}

/** The file's stats, or undefined when there is no regular file at `file`. */
async function fileStats(file: string): Promise<Stats | undefined> {
  try {
    const stats = await stat(file);
    return stats.isFile() ? stats : undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

async function readSound(file: string): Promise<DecodedSound> {
  const bytes = await readFile(file);
  let sound: DecodedSound;
  try {
    sound = readWav(bytes);
  } catch (error) {
    if (error instanceof WavFormatError) throw new WavFormatError(`${file}: ${error.message}`, { cause: error });
    throw error;
  }
  if (!PLAYABLE_RATES.has(sound.sampleRate)) {
    throw new WavFormatError(`${file}: ${sound.sampleRate} Hz is not supported (only 8000 or 16000 Hz)`);
  }
  return sound;
}
