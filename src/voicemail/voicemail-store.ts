// Voicemail as the services and the API see it: a message is a row and a WAV file, always both.
// Files live under <dataDir>/voicemail/<domain>/<mailbox>/; the row is written only after its file
// is safely in place, and removed before its file, so a crash can leave an orphan file but never a
// row whose recording is missing.

import { access, mkdir, rm, unlink } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import type { Logger } from '../log/logger.js';
import { systemClock, type Clock } from '../transaction/clock.js';
import { moveIfAbsent, moveReplacing } from './durable-move.js';
import type { VoicemailCounts, VoicemailFolder, VoicemailMessage, VoicemailRepository } from '../store/sqlite-voicemail.js';

export interface VoicemailDeposit {
  domain: string;
  mailbox: string;
  caller: string;
  callerName?: string;
  /** the WAV the media layer wrote; absolute, or relative to the data directory. It is moved, not copied. */
  recordingFile: string;
  durationMs: number;
}

export type VoicemailChangeListener = (domain: string, mailbox: string) => void;

export interface VoicemailBoxOptions {
  repository: VoicemailRepository;
  dataDir: string;
  log: Logger;
  clock?: Clock;
}

const VOICEMAIL_DIR = 'voicemail';
const GREETING_FILE = 'greeting.wav';
/** Domain and mailbox become directory names: nothing that could climb out of voicemail/. */
const PATH_PART = /^[A-Za-z0-9_+:[\]-][A-Za-z0-9._+:[\]-]{0,252}$/;
/** Two messages in one mailbox in the same millisecond get -2, -3, ... */
const MAX_NAME_TRIES = 100;

export class VoicemailBox {
  private readonly repository: VoicemailRepository;
  private readonly dataDir: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly listeners = new Set<VoicemailChangeListener>();

  constructor(options: VoicemailBoxOptions) {
    this.repository = options.repository;
    this.dataDir = resolve(options.dataDir);
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
  }

  /** Stores a recorded message: moves its WAV into the mailbox, then records it as new. */
  async deposit(deposit: VoicemailDeposit): Promise<VoicemailMessage> {
    const { domain, mailbox } = deposit;
    checkPathPart('domain', domain);
    checkPathPart('mailbox', mailbox);
    if (!Number.isInteger(deposit.durationMs) || deposit.durationMs < 0) {
      throw new RangeError(`durationMs must be a whole number >= 0, not ${deposit.durationMs}`);
    }
    const recording = resolve(this.dataDir, deposit.recordingFile);
    const receivedAt = this.clock.now();
    const file = await this.moveIntoMailbox(recording, domain, mailbox, receivedAt);
    let message: VoicemailMessage;
    try {
      message = this.repository.insert({
        domain, mailbox, caller: deposit.caller, callerName: deposit.callerName ?? '', receivedAt, durationMs: deposit.durationMs, file,
      });
    } catch (err) {
      // The caller still owns the recording (to retry or report): give it back where it was.
      await moveIfAbsent(this.absolute(file), recording).catch(() => undefined);
      throw err;
    }
    this.log.info({ domain, mailbox, caller: deposit.caller, messageId: message.id, durationMs: deposit.durationMs }, 'voicemail message stored');
    this.changed(domain, mailbox);
    return message;
  }

  list(domain: string, mailbox: string, folder?: VoicemailFolder): VoicemailMessage[] {
    return this.repository.list(domain, mailbox, folder);
  }

  get(id: number): VoicemailMessage | undefined {
    return this.repository.get(id);
  }

  /** Absolute path of a message's WAV. */
  filePath(message: VoicemailMessage): string {
    return this.absolute(message.file);
  }

  /** Moves a heard message out of "new"; false when there is no such message. */
  markSaved(id: number): boolean {
    const message = this.repository.get(id);
    if (!message) return false;
    if (message.folder === 'saved') return true;
    this.repository.setFolder(id, 'saved');
    this.changed(message.domain, message.mailbox);
    return true;
  }

  /** Removes the message and its WAV; false when there is no such message. */
  async delete(id: number): Promise<boolean> {
    const message = this.repository.get(id);
    if (!message || !this.repository.delete(id)) return false;
    this.changed(message.domain, message.mailbox);
    await unlink(this.absolute(message.file)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.log.warn({ file: message.file, err: err.message }, 'voicemail message deleted but its file could not be removed');
    });
    return true;
  }

  counts(domain: string, mailbox: string): VoicemailCounts {
    return this.repository.counts(domain, mailbox);
  }

  /** The mailbox's own greeting, or undefined when the default greeting should play. */
  async greetingFile(domain: string, mailbox: string): Promise<string | undefined> {
    checkPathPart('domain', domain);
    checkPathPart('mailbox', mailbox);
    const file = resolve(this.mailboxDir(domain, mailbox), GREETING_FILE);
    try {
      await access(file);
      return file;
    } catch {
      return undefined;
    }
  }

  /** Makes a recording the mailbox's greeting, replacing the previous one. The recording is moved. */
  async saveGreeting(domain: string, mailbox: string, recordingFile: string): Promise<void> {
    checkPathPart('domain', domain);
    checkPathPart('mailbox', mailbox);
    const dir = this.mailboxDir(domain, mailbox);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await moveReplacing(resolve(this.dataDir, recordingFile), resolve(dir, GREETING_FILE));
  }

  /** Removes every message, the greeting and the mailbox directory; returns how many messages there were. */
  async deleteMailbox(domain: string, mailbox: string): Promise<number> {
    checkPathPart('domain', domain);
    checkPathPart('mailbox', mailbox);
    const removed = this.repository.deleteMailbox(domain, mailbox);
    if (removed > 0) this.changed(domain, mailbox);
    await rm(this.mailboxDir(domain, mailbox), { recursive: true, force: true });
    return removed;
  }

  /** `listener` hears of every change to a mailbox's counts, for message-waiting indication. Returns the unsubscribe. */
  onChange(listener: VoicemailChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async moveIntoMailbox(recording: string, domain: string, mailbox: string, receivedAt: number): Promise<string> {
    await mkdir(this.mailboxDir(domain, mailbox), { recursive: true, mode: 0o700 });
    const stamp = fileStamp(receivedAt);
    for (let n = 1; n <= MAX_NAME_TRIES; n++) {
      const file = posix.join(VOICEMAIL_DIR, domain, mailbox, `${stamp}${n === 1 ? '' : `-${n}`}.wav`);
      if (await moveIfAbsent(recording, this.absolute(file))) return file;
    }
    throw new Error(`no free file name for a message in ${domain}/${mailbox} at ${stamp}`);
  }

  private changed(domain: string, mailbox: string): void {
    for (const listener of this.listeners) {
      try {
        listener(domain, mailbox);
      } catch (err) {
        this.log.error({ domain, mailbox, err: err instanceof Error ? err.message : String(err) }, 'voicemail change listener failed');
      }
    }
  }

  private mailboxDir(domain: string, mailbox: string): string {
    return resolve(this.dataDir, VOICEMAIL_DIR, domain, mailbox);
  }

  private absolute(file: string): string {
    return resolve(this.dataDir, file);
  }
}

function checkPathPart(what: string, value: string): void {
  if (!PATH_PART.test(value)) throw new RangeError(`${what} ${JSON.stringify(value)} cannot name a voicemail directory`);
}

/** 20250102-030405-678: sorts like the messages, readable in a directory listing. */
function fileStamp(at: number): string {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${iso.slice(20, 23)}`;
}
