// The server as one end of a call's RTP: playing, hearing and sending DTMF, recording and echoing,
// driven through a fake leg on a fake clock.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CodecFactory, CodecInstance } from '../../src/media/codecs/codec.js';
import { linearToUlaw, PCMU, ulawToLinear } from '../../src/media/codecs/g711.js';
import { G722 } from '../../src/media/codecs/g722.js';
import { InbandDtmfDetector } from '../../src/media/dtmf/inband-detector.js';
import { digitToEvent, eventToDigit, TELEPHONE_EVENT_BYTES, writeTelephoneEvent } from '../../src/media/dtmf/rfc4733.js';
import {
  MediaEndpoint,
  type DigitSource,
  type EndpointFormat,
  type MediaEndpointOptions,
  type RtpLeg,
} from '../../src/media/endpoint/media-endpoint.js';
import { BufferSource, SilenceSource } from '../../src/media/pcm-source.js';
import { rtpMarker, rtpPayloadType, rtpSequence, rtpSsrc, rtpTimestamp } from '../../src/media/rtp/rtp-packet.js';
import { DtmfToneGenerator, TONE_PLANS } from '../../src/media/tones.js';
import { readWav } from '../../src/media/wav.js';
import { FakeClock } from '../support/fake-clock.js';
import { concat, sine } from '../support/pcm-signals.js';
import { rtpPacket, rtpPayload } from '../support/rtp-test-packets.js';
import { toneLevel, withinDb } from '../support/tone-measure.js';

const PCMU_FORMAT: EndpointFormat = { payloadType: 0, codec: PCMU, telephoneEventPayloadType: 101, ptimeMs: 20 };
const G722_FORMAT: EndpointFormat = { payloadType: 9, codec: G722, telephoneEventPayloadType: 101, ptimeMs: 20 };
const TELEPHONE_EVENT_PT = 101;
const LEVEL = 8000;

interface SentPacket {
  at: number;
  bytes: Buffer;
}

/** A leg that keeps what the endpoint sends, stamped with the fake time, and lets the test deliver packets. */
class FakeLeg implements RtpLeg {
  onRtp: ((packet: Buffer, length: number) => void) | undefined;
  readonly sent: SentPacket[] = [];

  constructor(private readonly clock: FakeClock) {}

  sendRtp(packet: Uint8Array, length: number): void {
    this.sent.push({ at: this.clock.now(), bytes: Buffer.from(packet.subarray(0, length)) });
  }

  deliver(packet: Buffer): void {
    this.onRtp?.(packet, packet.length);
  }
}

/** The phone at the other end: its own RTP stream of audio frames and telephone-events, timed by the clock. */
class Phone {
  private sequence = 4000;
  private readonly startedAt: number;
  private readonly encoder: CodecInstance;
  private readonly payload = new Uint8Array(1500);

  constructor(
    private readonly leg: FakeLeg,
    private readonly clock: FakeClock,
    private readonly format: EndpointFormat,
  ) {
    this.encoder = format.codec.create();
    this.startedAt = clock.now();
  }

  get frameSamples(): number {
    return (this.format.ptimeMs * this.format.codec.sampleRate) / 1000;
  }

  /** The RTP timestamp of audio sampled now, and of a key press starting now. */
  get now(): number {
    return (90_000 + ((this.clock.now() - this.startedAt) * this.format.codec.clockRate) / 1000) >>> 0;
  }

  audio(pcm: Int16Array): void {
    const length = this.encoder.encode(pcm, pcm.length, this.payload);
    this.leg.deliver(rtpPacket(this.format.payloadType, this.sequence++, this.now, this.payload.subarray(0, length)));
  }

  /** One telephone-event packet of the press that started at `timestamp`. */
  event(digit: string, timestamp: number, duration: number, end: boolean, marker: boolean): void {
    const payload = new Uint8Array(TELEPHONE_EVENT_BYTES);
    writeTelephoneEvent(payload, 0, digitToEvent(digit)!, end, 10, duration);
    this.leg.deliver(rtpPacket(TELEPHONE_EVENT_PT, this.sequence++, timestamp, payload, marker));
  }
}

interface Call {
  clock: FakeClock;
  leg: FakeLeg;
  phone: Phone;
  endpoint: MediaEndpoint;
  digits: Array<[string, DigitSource]>;
}

function call(format: EndpointFormat = PCMU_FORMAT, options?: MediaEndpointOptions): Call {
  const clock = new FakeClock(1_000_000);
  const leg = new FakeLeg(clock);
  const endpoint = new MediaEndpoint(leg, format, clock, options);
  const digits: Array<[string, DigitSource]> = [];
  endpoint.onDigit = (digit, source) => digits.push([digit, source]);
  return { clock, leg, phone: new Phone(leg, clock, format), endpoint, digits };
}

/** Reproducible noise: every sample value matters when checking the audio comes back intact. */
function noise(samples: number, seed = 7): Int16Array {
  let state = seed;
  return Int16Array.from({ length: samples }, () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return ((state >>> 16) % (2 * LEVEL)) - LEVEL;
  });
}

/** `ms` of a key's dual tone, as a phone sends it in-band. */
function dtmf(digit: string, ms: number, sampleRate: number): Int16Array {
  const samples = new Int16Array((ms * sampleRate) / 1000);
  new DtmfToneGenerator(digit, ms, sampleRate).fill(samples, samples.length);
  return samples;
}

/** The phone sends `samples` a frame at a time, one frame every ptime; `alongside(frame)` runs before each. */
function talk(c: Call, samples: Int16Array, alongside?: (frame: number) => void): void {
  const size = c.phone.frameSamples;
  for (let frame = 0; frame * size < samples.length; frame++) {
    alongside?.(frame);
    c.phone.audio(samples.subarray(frame * size, (frame + 1) * size));
    c.clock.advance(20);
  }
}

/** A whole key press as telephone-events: a marked start, an update every 20 ms, three end packets. */
function pressKey(c: Call, digit: string, frames: number): void {
  const start = c.phone.now;
  for (let frame = 1; frame <= frames; frame++) {
    c.phone.event(digit, start, frame * 160, false, frame === 1);
    c.clock.advance(20);
  }
  for (let copy = 0; copy < 3; copy++) c.phone.event(digit, start, frames * 160, true, false);
}

function decodeAll(packets: SentPacket[], codec: CodecFactory): Int16Array {
  const decoder = codec.create();
  return concat(
    packets.map(({ bytes }) => {
      const payload = rtpPayload(bytes);
      const pcm = new Int16Array(4 * payload.length);
      return pcm.slice(0, decoder.decode(payload, payload.length, pcm));
    }),
  );
}

function markedPackets(c: Call): number[] {
  return c.leg.sent.flatMap(({ bytes }, i) => (rtpMarker(bytes) ? [i] : []));
}

function audioPackets(c: Call): SentPacket[] {
  return c.leg.sent.filter(({ bytes }) => rtpPayloadType(bytes) !== TELEPHONE_EVENT_PT);
}

/**
 * The invariants of one outgoing stream: one SSRC, sequence numbers without a gap, audio timestamps
 * that keep pace with the clock they were sent by, and the marker bit on audio after a pause.
 */
function assertOneStream(sent: SentPacket[], clockRate = 8000): void {
  const first = sent[0]!;
  for (const [i, { at, bytes }] of sent.entries()) {
    assert.equal(rtpSsrc(bytes), rtpSsrc(first.bytes), `SSRC of packet ${i}`);
    assert.equal(rtpSequence(bytes), (rtpSequence(first.bytes) + i) & 0xffff, `sequence of packet ${i}`);
    if (rtpPayloadType(bytes) === TELEPHONE_EVENT_PT) continue;
    const expected = (rtpTimestamp(first.bytes) + ((at - first.at) * clockRate) / 1000) >>> 0;
    assert.equal(rtpTimestamp(bytes), expected, `timestamp of packet ${i}, sent at ${at}`);
    const previous = sent[i - 1];
    const afterPause = previous === undefined || rtpPayloadType(previous.bytes) === TELEPHONE_EVENT_PT || at - previous.at > 20;
    if (afterPause) assert.ok(rtpMarker(bytes), `marker of packet ${i}, sent at ${at}`);
  }
}

/** Lets promise callbacks and real file I/O run, for up to five real seconds; the fake clock stands still meanwhile. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.ok(condition(), 'condition never came true');
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MediaEndpoint', () => {
  describe('playing', () => {
    it('plays a second of PCMU as 50 paced packets that decode back to the source', async () => {
      const c = call();
      const source = noise(8000);
      const played = c.endpoint.play(new BufferSource(source, 8000));
      assert.equal(c.endpoint.playing, true);
      c.clock.advance(1000);
      assert.equal(await played, 'done');
      assert.equal(c.endpoint.playing, false);

      assert.equal(c.leg.sent.length, 50);
      assert.ok(c.leg.sent.every(({ bytes }) => rtpPayloadType(bytes) === 0 && rtpPayload(bytes).length === 160));
      assert.deepEqual(
        c.leg.sent.map(({ at }) => at - c.leg.sent[0]!.at),
        Array.from({ length: 50 }, (_, i) => 20 * i),
      );
      assertOneStream(c.leg.sent);
      assert.deepEqual(markedPackets(c), [0]);
      assert.deepEqual(decodeAll(c.leg.sent, PCMU), source.map((s) => ulawToLinear(linearToUlaw(s))));
    });

    it('plays G.722 at 16 kHz with the 8 kHz RTP clock, and decodes what it receives at 16 kHz', async () => {
      const c = call(G722_FORMAT);
      assert.equal(c.endpoint.sampleRate, 16000);
      const played = c.endpoint.play(new BufferSource(sine(1000, 16000, 16000, LEVEL), 16000));
      c.clock.advance(1000);
      assert.equal(await played, 'done');
      assert.equal(c.leg.sent.length, 50);
      assert.ok(c.leg.sent.every(({ bytes }) => rtpPayloadType(bytes) === 9 && rtpPayload(bytes).length === 160));
      assertOneStream(c.leg.sent);
      const decoded = decodeAll(c.leg.sent, G722);
      assert.equal(decoded.length, 16000);
      const level = toneLevel(decoded, 8000, 8000, 1000, 16000);
      assert.ok(withinDb(level, LEVEL, 0.5), `1 kHz at ${level}`);

      const heard: Int16Array[] = [];
      c.endpoint.onAudio = (pcm, count) => heard.push(pcm.slice(0, count));
      talk(c, sine(440, 16000, 16000, LEVEL));
      assert.equal(heard.length, 50);
      assert.ok(heard.every((frame) => frame.length === 320));
      const received = concat(heard);
      const receivedLevel = toneLevel(received, 8000, 8000, 440, 16000);
      assert.ok(withinDb(receivedLevel, LEVEL, 0.5), `440 Hz at ${receivedLevel}`);
    });

    it('resamples a source at the other rate', async () => {
      const c = call(G722_FORMAT);
      const played = c.endpoint.play(new BufferSource(sine(500, 8000, 8000, LEVEL), 8000));
      c.clock.advance(1000);
      assert.equal(await played, 'done');
      const decoded = decodeAll(c.leg.sent, G722);
      const level = toneLevel(decoded, 4000, 8000, 500, 16000);
      assert.ok(withinDb(level, LEVEL, 0.5), `500 Hz at ${level}`);
    });

    it('stops: a second play() or stopPlayback() resolves the one before as stopped', async () => {
      const c = call();
      const first = c.endpoint.play(new SilenceSource(8000));
      c.clock.advance(100);
      const switchedAt = c.leg.sent.length;
      const second = c.endpoint.play(new SilenceSource(8000));
      assert.equal(await first, 'stopped');
      c.clock.advance(100);
      c.endpoint.stopPlayback();
      assert.equal(await second, 'stopped');
      assert.equal(c.endpoint.playing, false);
      const sentBefore = c.leg.sent.length;
      c.clock.advance(1000);
      assert.equal(c.leg.sent.length, sentBefore);
      // The second play took over the pacing of the first without a pause, marking its first packet.
      assert.deepEqual(
        c.leg.sent.map(({ at }) => at - c.leg.sent[0]!.at),
        Array.from({ length: sentBefore }, (_, i) => 20 * i),
      );
      assertOneStream(c.leg.sent);
      assert.deepEqual(markedPackets(c), [0, switchedAt]);
    });

    it('rejects a source at a rate it cannot convert, and keeps playing what it played', async () => {
      const c = call();
      const playing = c.endpoint.play(new SilenceSource(8000));
      await assert.rejects(c.endpoint.play(new SilenceSource(44100)), RangeError);
      assert.equal(c.endpoint.playing, true);
      c.endpoint.stopPlayback();
      assert.equal(await playing, 'stopped');
    });

    it('plays a tone for maxMs, then reports it done', async () => {
      const c = call();
      const played = c.endpoint.playTone(TONE_PLANS.us.ringback, 300);
      c.clock.advance(1000);
      assert.equal(await played, 'done');
      assert.equal(c.leg.sent.length, 300 / 20);
      const decoded = decodeAll(c.leg.sent, PCMU);
      assert.ok(toneLevel(decoded, 0, decoded.length, 440, 8000) > LEVEL / 10);
    });

    it('keeps one stream across prompts, pauses and sendFrame(): timestamps follow the clock, marked after a pause', async () => {
      const c = call();
      const frame = sine(300, 8000, 160, LEVEL);
      for (let i = 0; i < 5; i++) {
        c.endpoint.sendFrame(frame, frame.length);
        c.clock.advance(20);
      }
      const prompt = c.endpoint.play(new BufferSource(noise(1600), 8000));
      c.endpoint.sendFrame(frame, frame.length);
      c.clock.advance(200);
      assert.equal(await prompt, 'done');
      c.clock.advance(700);
      const again = c.endpoint.play(new BufferSource(noise(800), 8000));
      c.clock.advance(100);
      assert.equal(await again, 'done');
      for (let i = 0; i < 3; i++) {
        c.endpoint.sendFrame(frame, frame.length);
        c.clock.advance(20);
      }
      c.clock.advance(500);
      c.endpoint.sendFrame(frame, frame.length);

      assert.equal(c.leg.sent.length, 5 + 10 + 5 + 3 + 1, 'the frame sent while the prompt played was dropped');
      assertOneStream(c.leg.sent);
      assert.deepEqual(markedPackets(c), [0, 5, 15, 23], 'marked at the start, the new source and after the two pauses');
    });

    it('moves the timestamp over a pause once, however often playback starts and stops without sending', async () => {
      const c = call();
      const first = c.endpoint.play(new BufferSource(noise(800), 8000));
      c.clock.advance(100);
      assert.equal(await first, 'done');
      c.clock.advance(500);
      const cut = c.endpoint.play(new SilenceSource(8000));
      c.endpoint.stopPlayback();
      assert.equal(await cut, 'stopped');
      c.clock.advance(500);
      const last = c.endpoint.play(new BufferSource(noise(800), 8000));
      c.clock.advance(100);
      assert.equal(await last, 'done');
      assert.equal(c.leg.sent.length, 10);
      assertOneStream(c.leg.sent);
    });

    it('does not count a conference pacer that runs late and catches up as a pause', () => {
      const c = call();
      const frame = sine(300, 8000, 160, LEVEL);
      const sendAt = (times: number[]): void => {
        const start = c.clock.now();
        for (const t of times) {
          c.clock.advance(start + t - c.clock.now());
          c.endpoint.sendFrame(frame, frame.length);
        }
      };
      sendAt([0, 20, 40, 95, 95, 95, 100, 120]);
      assert.deepEqual(
        c.leg.sent.map(({ bytes }) => (rtpTimestamp(bytes) - rtpTimestamp(c.leg.sent[0]!.bytes)) / 160),
        [0, 1, 2, 3, 4, 5, 6, 7],
      );
      assert.deepEqual(
        c.leg.sent.map(({ bytes }) => rtpMarker(bytes)),
        [true, false, false, false, false, false, false, false],
      );
    });
  });

  describe('receiving DTMF', () => {
    it('reports RFC 4733 key presses once each, although their end packets come three times', () => {
      const c = call();
      talk(c, new Int16Array(800));
      pressKey(c, '1', 5);
      talk(c, new Int16Array(800));
      pressKey(c, '#', 3);
      pressKey(c, '1', 4);
      assert.deepEqual(c.digits, [
        ['1', 'rfc4733'],
        ['#', 'rfc4733'],
        ['1', 'rfc4733'],
      ]);
    });

    it('reports a press whose end packets were all lost once audio has flowed half a second without events', () => {
      const c = call();
      const start = c.phone.now;
      for (let frame = 1; frame <= 4; frame++) {
        c.phone.event('6', start, frame * 160, false, frame === 1);
        c.clock.advance(20);
      }
      talk(c, new Int16Array(400 * 8));
      assert.deepEqual(c.digits, []);
      talk(c, new Int16Array(200 * 8));
      assert.deepEqual(c.digits, [['6', 'rfc4733']]);
    });

    it('hears DTMF tones in PCMU audio and reports each press once, as in-band', () => {
      const c = call();
      const silence = new Int16Array(800);
      talk(c, concat([silence, dtmf('7', 100, 8000), silence, dtmf('7', 100, 8000), silence, dtmf('C', 60, 8000), silence]));
      assert.deepEqual(c.digits, [
        ['7', 'inband'],
        ['7', 'inband'],
        ['C', 'inband'],
      ]);
    });

    it('hears DTMF tones in G.722 audio at 16 kHz', () => {
      const c = call(G722_FORMAT);
      const silence = new Int16Array(1600);
      talk(c, concat([silence, dtmf('4', 100, 16000), silence]));
      assert.deepEqual(c.digits, [['4', 'inband']]);
    });

    it('listens for no tones when in-band detection is off', () => {
      const c = call(PCMU_FORMAT, { inbandDetection: false });
      const silence = new Int16Array(800);
      talk(c, concat([silence, dtmf('7', 100, 8000), silence]));
      assert.deepEqual(c.digits, []);
    });

    /** The tone from frame 5 for `frames` frames, and events for the same press from frame 5 + `eventDelay`. */
    function pressBothWays(c: Call, digit: string, frames: number, eventDelay: number): void {
      const silence = new Int16Array(5 * 160);
      const first = 5 + eventDelay;
      const last = 5 + frames;
      let start = 0;
      talk(c, concat([silence, dtmf(digit, frames * 20, 8000), silence]), (frame) => {
        if (frame === first) start = c.phone.now;
        if (frame >= first && frame < last) c.phone.event(digit, start, (frame - first + 1) * 160, false, frame === first);
        if (frame === last) for (let copy = 0; copy < 3; copy++) c.phone.event(digit, start, (last - first) * 160, true, false);
      });
    }

    it('reports a press sent both as events and as a tone once, from the events', () => {
      const c = call();
      pressBothWays(c, '5', 8, 0);
      pressBothWays(c, '9', 8, 0);
      assert.deepEqual(c.digits, [
        ['5', 'rfc4733'],
        ['9', 'rfc4733'],
      ]);
    });

    it('reports a press once when its tone is recognised before its first event arrives', () => {
      const c = call();
      pressBothWays(c, '3', 10, 3);
      assert.deepEqual(c.digits, [['3', 'inband']]);
    });

    it('hears tones again once the events have gone quiet for a while', () => {
      const c = call();
      pressBothWays(c, '5', 8, 0);
      const silence = new Int16Array(1600);
      talk(c, concat([silence, dtmf('5', 100, 8000), silence]));
      assert.deepEqual(c.digits, [
        ['5', 'rfc4733'],
        ['5', 'inband'],
      ]);
    });

    it('reports a key from SIP INFO, upper-cased, and refuses what is not a key', () => {
      const c = call();
      c.endpoint.injectInfoDigit('5');
      c.endpoint.injectInfoDigit('b');
      assert.throws(() => c.endpoint.injectInfoDigit('x'), RangeError);
      assert.deepEqual(c.digits, [
        ['5', 'info'],
        ['B', 'info'],
      ]);
    });

    it('ignores comfort noise, unknown payload types and packets that are not RTP', () => {
      const c = call({ ...PCMU_FORMAT, telephoneEventPayloadType: undefined });
      let frames = 0;
      c.endpoint.onAudio = () => frames++;
      const payload = new Uint8Array(160).fill(0x80);
      c.leg.deliver(rtpPacket(13, 1, 0, new Uint8Array([40])));
      c.leg.deliver(rtpPacket(96, 2, 0, payload));
      const event = new Uint8Array(TELEPHONE_EVENT_BYTES);
      writeTelephoneEvent(event, 0, 1, true, 10, 800);
      c.leg.deliver(rtpPacket(TELEPHONE_EVENT_PT, 3, 0, event, true));
      const notVersion2 = rtpPacket(0, 4, 0, payload);
      notVersion2[0] = 0x40;
      c.leg.deliver(notVersion2);
      c.leg.deliver(Buffer.from([0x80, 0x00, 0x00]));
      assert.equal(frames, 0);
      assert.deepEqual(c.digits, []);
      c.leg.deliver(rtpPacket(0, 5, 0, payload));
      assert.equal(frames, 1);
    });
  });

  describe('sending DTMF', () => {
    it('sends a key as an RFC 4733 train: one timestamp, a marked start, updates every 20 ms, three end packets', async () => {
      const c = call();
      const sent = c.endpoint.sendDigit('9', 100);
      await settle();
      c.clock.advance(500);
      await sent;

      const packets = c.leg.sent.map(({ bytes }) => bytes);
      const durations = Array.from({ length: 7 }, (_, i) => Math.min(160 * (i + 1), 800));
      assert.equal(packets.length, durations.length);
      assert.ok(packets.every((p) => rtpPayloadType(p) === TELEPHONE_EVENT_PT));
      assert.ok(packets.every((p) => rtpTimestamp(p) === rtpTimestamp(packets[0]!)));
      assert.deepEqual(
        packets.map((p) => rtpMarker(p)),
        durations.map((_, i) => i === 0),
      );
      const payloads = packets.map((p) => rtpPayload(p));
      assert.ok(payloads.every((p) => p.length === TELEPHONE_EVENT_BYTES && eventToDigit(p[0]!) === '9'));
      assert.deepEqual(
        payloads.map((p) => p.readUInt16BE(2)),
        durations,
      );
      assert.deepEqual(
        payloads.map((p) => (p[1]! & 0x80) !== 0),
        durations.map((d, i) => d === 800 && durations.indexOf(800) <= i),
      );
      assert.deepEqual(
        c.leg.sent.map(({ at }) => at - c.leg.sent[0]!.at),
        durations.map((_, i) => 20 * i),
      );
      assertOneStream(c.leg.sent);
    });

    it('pauses a prompt while a key goes out and resumes it where it was, in step with the clock', async () => {
      const c = call();
      const source = noise(8000, 3);
      const played = c.endpoint.play(new BufferSource(source, 8000));
      c.clock.advance(210);
      const sent = c.endpoint.sendDigit('5', 60);
      await settle();
      c.clock.advance(100);
      await sent;
      c.clock.advance(2000);
      assert.equal(await played, 'done');

      const types = c.leg.sent.map(({ bytes }) => rtpPayloadType(bytes));
      const firstEvent = types.indexOf(TELEPHONE_EVENT_PT);
      const lastEvent = types.lastIndexOf(TELEPHONE_EVENT_PT);
      assert.equal(firstEvent, 11);
      assert.equal(lastEvent - firstEvent + 1, 5, '60 ms: three updates, the last of them the first end packet, then two more');
      assert.ok(types.slice(firstEvent, lastEvent + 1).every((t) => t === TELEPHONE_EVENT_PT));
      const audio = audioPackets(c);
      assert.equal(audio.length, 50);
      assert.deepEqual(decodeAll(audio, PCMU), source.map((s) => ulawToLinear(linearToUlaw(s))));
      assertOneStream(c.leg.sent);
      // The press takes the timestamp of the audio frame it displaced.
      assert.equal(rtpTimestamp(c.leg.sent[firstEvent]!.bytes), rtpTimestamp(c.leg.sent[firstEvent - 1]!.bytes) + 160);
    });

    it('holds back a play() and drops frames while a key goes out; a stopped playback does not come back', async () => {
      const c = call();
      const sent = c.endpoint.sendDigit('4', 100);
      await settle();
      c.clock.advance(40);
      const played = c.endpoint.play(new BufferSource(noise(800), 8000));
      c.endpoint.sendFrame(new Int16Array(160), 160);
      c.clock.advance(200);
      await sent;
      const types = c.leg.sent.map(({ bytes }) => rtpPayloadType(bytes));
      assert.deepEqual(types, [...Array(7).fill(TELEPHONE_EVENT_PT), ...Array(types.length - 7).fill(0)]);
      c.clock.advance(200);
      assert.equal(await played, 'done');
      assert.equal(audioPackets(c).length, 5);
      assertOneStream(c.leg.sent);

      const cut = c.endpoint.play(new SilenceSource(8000));
      c.clock.advance(20);
      const second = c.endpoint.sendDigit('4', 100);
      await settle();
      c.endpoint.stopPlayback();
      assert.equal(await cut, 'stopped');
      const sentBefore = c.leg.sent.length;
      c.clock.advance(1000);
      await second;
      assert.deepEqual(
        c.leg.sent.slice(sentBefore).map(({ bytes }) => rtpPayloadType(bytes)),
        Array(7).fill(TELEPHONE_EVENT_PT),
      );
    });

    it('sends keys queued one after the other, each its own event', async () => {
      const c = call();
      const keys = ['1', '2', '2'].map((key) => c.endpoint.sendDigit(key, 80));
      for (let i = 0; i < 10; i++) {
        await settle();
        c.clock.advance(100);
      }
      await Promise.all(keys);
      // The endpoint's own packets, fed to a receiver, come back as the three presses.
      const back = call();
      for (const { bytes } of c.leg.sent) back.leg.deliver(bytes);
      assert.deepEqual(back.digits, [
        ['1', 'rfc4733'],
        ['2', 'rfc4733'],
        ['2', 'rfc4733'],
      ]);
    });

    it('sends a key as a tone when the far end takes no telephone-events', async () => {
      const c = call({ ...PCMU_FORMAT, telephoneEventPayloadType: undefined });
      const sent = c.endpoint.sendDigit('8', 100);
      const second = c.endpoint.sendDigit('8', 100);
      for (let i = 0; i < 5; i++) {
        await settle();
        c.clock.advance(100);
      }
      await Promise.all([sent, second]);
      assert.ok(c.leg.sent.every(({ bytes }) => rtpPayloadType(bytes) === 0));
      assert.equal(c.leg.sent.length, 2 * (100 + 60) / 20);
      assertOneStream(c.leg.sent);
      const heard: string[] = [];
      const detector = new InbandDtmfDetector(8000, (digit) => heard.push(digit));
      const decoded = decodeAll(c.leg.sent, PCMU);
      detector.process(decoded, decoded.length);
      assert.deepEqual(heard, ['8', '8']);
    });

    it('refuses keys and durations it cannot send', async () => {
      const c = call();
      await assert.rejects(c.endpoint.sendDigit('E'), RangeError);
      await assert.rejects(c.endpoint.sendDigit('1', 0), RangeError);
      await assert.rejects(c.endpoint.sendDigit('1', 9000), RangeError);
      assert.equal(c.leg.sent.length, 0);
    });
  });

  describe('recording', () => {
    let directory: string;
    let files = 0;
    before(async () => {
      directory = await mkdtemp(join(tmpdir(), 'switchboard-endpoint-'));
    });
    after(async () => {
      await rm(directory, { recursive: true, force: true });
    });
    const nextPath = (): string => join(directory, `recording-${files++}.wav`);

    /** Starts record() and waits until it writes; returns the result and when it started. */
    async function startRecording(
      c: Call,
      options: Parameters<MediaEndpoint['record']>[1],
    ): Promise<{ result: ReturnType<MediaEndpoint['record']>; startedAt: number }> {
      const result = c.endpoint.record(nextPath(), options);
      await until(() => c.endpoint.recording);
      return { result, startedAt: c.clock.now() };
    }

    /** The seconds a recording holds when it ended at `endedAt`: one 20 ms frame per pacer tick. */
    const secondsUntil = (startedAt: number, endedAt: number): number => (Math.floor((endedAt - startedAt) / 20) + 1) / 50;

    it('records what the phone says until a stop key, which it reports instead of onDigit', async () => {
      const c = call();
      const { result, startedAt } = await startRecording(c, { maxSeconds: 30, stopDigits: '#*' });
      talk(c, sine(440, 8000, 8000, LEVEL));
      pressKey(c, '1', 3);
      pressKey(c, '#', 3);
      const endedAt = c.clock.now();
      const { path, seconds, stoppedBy, digit } = await result;
      assert.equal(stoppedBy, 'digit');
      assert.equal(digit, '#');
      assert.deepEqual(c.digits, [['1', 'rfc4733']]);
      assert.equal(c.endpoint.recording, false);
      assert.equal(seconds, secondsUntil(startedAt, endedAt));

      const wav = readWav(await readFile(path));
      assert.equal(wav.sampleRate, 8000);
      assert.equal(wav.samples.length, Math.round(seconds * 8000));
      const level = toneLevel(wav.samples, 2000, 4000, 440, 8000);
      assert.ok(withinDb(level, LEVEL, 0.5), `440 Hz at ${level}`);
    });

    it('stops at maxSeconds', async () => {
      const c = call();
      const { result } = await startRecording(c, { maxSeconds: 0.5, stopDigits: '#' });
      talk(c, sine(440, 8000, 8000, LEVEL));
      const { path, seconds, stoppedBy, digit } = await result;
      assert.equal(stoppedBy, 'max');
      assert.equal(digit, undefined);
      assert.equal(seconds, 0.5);
      assert.equal(readWav(await readFile(path)).samples.length, 4000);
    });

    it('stops after silenceSeconds of silence, counted only once the caller has been heard', async () => {
      const c = call();
      const { result, startedAt } = await startRecording(c, { maxSeconds: 30, silenceSeconds: 0.4 });
      talk(c, new Int16Array(8000));
      assert.equal(c.endpoint.recording, true, 'silence before any speech does not end it');
      const speechFrames = 15;
      talk(c, sine(440, 8000, speechFrames * 160, LEVEL));
      const lastSpeechAt = c.clock.now() - 20;
      talk(c, new Int16Array(4000));
      // The phone stops sending altogether (voice activity detection): that is silence too.
      c.clock.advance(1000);
      const { seconds, stoppedBy } = await result;
      assert.equal(stoppedBy, 'silence');
      const endedAt = startedAt + 20 * Math.ceil((lastSpeechAt + 400 - startedAt) / 20);
      assert.equal(seconds, secondsUntil(startedAt, endedAt));
    });

    it('records at 16 kHz for G.722', async () => {
      const c = call(G722_FORMAT);
      const { result } = await startRecording(c, { maxSeconds: 0.6 });
      talk(c, sine(440, 16000, 16000, LEVEL));
      const { path, seconds, stoppedBy } = await result;
      assert.equal(stoppedBy, 'max');
      const wav = readWav(await readFile(path));
      assert.equal(wav.sampleRate, 16000);
      assert.equal(wav.samples.length, seconds * 16000);
      assert.ok(withinDb(toneLevel(wav.samples, 3200, 3200, 440, 16000), LEVEL, 0.5));
    });

    it('beeps before it starts recording', async () => {
      const c = call();
      const result = c.endpoint.record(nextPath(), { maxSeconds: 1, beep: true });
      c.clock.advance(300);
      await until(() => c.endpoint.recording);
      const beep = decodeAll(c.leg.sent, PCMU);
      assert.equal(c.leg.sent.length, Math.ceil(250 / 20));
      assert.ok(withinDb(toneLevel(beep, 0, 2000, 1000, 8000), 32767 * 10 ** ((-13 - 3.14) / 20), 0.5));
      c.clock.advance(100);
      c.endpoint.stopRecording();
      const { path, seconds, stoppedBy } = await result;
      assert.equal(stoppedBy, 'stopped');
      const wav = readWav(await readFile(path));
      assert.equal(wav.samples.length, seconds * 8000);
      assert.ok(wav.samples.every((s) => s === 0));
    });

    it('refuses a second recording at once and options it cannot honour', async () => {
      const c = call();
      const { result } = await startRecording(c, { maxSeconds: 5 });
      await assert.rejects(c.endpoint.record(nextPath(), { maxSeconds: 5 }), /already/);
      c.endpoint.stopRecording();
      assert.equal((await result).stoppedBy, 'stopped');
      await assert.rejects(c.endpoint.record(nextPath(), { maxSeconds: 0 }), RangeError);
      await assert.rejects(c.endpoint.record(nextPath(), { maxSeconds: 5, stopDigits: '#x' }), RangeError);
      await assert.rejects(c.endpoint.record(nextPath(), { maxSeconds: 5, silenceSeconds: -1 }), RangeError);
    });
  });

  describe('echo and close', () => {
    it('echoes every frame it receives while echo is on', () => {
      const c = call();
      const heard: Int16Array[] = [];
      c.endpoint.onAudio = (pcm, count) => heard.push(pcm.slice(0, count));
      c.endpoint.echo(true);
      talk(c, noise(800, 11));
      c.endpoint.echo(false);
      talk(c, noise(800, 12));
      assert.equal(heard.length, 10);
      assert.equal(c.leg.sent.length, 5);
      assert.deepEqual(decodeAll(c.leg.sent, PCMU), concat(heard.slice(0, 5)));
      assertOneStream(c.leg.sent);
    });

    it('echoes at the phone’s own ptime', () => {
      const c = call();
      const phone = new Phone(c.leg, c.clock, { ...PCMU_FORMAT, ptimeMs: 30 });
      c.endpoint.echo(true);
      const sound = noise(240 * 4, 5);
      for (let i = 0; i < 4; i++) {
        phone.audio(sound.subarray(240 * i, 240 * (i + 1)));
        c.clock.advance(30);
      }
      assert.equal(c.leg.sent.length, 4);
      assert.deepEqual(
        c.leg.sent.map(({ bytes }) => rtpTimestamp(bytes) - rtpTimestamp(c.leg.sent[0]!.bytes)),
        [0, 240, 480, 720],
      );
      assert.deepEqual(decodeAll(c.leg.sent, PCMU), sound.map((s) => ulawToLinear(linearToUlaw(s))));
    });

    it('close() stops playing, sending and recording, leaves no timer and lets go of the leg', async () => {
      const c = call();
      const played = c.endpoint.play(new SilenceSource(8000));
      c.clock.advance(100);
      const digit = c.endpoint.sendDigit('1', 2000);
      await settle();
      c.clock.advance(100);
      const directory = await mkdtemp(join(tmpdir(), 'switchboard-endpoint-close-'));
      try {
        const recorded = c.endpoint.record(join(directory, 'closed.wav'), { maxSeconds: 10 });
        await until(() => c.endpoint.recording);
        c.endpoint.close();
        assert.equal(c.leg.onRtp, undefined);
        assert.equal(await played, 'stopped');
        await digit;
        assert.equal((await recorded).stoppedBy, 'stopped');
        assert.equal(c.clock.pending(), 0);
        const sentBefore = c.leg.sent.length;
        assert.equal(await c.endpoint.play(new SilenceSource(8000)), 'stopped');
        await c.endpoint.sendDigit('2');
        c.endpoint.sendFrame(new Int16Array(160), 160);
        c.clock.advance(1000);
        assert.equal(c.leg.sent.length, sentBefore);
        await assert.rejects(c.endpoint.record(join(directory, 'after.wav'), { maxSeconds: 1 }), /closed/);
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });

    it('leaves a leg another endpoint has taken over alone when it closes', () => {
      const clock = new FakeClock();
      const leg = new FakeLeg(clock);
      const first = new MediaEndpoint(leg, PCMU_FORMAT, clock);
      const second = new MediaEndpoint(leg, PCMU_FORMAT, clock);
      first.close();
      assert.notEqual(leg.onRtp, undefined);
      second.close();
      assert.equal(leg.onRtp, undefined);
    });
  });
});
