// RFC 3842 message-summary bodies: what lights a phone's message lamp and fills its counter.

export const MESSAGE_SUMMARY_EVENT = 'message-summary';
export const MESSAGE_SUMMARY_TYPE = 'application/simple-message-summary';

/** A mailbox's voice messages: new (unheard) and saved (heard and kept); urgent ones are counted inside both. */
export interface MessageCounts {
  newCount: number;
  savedCount: number;
  urgentNew?: number;
  urgentSaved?: number;
}

/** One message-context-class line (RFC 3458 classes: voice-message, fax-message, ...). */
export interface MessageClassCounts {
  newCount: number;
  oldCount: number;
  urgentNew: number;
  urgentOld: number;
}

export interface MessageSummary {
  messagesWaiting: boolean;
  account: string | undefined;
  /** by class name in lowercase, e.g. 'voice-message' */
  classes: Record<string, MessageClassCounts>;
}

/**
 * The body for one mailbox. "Messages-Waiting: yes" means new messages, as phones light the lamp on it;
 * the urgent pair is always written because some phones misread a line without it.
 */
export function formatMessageSummary(account: string, counts: MessageCounts): string {
  const newCount = wholeNumber(counts.newCount);
  const lines = [
    `Messages-Waiting: ${newCount > 0 ? 'yes' : 'no'}`,
    `Message-Account: ${account}`,
    `Voice-Message: ${newCount}/${wholeNumber(counts.savedCount)} (${wholeNumber(counts.urgentNew ?? 0)}/${wholeNumber(counts.urgentSaved ?? 0)})`,
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/** Reads a message-summary body (lines may end in CRLF or LF); undefined when it is not one. */
export function parseMessageSummary(text: string): MessageSummary | undefined {
  const lines = text.split(/\r?\n/);
  const status = headerLine(lines[0] ?? '');
  if (!status || status.name !== 'messages-waiting') return undefined;
  const waiting = status.value.toLowerCase();
  if (waiting !== 'yes' && waiting !== 'no') return undefined;
  const summary: MessageSummary = { messagesWaiting: waiting === 'yes', account: undefined, classes: {} };
  for (const line of lines.slice(1)) {
    // an empty line starts the optional message headers, which carry no counts
    if (line.trim() === '') break;
    const field = headerLine(line);
    if (!field) return undefined;
    if (field.name === 'message-account') {
      summary.account = field.value;
      continue;
    }
    const counts = parseClassCounts(field.value);
    if (!counts) return undefined;
    summary.classes[field.name] = counts;
  }
  return summary;
}

function headerLine(line: string): { name: string; value: string } | undefined {
  const colon = line.indexOf(':');
  if (colon <= 0) return undefined;
  return { name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() };
}

function parseClassCounts(value: string): MessageClassCounts | undefined {
  const m = /^(\d+)\s*\/\s*(\d+)(?:\s*\(\s*(\d+)\s*\/\s*(\d+)\s*\))?$/.exec(value);
  if (!m) return undefined;
  return { newCount: Number(m[1]), oldCount: Number(m[2]), urgentNew: Number(m[3] ?? 0), urgentOld: Number(m[4] ?? 0) };
}

/** Counts come from the voicemail store; a bad one must not put "NaN" or "-1" in front of a phone. */
function wholeNumber(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}
