import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}

/**
 * Logs at most `perInterval` events of one kind per interval and then a count of what was
 * suppressed, so a flood of garbage from a scanner cannot flood the log.
 */
export class RateLimitedLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly log: (msg: string, fields: Record<string, unknown>) => void,
    private readonly perInterval = 20,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  write(msg: string, fields: Record<string, unknown>): void {
    const t = this.now();
    if (t - this.windowStart >= this.intervalMs) {
      if (this.suppressed > 0) this.log('similar events suppressed', { suppressed: this.suppressed });
      this.windowStart = t;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow < this.perInterval) {
      this.inWindow++;
      this.log(msg, fields);
    } else {
      this.suppressed++;
    }
  }
}

// Digest responses are password-equivalent for offline guessing, so they never reach a file.
const DIGEST_RESPONSE = /(\bresponse\s*=\s*)("[^"]*"|[^,\s]+)/gi;

/** Every SIP message in and out, in the classic trace layout, for troubleshooting. */
export class SipTrace {
  private readonly out: WriteStream;
  private failed = false;

  /** A trace that cannot be written (disk full, file removed) stops and says so once; SIP goes on. */
  constructor(file: string, onError: (err: Error) => void) {
    mkdirSync(dirname(file), { recursive: true });
    this.out = createWriteStream(file, { flags: 'a' });
    this.out.on('error', (err) => {
      if (this.failed) return;
      this.failed = true;
      onError(err);
    });
  }

  record(direction: 'in' | 'out', transport: string, address: string, port: number, data: Buffer): void {
    if (this.failed) return;
    const peer = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    const arrow = direction === 'in' ? `received from ${transport} ${peer}` : `sent to ${transport} ${peer}`;
    const text = data.toString('latin1').replace(DIGEST_RESPONSE, '$1"<hidden>"');
    this.out.write(`${new Date().toISOString()} ${arrow} (${data.length} bytes)\n${text}\n\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}
