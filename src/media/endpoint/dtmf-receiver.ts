// DTMF from the far end, whichever way it comes: RTP telephone-events, tones in the audio, SIP INFO.
// Many phones send a key press both as events and as a tone; it is reported once.
import { InbandDtmfDetector } from '../dtmf/inband-detector.js';
import { digitToEvent, eventToDigit, TelephoneEventReceiver } from '../dtmf/rfc4733.js';
import type { Clock } from '../../transaction/clock.js';

export type DigitSource = 'rfc4733' | 'inband' | 'info';

/**
 * A tone heard while telephone-events arrive, or this soon after the last one, is the press the
 * events report; and events that start this soon after a tone was reported are that tone's press.
 */
const SAME_PRESS_MS = 200;
/** A press whose end packets were all lost is reported once audio has flowed this long without events. */
const LOST_END_MS = 500;

export class DtmfReceiver {
  private readonly events: TelephoneEventReceiver;
  private readonly detector: InbandDtmfDetector | undefined;
  private lastEventAt = -Infinity;
  /** the last key reported from a tone, until events for the same press have been matched to it */
  private toneDigit: string | undefined;
  private toneAt = -Infinity;

  /** `inbandSampleRate` undefined: tones in the audio are not listened for. */
  constructor(
    private readonly clock: Clock,
    eventClockRate: number,
    inbandSampleRate: number | undefined,
    private readonly onDigit: (digit: string, source: DigitSource) => void,
  ) {
    this.events = new TelephoneEventReceiver((digit, durationMs) => this.eventDigit(digit, durationMs), eventClockRate);
    this.detector =
      inbandSampleRate === undefined ? undefined : new InbandDtmfDetector(inbandSampleRate, (digit) => this.tone(digit));
  }

  /** One telephone-event payload at packet[offset, offset + length). */
  telephoneEvent(packet: Uint8Array, offset: number, length: number, timestamp: number, marker: boolean): void {
    this.lastEventAt = this.clock.now();
    this.events.push(packet, offset, length, timestamp, marker);
  }

  /** One decoded frame of received audio. */
  audio(pcm: Int16Array, count: number): void {
    if (this.clock.now() - this.lastEventAt > LOST_END_MS) this.events.flush();
    this.detector?.process(pcm, count);
  }

  /** A key from a SIP INFO request; throws a RangeError for anything that is not a DTMF key. */
  info(digit: string): void {
    const event = digitToEvent(digit);
    if (event === undefined) throw new RangeError(`not a DTMF key: ${JSON.stringify(digit)}`);
    this.onDigit(eventToDigit(event)!, 'info');
  }

  private tone(digit: string): void {
    const now = this.clock.now();
    if (now - this.lastEventAt < SAME_PRESS_MS) return;
    this.toneDigit = digit;
    this.toneAt = now;
    this.onDigit(digit, 'inband');
  }

  /** Reported when the press ends, so it started durationMs ago. */
  private eventDigit(digit: string, durationMs: number): void {
    const startedAt = this.clock.now() - durationMs;
    if (digit === this.toneDigit && this.toneAt >= startedAt - SAME_PRESS_MS) {
      this.toneDigit = undefined;
      return;
    }
    this.onDigit(digit, 'rfc4733');
  }
}
