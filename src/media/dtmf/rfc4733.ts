// DTMF as RTP telephone-events (RFC 4733): the 4-byte payload, a receiver that turns the packet
// stream back into one report per key press, and a sender that paces a key press into packets.

/** RFC 4733 §3.2: events 0-9 are the digits, then * # A B C D. */
const EVENT_DIGITS = '0123456789*#ABCD';

/** The duration field is 16 bits of RTP timestamp units. */
const MAX_DURATION = 0xffff;
const MAX_VOLUME = 63;

/** RFC 4733 §2.5.1.4: the final packet of an event is sent three times. */
const END_PACKET_COPIES = 3;

export const TELEPHONE_EVENT_BYTES = 4;

/** The event code of a key (0-9 * # A-D, any case), or undefined. */
export function digitToEvent(d: string): number | undefined {
  if (d.length !== 1) return undefined;
  const event = EVENT_DIGITS.indexOf(d.toUpperCase());
  return event >= 0 ? event : undefined;
}

/** The key of a DTMF event code (0-15), or undefined for other events. */
export function eventToDigit(e: number): string | undefined {
  return Number.isInteger(e) && e >= 0 && e < EVENT_DIGITS.length ? EVENT_DIGITS[e] : undefined;
}

/**
 * Writes one telephone-event payload (RFC 4733 §2.3) at `offset`; returns its length, 4.
 * `volume` is the level as -dBm0 (0-63) and `duration` is in RTP timestamp units; both are clamped.
 */
export function writeTelephoneEvent(
  out: Uint8Array,
  offset: number,
  event: number,
  end: boolean,
  volume: number,
  duration: number,
): number {
  const clampedVolume = Math.min(Math.max(Math.round(volume), 0), MAX_VOLUME);
  const clampedDuration = Math.min(Math.max(Math.round(duration), 0), MAX_DURATION);
  out[offset] = event & 0xff;
  out[offset + 1] = (end ? 0x80 : 0) | clampedVolume;
  out[offset + 2] = clampedDuration >>> 8;
  out[offset + 3] = clampedDuration & 0xff;
  return TELEPHONE_EVENT_BYTES;
}

/** Packets up to this far behind the newest event are late and dropped; further back, the timestamps jumped. */
const LATE_WINDOW = MAX_DURATION;

/**
 * Reports each key press once from a telephone-event stream. An event is known by its RTP
 * timestamp, so the three end packets and any late or duplicated packet map onto the same press;
 * a press whose start packets were lost is still reported from its updates or end. When every end
 * packet is lost the press is reported as soon as the next one starts, or on flush().
 * Events over 16 bits of duration arrive as segments with fresh timestamps and no marker
 * (RFC 4733 §2.5.1.3); they are joined into one report.
 */
export class TelephoneEventReceiver {
  /** the key of the press in progress, or undefined when the newest press is already reported */
  private openDigit: string | undefined;
  /** timestamp of the newest segment seen, reported or not */
  private newest = 0;
  private seenAny = false;
  /** duration of the segments of the open press before the current one */
  private earlierSegments = 0;
  private segmentDuration = 0;

  constructor(
    private readonly onDigit: (digit: string, durationMs: number) => void,
    private readonly clockRate = 8000,
  ) {}

  /** One telephone-event payload with its packet's RTP timestamp and marker bit. */
  push(payload: Uint8Array, offset: number, length: number, rtpTimestamp: number, marker: boolean): void {
    if (length < TELEPHONE_EVENT_BYTES || offset + TELEPHONE_EVENT_BYTES > payload.length) return;
    const digit = eventToDigit(payload[offset]!);
    if (digit === undefined) return;
    const end = (payload[offset + 1]! & 0x80) !== 0;
    const duration = (payload[offset + 2]! << 8) | payload[offset + 3]!;
    const timestamp = rtpTimestamp >>> 0;

    if (!this.seenAny || timestamp !== this.newest) {
      if (this.seenAny && ((this.newest - timestamp) >>> 0) < LATE_WINDOW) return;
      this.startSegment(timestamp, digit, marker);
    }
    if (this.openDigit === undefined) return;
    this.segmentDuration = Math.max(this.segmentDuration, duration);
    if (end) this.flush();
  }

  /** Reports the press in progress, if any, as ended: for a stream that stopped without end packets. */
  flush(): void {
    const digit = this.openDigit;
    if (digit === undefined) return;
    this.openDigit = undefined;
    const ticks = this.earlierSegments + this.segmentDuration;
    this.onDigit(digit, Math.round((ticks * 1000) / this.clockRate));
  }

  /** A new timestamp: the next segment of the open press, or a new press that ends the open one. */
  private startSegment(timestamp: number, digit: string, marker: boolean): void {
    // A sender splits a press only when its duration nears the 16-bit limit, and the next
    // segment starts where that one ended.
    const ahead = (timestamp - this.newest) >>> 0;
    if (this.openDigit === digit && !marker && ahead > MAX_DURATION / 2 && ahead <= MAX_DURATION) {
      this.earlierSegments += ahead;
    } else {
      this.flush();
      this.openDigit = digit;
      this.earlierSegments = 0;
    }
    this.segmentDuration = 0;
    this.newest = timestamp;
    this.seenAny = true;
  }
}

/** What the pacer needs to send the payload TelephoneEventSender.next() just wrote. */
export interface TelephoneEventPacket {
  /** payload bytes written */
  readonly length: number;
  /** RTP marker bit: set on the first packet of a press */
  readonly marker: boolean;
  /** added to the RTP timestamp taken when the press started: every packet of a press carries it */
  readonly timestampOffset: 0;
}

/**
 * Paces one key press into telephone-event payloads for a sender that wakes every ptime.
 * start() begins a press; each tick the pacer calls next(), and while it returns a packet the
 * pacer sends that (payload type telephone-event) instead of audio. The first packet has the
 * marker bit; the pacer notes its RTP timestamp and gives every packet of the press that same
 * timestamp. Updates follow every ptime with the duration so far; the final packet has the end bit
 * and is sent three times, unchanged as RFC 4733 §2.5.1.4 asks. Then next() returns undefined.
 * The returned object is reused: read it before the next call.
 */
export class TelephoneEventSender {
  private readonly step: number;
  private event = -1;
  private total = 0;
  private sent = 0;
  private endsSent = 0;
  private readonly packet: { length: number; marker: boolean; timestampOffset: 0 } = {
    length: TELEPHONE_EVENT_BYTES,
    marker: false,
    timestampOffset: 0,
  };

  /** `volume` is the level reported in the packets, as -dBm0. */
  constructor(
    private readonly clockRate = 8000,
    ptimeMs = 20,
    private readonly volume = 10,
  ) {
    this.step = Math.round((ptimeMs * clockRate) / 1000);
    if (!(this.step > 0)) throw new RangeError(`bad ptime ${ptimeMs} ms`);
  }

  /** True when no press is being sent, so start() may be called. */
  get idle(): boolean {
    return this.event < 0;
  }

  /** Begins sending a press of `digit` lasting `durationMs` (at most 16 bits of timestamp units). */
  start(digit: string, durationMs: number): void {
    if (!this.idle) throw new Error('a key press is still being sent');
    const event = digitToEvent(digit);
    if (event === undefined) throw new RangeError(`not a DTMF key: ${JSON.stringify(digit)}`);
    const total = Math.round((durationMs * this.clockRate) / 1000);
    if (!(total > 0 && total <= MAX_DURATION)) throw new RangeError(`bad DTMF duration ${durationMs} ms`);
    this.event = event;
    this.total = total;
    this.sent = 0;
    this.endsSent = 0;
  }

  /** Writes this tick's payload at `offset`, or returns undefined when there is nothing to send. */
  next(out: Uint8Array, offset: number): TelephoneEventPacket | undefined {
    if (this.idle) return undefined;
    this.sent++;
    const duration = Math.min(this.sent * this.step, this.total);
    const end = duration === this.total;
    writeTelephoneEvent(out, offset, this.event, end, this.volume, duration);
    this.packet.marker = this.sent === 1;
    if (end && ++this.endsSent === END_PACKET_COPIES) this.event = -1;
    return this.packet;
  }
}
