// Delivers the outbox to the SMTP server configured in [smtp]. Mail is never dropped: a failed
// attempt is retried after 1, 5 and 15 minutes and then hourly until the server takes it, also
// across restarts since the queue is in the database. Time comes from a Clock so tests drive it.

import { access } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { createTransport, type SendMailOptions, type SMTPTransportOptions, type SMTPSentMessageInfo, type Transporter } from 'nodemailer';
import type { Variables } from '../config/variable-definitions.js';
import type { Logger } from '../log/logger.js';
import { systemClock, type Clock, type TimerHandle } from '../transaction/clock.js';
import type { MailOutbox, OutgoingMail, QueuedMail } from '../store/sqlite-mail-outbox.js';

export type SmtpSettings = Variables['smtp'];

type SmtpTransport = Transporter<SMTPSentMessageInfo, SMTPTransportOptions>;

export interface MailerOptions {
  outbox: MailOutbox;
  smtp: SmtpSettings;
  /** attachment files are relative to it */
  dataDir: string;
  log: Logger;
  clock?: Clock;
}

/** after the 1st, 2nd and 3rd failure; then LATER_RETRY_MS */
const FIRST_RETRIES_MS = [60_000, 5 * 60_000, 15 * 60_000];
const LATER_RETRY_MS = 60 * 60_000;
/** a far-off next attempt (set by hand in the database) is re-read at least this often */
const MAX_SLEEP_MS = LATER_RETRY_MS;
const BATCH_SIZE = 20;
/** How long sent mail stays in the outbox (30 days). */
export const SENT_MAIL_KEPT_MS = 30 * 24 * 3600 * 1000;
const MISSING_ATTACHMENT_NOTE = '\n\n(The recording was removed before this mail could be sent.)';

export class Mailer {
  private readonly outbox: MailOutbox;
  private readonly smtp: SmtpSettings;
  private readonly dataDir: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** undefined: email is off */
  private readonly transport: SmtpTransport | undefined;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private runAgain = false;
  private closed = false;

  constructor(options: MailerOptions) {
    this.outbox = options.outbox;
    this.smtp = options.smtp;
    this.dataDir = options.dataDir;
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.transport = this.smtp.host === '' ? undefined : createTransport(transportOptions(this.smtp), { from: this.smtp.from });
  }

  /** Starts delivering, beginning with whatever an earlier run left queued. */
  start(): void {
    const pending = this.outbox.pendingCount();
    if (this.transport === undefined) {
      this.log.info({ pending }, 'voicemail email is off: [smtp] host is empty; mail stays queued');
      return;
    }
    const { host, port, security } = this.smtp;
    this.log.info({ host, port, security, pending }, 'mailer started');
    this.kick();
  }

  /** Queues a mail and tries to send it at once. */
  queue(mail: OutgoingMail): QueuedMail {
    const queued = this.outbox.enqueue(mail, this.clock.now());
    this.kick();
    return queued;
  }

  /** Sends whatever is due now instead of waiting for the next scheduled attempt. */
  kick(): void {
    if (this.transport === undefined || this.closed) return;
    if (this.running !== undefined) {
      this.runAgain = true;
      return;
    }
    this.run(this.transport);
  }

  /** Resolves once no delivery is in progress. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops retrying and waits for a send in progress; queued mail waits for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelTimer();
    await this.idle();
    this.transport?.close();
  }

  private run(transport: SmtpTransport): void {
    this.cancelTimer();
    this.runAgain = false;
    this.running = this.deliverDue(transport)
      .then(() => 0, (err: unknown) => {
        this.log.error({ err: this.hidePassword(describeError(err)) }, 'mail delivery stopped by an error; trying again later');
        // the error (a database that cannot be written, say) is likely to repeat: do not spin on it
        return FIRST_RETRIES_MS[0];
      })
      .then((minDelayMs) => {
        this.running = undefined;
        if (this.closed) return;
        if (this.runAgain && minDelayMs === 0) this.run(transport);
        else this.scheduleNextAttempt(minDelayMs);
      });
  }

  private async deliverDue(transport: SmtpTransport): Promise<void> {
    for (;;) {
      const batch = this.outbox.due(this.clock.now(), BATCH_SIZE);
      if (batch.length === 0) return;
      for (const mail of batch) {
        if (this.closed) return;
        await this.deliver(transport, mail);
      }
    }
  }

  private async deliver(transport: SmtpTransport, mail: QueuedMail): Promise<void> {
    let info: SMTPSentMessageInfo;
    try {
      info = await transport.sendMail(await this.compose(mail));
    } catch (err) {
      const attempts = mail.attempts + 1;
      const nextAttemptAt = this.clock.now() + retryDelayMs(attempts);
      const error = this.hidePassword(describeError(err));
      this.outbox.markFailed(mail.id, error, nextAttemptAt);
      this.log.warn(
        { mailId: mail.id, recipient: mail.recipient, attempts, nextAttemptAt: new Date(nextAttemptAt).toISOString(), err: error },
        'mail not sent; will retry',
      );
      return;
    }
    const now = this.clock.now();
    this.outbox.markSent(mail.id, now);
    this.log.info({ mailId: mail.id, recipient: mail.recipient, subject: mail.subject, messageId: info.messageId }, 'mail sent');
    // sent mail is kept a while for checking what went out, not for ever
    this.outbox.forgetSentBefore(now - SENT_MAIL_KEPT_MS);
  }

  private async compose(mail: QueuedMail): Promise<SendMailOptions> {
    const message: SendMailOptions = { to: mail.recipient, subject: mail.subject, text: mail.body };
    if (mail.attachmentFile === null) return message;
    const path = resolve(this.dataDir, mail.attachmentFile);
    try {
      await access(path);
    } catch {
      // Retrying cannot bring the file back: send the text rather than hold the mail forever.
      this.log.warn({ mailId: mail.id, file: mail.attachmentFile }, 'mail attachment is gone; sending without it');
      return { ...message, text: mail.body + MISSING_ATTACHMENT_NOTE };
    }
    const filename = mail.attachmentName ?? basename(path);
    return { ...message, attachments: [{ filename, path, contentType: contentTypeOf(filename) }] };
  }

  private hidePassword(text: string): string {
    return this.smtp.password === '' ? text : text.replaceAll(this.smtp.password, '<hidden>');
  }

  private scheduleNextAttempt(minDelayMs: number): void {
    let next: number | undefined;
    try {
      next = this.outbox.nextAttemptAt();
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'cannot read the mail outbox; trying again later');
      next = this.clock.now() + FIRST_RETRIES_MS[0];
    }
    if (next === undefined) return;
    const delay = Math.min(Math.max(minDelayMs, next - this.clock.now()), MAX_SLEEP_MS);
    this.timer = this.clock.setTimer(delay, () => {
      this.timer = undefined;
      this.kick();
    });
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}

/** How long to wait after the `failures`-th failed attempt. */
function retryDelayMs(failures: number): number {
  return FIRST_RETRIES_MS[failures - 1] ?? LATER_RETRY_MS;
}

function transportOptions(smtp: SmtpSettings): SMTPTransportOptions {
  const timeoutMs = smtp.timeout_seconds * 1000;
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.security === 'tls',
    requireTLS: smtp.security === 'starttls',
    ignoreTLS: smtp.security === 'none',
    tls: { rejectUnauthorized: smtp.verify_certificate },
    auth: smtp.user === '' ? undefined : { user: smtp.user, pass: smtp.password },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  };
}

function contentTypeOf(filename: string): string {
  return filename.toLowerCase().endsWith('.wav') ? 'audio/wav' : 'application/octet-stream';
}

/** The message and the SMTP reply code; never the error object, whose fields may echo the login. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as Error & { responseCode?: unknown }).responseCode;
  return typeof code === 'number' && !err.message.includes(String(code)) ? `${err.message} (SMTP ${code})` : err.message;
}
