// The email that tells a mailbox owner about a new message, in the prompts' language, with the
// recording attached when the mailbox asks for it.

import type { OutgoingMail, QueuedMail } from '../store/sqlite-mail-outbox.js';
import type { Mailer } from '../mail/mailer.js';
import type { VoicemailMessage } from '../store/sqlite-voicemail.js';

export interface MailboxEmailSettings {
  /** null or empty: the owner gets no email */
  email: string | null;
  attachAudio: boolean;
}

export interface VoicemailEmailOptions {
  /** [media] language; anything but 'zh' gets English */
  language: string;
  /** IANA zone for the times shown; default the server's own */
  timeZone?: string;
}

interface Texts {
  subject(who: string, seconds: number): string;
  body(lines: { who: string; mailbox: string; domain: string; received: string; seconds: number; attached: boolean }): string;
}

const ENGLISH: Texts = {
  subject: (who, seconds) => `New voicemail from ${who} (${seconds} s)`,
  body: (m) => [
    `You have a new voicemail in mailbox ${m.mailbox} (${m.domain}).`,
    '',
    `From: ${m.who}`,
    `Received: ${m.received}`,
    `Duration: ${m.seconds} s`,
    '',
    m.attached ? 'The recording is attached.' : 'Call your voicemail to listen to it.',
  ].join('\n'),
};

const CHINESE: Texts = {
  subject: (who, seconds) => `来自 ${who} 的新语音留言（${seconds} 秒）`,
  body: (m) => [
    `您的语音信箱 ${m.mailbox}（${m.domain}）有一条新留言。`,
    '',
    `来电：${m.who}`,
    `时间：${m.received}`,
    `时长：${m.seconds} 秒`,
    '',
    m.attached ? '录音见附件。' : '请拨打语音信箱收听。',
  ].join('\n'),
};

/** Queues the notice for a new message; undefined when the mailbox has no email address. */
export function emailNewMessage(
  mailer: Pick<Mailer, 'queue'>,
  message: VoicemailMessage,
  mailbox: MailboxEmailSettings,
  options: VoicemailEmailOptions,
): QueuedMail | undefined {
  const recipient = mailbox.email?.trim() ?? '';
  if (recipient === '') return undefined;
  return mailer.queue(composeVoicemailEmail(message, recipient, mailbox.attachAudio, options));
}

export function composeVoicemailEmail(
  message: VoicemailMessage,
  recipient: string,
  attachAudio: boolean,
  options: VoicemailEmailOptions,
): OutgoingMail {
  const texts = options.language === 'zh' ? CHINESE : ENGLISH;
  const who = caller(message);
  const seconds = message.durationMs === 0 ? 0 : Math.max(1, Math.round(message.durationMs / 1000));
  const time = localTime(message.receivedAt, options.timeZone);
  const mail: OutgoingMail = {
    recipient,
    subject: texts.subject(who, seconds),
    body: texts.body({ who, mailbox: message.mailbox, domain: message.domain, received: time.readable, seconds, attached: attachAudio }),
  };
  if (attachAudio) {
    mail.attachmentFile = message.file;
    mail.attachmentName = `voicemail-${message.mailbox}-${time.compact}.wav`;
  }
  return mail;
}

/** "Alice 1001", or just "1001"; control characters from a SIP display name never reach a header. */
function caller(message: VoicemailMessage): string {
  const name = oneLine(message.callerName);
  const number = oneLine(message.caller);
  return name === '' || name === number ? number : `${name} ${number}`;
}

function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
}

/** readable "2025-01-02 03:04:05 UTC", compact "20250102-030405" (for file names) */
function localTime(at: number, timeZone: string | undefined): { readable: string; compact: string } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    timeZoneName: 'short',
  }).formatToParts(new Date(at));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  const date = `${part('year')}-${part('month')}-${part('day')}`;
  const clock = `${part('hour')}:${part('minute')}:${part('second')}`;
  return {
    readable: `${date} ${clock} ${part('timeZoneName')}`,
    compact: `${date.replaceAll('-', '')}-${clock.replaceAll(':', '')}`,
  };
}
