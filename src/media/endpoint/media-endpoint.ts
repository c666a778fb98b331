// The server as one end of a call's media, for services: it plays prompts and tones, hears and sends
// DTMF, records, and echoes, over one leg's RTP. The receive path and every send run on buffers
// allocated here once.
import type { CodecFactory, CodecInstance } from '../codecs/codec.js';
import { digitToEvent, TelephoneEventSender } from '../dtmf/rfc4733.js';
import { FramePacer } from '../frame-pacer.js';
import type { MixerSampleRate } from '../mixer.js';
import { RateAdapter, ToneSource, type PcmSource } from '../pcm-source.js';
import { Player } from '../player.js';
import { rtpMarker, rtpPayloadLength, rtpPayloadOffset, rtpPayloadType, rtpTimestamp } from '../rtp/rtp-packet.js';
import { TONE_PLANS, type ToneSpec } from '../tones.js';
import type { Clock } from '../../transaction/clock.js';
import { DtmfReceiver, type DigitSource } from './dtmf-receiver.js';
import { EndpointRecording, type RecordOptions, type RecordResult } from './endpoint-recording.js';
import { OutgoingStream } from './outgoing-stream.js';
import { DtmfKeySource, LimitedSource } from './sources.js';

export type { DigitSource } from './dtmf-receiver.js';
export type { RecordOptions, RecordResult, RecordingStop } from './endpoint-recording.js';

/** The RTP side of a call leg the endpoint talks on; a relay's MediaLeg is one. */
export interface RtpLeg {
  onRtp: ((packet: Buffer, length: number) => void) | undefined;
  sendRtp(packet: Uint8Array, length: number): void;
}

/** What the offer/answer settled for the leg. */
export interface EndpointFormat {
  payloadType: number;
  codec: CodecFactory;
  /** undefined: the far end takes no telephone-events, so keys are sent as tones */
  telephoneEventPayloadType: number | undefined;
  ptimeMs: number;
}

export interface MediaEndpointOptions {
  /** listen for DTMF tones in the audio; by default on for G.711 and G.722, which carry them faithfully */
  inbandDetection?: boolean;
}

export type PlayResult = 'done' | 'stopped';

/** Codecs whose audio keeps DTMF tones intact; low bit-rate codecs distort them into false keys. */
const TONE_SAFE_CODECS: ReadonlySet<string> = new Set(['PCMU', 'PCMA', 'G722']);
/** Largest payload decoded: one Ethernet MTU. Bigger packets are not any phone's audio. */
const MAX_PAYLOAD_BYTES = 1500;
/** Longest frame received or sent: a 1500-byte G.711 payload holds 187.5 ms. */
const MAX_FRAME_MS = 200;
/** RFC 4733 telephone-events go out every 20 ms whatever the audio ptime. */
const EVENT_PACKET_MS = 20;
const DEFAULT_DIGIT_MS = 100;
/** The longest press one RFC 4733 event can carry: 16 bits of duration at 8 kHz. */
const MAX_DIGIT_MS = 8000;
/** Silence after an in-band key, so two presses of one key are heard as two (ITU-T Q.24 asks 40 ms or more). */
const INBAND_PAUSE_MS = 60;

interface Playback {
  source: PcmSource;
  resolve: (result: PlayResult) => void;
}

export class MediaEndpoint {
  /** rate of the PCM the codec takes and gives: 8000 for G.711, 16000 for G.722 */
  readonly sampleRate: number;
  /** Every decoded frame received. The buffer is reused for the next one: copy what you keep. */
  onAudio: ((pcm: Int16Array, count: number) => void) | undefined;
  /** Each key press the far end sends, once, however it was sent. */
  onDigit: ((digit: string, source: DigitSource) => void) | undefined;

  private readonly decoder: CodecInstance;
  private readonly encoder: CodecInstance;
  private readonly stream: OutgoingStream;
  private readonly digits: DtmfReceiver;
  private readonly events: TelephoneEventSender;
  private readonly eventPacer: FramePacer;
  private readonly payloadIn = new Uint8Array(MAX_PAYLOAD_BYTES);
  private readonly pcmIn: Int16Array;
  private playback: Playback | undefined;
  /** plays `playback` unless a key press is being sent */
  private player: Player | undefined;
  private digitPlayer: Player | undefined;
  /** resolves the sendDigit() in progress */
  private digitSent: (() => void) | undefined;
  private digitQueue: Promise<void> = Promise.resolve();
  private activeRecording: EndpointRecording | undefined;
  private echoing = false;
  private closed = false;

  constructor(
    private readonly leg: RtpLeg,
    private readonly format: EndpointFormat,
    private readonly clock: Clock,
    options: MediaEndpointOptions = {},
  ) {
    const { codec, ptimeMs } = format;
    const frameSamples = (ptimeMs * codec.sampleRate) / 1000;
    if (!(Number.isInteger(frameSamples) && frameSamples > 0 && ptimeMs <= MAX_FRAME_MS)) {
      throw new RangeError(`ptime ${ptimeMs} ms does not suit ${codec.name}`);
    }
    this.sampleRate = codec.sampleRate;
    this.decoder = codec.create();
    this.encoder = codec.create();
    const maxFrameSamples = (MAX_FRAME_MS * codec.sampleRate) / 1000;
    this.pcmIn = new Int16Array(maxFrameSamples);
    this.stream = new OutgoingStream({
      clock,
      encoder: this.encoder,
      payloadType: format.payloadType,
      ptimeMs,
      maxFrameSamples,
      send: (packet, length) => leg.sendRtp(packet, length),
    });
    const inband = options.inbandDetection ?? TONE_SAFE_CODECS.has(codec.name.toUpperCase());
    this.digits = new DtmfReceiver(clock, codec.clockRate, inband ? codec.sampleRate : undefined, this.report);
    this.events = new TelephoneEventSender(codec.clockRate, EVENT_PACKET_MS);
    this.eventPacer = new FramePacer(clock, EVENT_PACKET_MS, this.sendEventPacket);
    leg.onRtp = this.receive;
  }

  get playing(): boolean {
    return this.playback !== undefined;
  }

  /** True while record() is writing audio: after the file is open and any beep has played. */
  get recording(): boolean {
    return this.activeRecording?.writing ?? false;
  }

  /** A key that came as SIP INFO, reported through onDigit; a RangeError for anything but a DTMF key. */
  injectInfoDigit(digit: string): void {
    if (!this.closed) this.digits.info(digit);
  }

  /**
   * Plays `source` at whatever rate it has. Resolves 'done' when it has all been sent, 'stopped' when
   * stopPlayback(), another play() or close() cut it short. A key press being sent holds it back.
   */
  play(source: PcmSource): Promise<PlayResult> {
    if (this.closed) return Promise.resolve('stopped');
    return new Promise((resolve) => {
      // A source at a rate there is no conversion from rejects here, before anything changes.
      const adapted = source.sampleRate === this.sampleRate ? source : new RateAdapter(source, this.sampleRate);
      const previous = this.playback;
      const playback: Playback = { source: adapted, resolve };
      this.playback = playback;
      previous?.resolve('stopped');
      if (this.digitSent !== undefined) return;
      // A running player switches source without a break in its pacing.
      if (this.player !== undefined) this.player.play(adapted, () => this.finishPlayback(playback, 'done'));
      else this.startPlayer(playback);
    });
  }

  stopPlayback(): void {
    if (this.playback !== undefined) this.finishPlayback(this.playback, 'stopped');
  }

  /** A tone from a plan, for `maxMs` if given; one that repeats otherwise plays until stopped. */
  playTone(spec: ToneSpec, maxMs?: number): Promise<PlayResult> {
    const tone = new ToneSource(spec, this.sampleRate);
    return this.play(maxMs === undefined ? tone : new LimitedSource(tone, maxMs));
  }

  /**
   * Encodes and sends one frame now, continuing the stream play() uses: for a conference mixer or an
   * echo. Ignored while something plays or a key press is being sent.
   */
  sendFrame(pcm: Int16Array, count: number): void {
    if (this.closed || this.playback !== undefined || this.digitSent !== undefined) return;
    this.stream.sendFrame(pcm, count);
  }

  /**
   * Sends a key press as RFC 4733 events if the far end takes them, else as a tone; audio pauses
   * meanwhile. Presses queue behind each other; each resolves once sent (or at close()).
   */
  sendDigit(digit: string, durationMs = DEFAULT_DIGIT_MS): Promise<void> {
    if (digitToEvent(digit) === undefined) return Promise.reject(new RangeError(`not a DTMF key: ${JSON.stringify(digit)}`));
    if (!(durationMs > 0 && durationMs <= MAX_DIGIT_MS)) {
      return Promise.reject(new RangeError(`DTMF duration must be over 0 and at most ${MAX_DIGIT_MS} ms, not ${durationMs}`));
    }
    const sent = this.digitQueue.then(() => this.transmitDigit(digit, durationMs));
    this.digitQueue = sent;
    return sent;
  }

  /**
   * Records what the far end says to a WAV file at the codec's rate, until a stop key, maxSeconds,
   * silenceSeconds of silence after speech, stopRecording() or close(). One recording at a time.
   */
  async record(path: string, options: RecordOptions): Promise<RecordResult> {
    if (this.closed) throw new Error('the media endpoint is closed');
    if (this.activeRecording !== undefined) throw new Error('a recording is already in progress');
    const recording = new EndpointRecording(path, options, this.clock, mixerRate(this.sampleRate));
    this.activeRecording = recording;
    try {
      return await recording.run(options.beep ? this.playTone(TONE_PLANS.us.beep) : Promise.resolve());
    } finally {
      this.activeRecording = undefined;
    }
  }

  stopRecording(): void {
    this.activeRecording?.finish('stopped');
  }

  /** Sends back every frame received, while nothing else plays: an echo test. */
  echo(on: boolean): void {
    this.echoing = on;
  }

  /** Stops playing, sending and recording, and lets go of the leg. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.leg.onRtp === this.receive) this.leg.onRtp = undefined;
    this.echoing = false;
    this.stopPlayback();
    this.finishDigit();
    this.stopRecording();
  }

  private readonly receive = (packet: Buffer, length: number): void => {
    const offset = rtpPayloadOffset(packet, length);
    if (offset < 0) return;
    const payloadLength = rtpPayloadLength(packet, length);
    const payloadType = rtpPayloadType(packet);
    if (payloadType === this.format.payloadType) {
      this.receiveAudio(packet, offset, payloadLength);
    } else if (payloadType === this.format.telephoneEventPayloadType) {
      this.digits.telephoneEvent(packet, offset, payloadLength, rtpTimestamp(packet), rtpMarker(packet));
    }
  };

  private receiveAudio(packet: Buffer, offset: number, payloadLength: number): void {
    if (payloadLength === 0 || payloadLength > MAX_PAYLOAD_BYTES) return;
    // The codec decodes from the start of an array: copying beats a subarray view per packet.
    packet.copy(this.payloadIn, 0, offset, offset + payloadLength);
    const pcm = this.pcmIn;
    const count = Math.min(this.decoder.decode(this.payloadIn, payloadLength, pcm), pcm.length);
    this.digits.audio(pcm, count);
    if (this.closed) return;
    this.activeRecording?.audio(pcm, count);
    this.onAudio?.(pcm, count);
    if (this.echoing) this.sendFrame(pcm, count);
  }

  private readonly report = (digit: string, source: DigitSource): void => {
    if (this.activeRecording?.stopOnDigit(digit)) return;
    this.onDigit?.(digit, source);
  };

  private startPlayer(playback: Playback): void {
    this.stream.resume();
    this.player = this.createPlayer();
    this.player.play(playback.source, () => this.finishPlayback(playback, 'done'));
  }

  private finishPlayback(playback: Playback, result: PlayResult): void {
    if (this.playback !== playback) return;
    this.playback = undefined;
    this.player?.stop();
    this.player = undefined;
    playback.resolve(result);
  }

  private createPlayer(): Player {
    return new Player({
      clock: this.clock,
      codec: this.encoder,
      payloadType: this.format.payloadType,
      ptimeMs: this.format.ptimeMs,
      send: this.stream.sendPlayed,
      sender: this.stream.sender,
    });
  }

  private transmitDigit(digit: string, durationMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.digitSent = resolve;
      // The playback stays: it picks up where it was once the key is out.
      this.player?.stop();
      this.player = undefined;
      this.stream.resume();
      if (this.format.telephoneEventPayloadType === undefined) {
        this.digitPlayer = this.createPlayer();
        this.digitPlayer.play(new DtmfKeySource(digit, durationMs, INBAND_PAUSE_MS, this.sampleRate), () => this.finishDigit());
      } else {
        this.events.start(digit, durationMs);
        this.eventPacer.start();
      }
    });
  }

  private readonly sendEventPacket = (): void => {
    if (!this.stream.sendEvent(this.events, this.format.telephoneEventPayloadType!)) this.finishDigit();
  };

  private finishDigit(): void {
    this.eventPacer.stop();
    this.digitPlayer?.stop();
    this.digitPlayer = undefined;
    const sent = this.digitSent;
    this.digitSent = undefined;
    if (this.playback !== undefined) this.startPlayer(this.playback);
    sent?.();
  }
}

function mixerRate(sampleRate: number): MixerSampleRate {
  if (sampleRate !== 8000 && sampleRate !== 16000) throw new RangeError(`no recording at ${sampleRate} Hz (only 8000 and 16000)`);
  return sampleRate;
}
