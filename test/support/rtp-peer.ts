// The audio side of a phone that a SIPp scenario only signals for (key rtp_port): the test sends PCMU
// and RFC 4733 key presses like a phone, paced to the 20 ms grid, and finds in what the far end sent
// the prompts it expects, sample for sample.
import dgram from 'node:dgram';
import { linearToUlaw, ulawToLinear } from '../../src/media/codecs/g711.js';
import { digitToEvent, writeTelephoneEvent } from '../../src/media/dtmf/rfc4733.js';
import { rtpPayloadOffset, rtpPayloadType } from '../../src/media/rtp/rtp-packet.js';
import { rtpPacket, rtpPayload } from './rtp-test-packets.js';

const HOST = '127.0.0.1';
const SAMPLE_RATE = 8000;
const FRAME_SAMPLES = 160;
const FRAME_MS = 20;
const PCMU = 0;
/** what the scenarios in test/sipp offer for telephone-event */
const TELEPHONE_EVENT = 101;
/** two minutes of received audio; a call in these tests is far shorter */
const RECEIVED_CAPACITY = SAMPLE_RATE * 120;
/** a key is held for 5 frames (100 ms), then 80 ms pass before the next */
const KEY_FRAMES = 5;
const KEY_GAP_MS = 80;
/** RFC 4733 §2.5.1.4: the end of an event is sent three times */
const END_PACKET_COPIES = 3;
const KEY_VOLUME = 10;
const POLL_MS = 20;
/** a sample this loud anchors the search for a sound: silence would match everywhere */
const ANCHOR_LEVEL = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Where a sound was found in the received audio, in samples from the first one received. */
export interface HeardAt {
  start: number;
  end: number;
}

export class RtpPeer {
  private remotePort: number | undefined;
  private sequence = Math.floor(Math.random() * 0x7fff);
  private timestamp = Math.floor(Math.random() * 0x7fffffff);
  /** sending is one stream: audio and key presses take turns */
  private sending: Promise<void> = Promise.resolve();
  private readonly heard = new Int16Array(RECEIVED_CAPACITY);
  private heardLength = 0;
  private closed = false;

  private constructor(private readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (packet) => this.receive(packet));
  }

  static async open(): Promise<RtpPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
    return new RtpPeer(socket, socket.address().port);
  }

  /** The far end's RTP port, from its SDP answer. */
  sendTo(port: number): void {
    this.remotePort = port;
  }

  /** Samples of PCMU received so far (decoded). */
  get samplesHeard(): number {
    return this.heardLength;
  }

  /** The received audio from sample `from` on (decoded PCMU), as a copy. */
  audio(from = 0, to = this.heardLength): Int16Array {
    return this.heard.slice(from, to);
  }

  /** Sends `samples` as PCMU in 20 ms packets, in real time; stops early when the peer is closed (hung up). */
  sendAudio(samples: Int16Array): Promise<void> {
    return this.enqueue(async () => {
      const start = performance.now();
      const payload = new Uint8Array(FRAME_SAMPLES);
      for (let at = 0, n = 0; at < samples.length && !this.closed; at += FRAME_SAMPLES, n++) {
        for (let i = 0; i < FRAME_SAMPLES; i++) payload[i] = linearToUlaw(samples[at + i] ?? 0);
        this.send(rtpPacket(PCMU, this.sequence, this.timestamp, payload, n === 0));
        this.sequence = (this.sequence + 1) & 0xffff;
        this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
        await sleep(Math.max(0, start + (n + 1) * FRAME_MS - performance.now()));
      }
    });
  }

  /** Presses each key in turn as RFC 4733 telephone-events: 100 ms held, then released. */
  pressKeys(keys: string): Promise<void> {
    return this.enqueue(async () => {
      for (const key of keys) {
        const code = digitToEvent(key);
        if (code === undefined) throw new Error(`"${key}" is not a DTMF key`);
        const start = performance.now();
        const event = new Uint8Array(4);
        for (let n = 0; n < KEY_FRAMES + END_PACKET_COPIES; n++) {
          const end = n >= KEY_FRAMES;
          writeTelephoneEvent(event, 0, code, end, KEY_VOLUME, Math.min(n + 1, KEY_FRAMES) * FRAME_SAMPLES);
          // every packet of one press carries the timestamp of its start
          this.send(rtpPacket(TELEPHONE_EVENT, this.sequence, this.timestamp, event, n === 0));
          this.sequence = (this.sequence + 1) & 0xffff;
          if (n < KEY_FRAMES) await sleep(Math.max(0, start + (n + 1) * FRAME_MS - performance.now()));
        }
        this.timestamp = (this.timestamp + KEY_FRAMES * FRAME_SAMPLES) >>> 0;
        await sleep(KEY_GAP_MS);
        this.timestamp = (this.timestamp + (KEY_GAP_MS / FRAME_MS) * FRAME_SAMPLES) >>> 0;
      }
    });
  }

  /**
   * Waits until the far end has sent `sound` whole, starting at or after sample `after`; resolves with
   * where it was heard. The far end plays it as PCMU, so each sample must be its µ-law round trip.
   */
  async waitForSound(sound: Int16Array, what: string, options: { after?: number; timeoutMs?: number } = {}): Promise<HeardAt> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    let from = options.after ?? 0;
    for (;;) {
      const found = this.find(sound, from);
      if (typeof found === 'object') return found;
      from = found;
      if (Date.now() >= deadline) throw new Error(`did not hear ${what} after sample ${options.after ?? 0} (${this.heardLength} samples heard)`);
      await sleep(POLL_MS);
    }
  }

  /** Where `sound` was heard whole, at or after sample `after`; undefined when it was not (yet). */
  findSound(sound: Int16Array, after = 0): HeardAt | undefined {
    const found = this.find(sound, after);
    return typeof found === 'object' ? found : undefined;
  }

  /** Waits until at least `samples` have been received. */
  async waitForSamples(samples: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.heardLength < samples) {
      if (Date.now() >= deadline) throw new Error(`${this.heardLength} of ${samples} samples heard in ${timeoutMs} ms`);
      await sleep(POLL_MS);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  /**
   * The sound's position in the received audio from `from` on, or, when it is not (yet) there whole,
   * the first position a later search must still look at.
   */
  private find(sound: Int16Array, from: number): HeardAt | number {
    const anchor = sound.findIndex((s) => Math.abs(s) >= ANCHOR_LEVEL);
    if (anchor < 0) throw new Error('the sound is silence: nothing to recognise it by');
    const expected = Int16Array.from(sound, (s) => ulawToLinear(linearToUlaw(s)));
    const lastStart = this.heardLength - sound.length;
    for (let start = from; start <= lastStart; start++) {
      if (this.heard[start + anchor] !== expected[anchor]) continue;
      let i = 0;
      while (i < sound.length && this.heard[start + i] === expected[i]) i++;
      if (i === sound.length) return { start, end: start + sound.length };
    }
    return Math.max(from, lastStart + 1);
  }

  private receive(packet: Buffer): void {
    if (rtpPayloadOffset(packet, packet.length) < 0 || rtpPayloadType(packet) !== PCMU) return;
    const payload = rtpPayload(packet);
    const room = Math.min(payload.length, RECEIVED_CAPACITY - this.heardLength);
    for (let i = 0; i < room; i++) this.heard[this.heardLength + i] = ulawToLinear(payload[i]!);
    this.heardLength += room;
  }

  private send(packet: Buffer): void {
    if (this.closed) return;
    if (this.remotePort === undefined) throw new Error('sendTo(port) first: the far end\'s port is not known yet');
    this.socket.send(packet, this.remotePort, HOST);
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.sending.then(work);
    this.sending = next.catch(() => undefined);
    return next;
  }
}
