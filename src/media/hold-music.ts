// Music on hold: while one party holds a relayed call, the other hears the music in a loop, encoded
// in a codec it offered and paced by a Player of its own.
import type { Clock } from '../transaction/clock.js';
import type { CodecFactory } from './codecs/codec.js';
import { codecByName } from './codecs/registry.js';
import { Player } from './player.js';
import type { RelayLeg, RtpPosition } from './relay/relay-leg.js';
import { RtpSender } from './rtp/rtp-sender.js';
import type { HoldHandler, RelayedStream, Side } from './relay/media-session.js';
import type { SdpStream } from './sdp/session-sdp.js';
import type { SoundLibrary } from './sound-library.js';

/** What hold music needs of a relayed stream: where the held party receives and what it can decode. */
export interface HeldStream {
  readonly index: number;
  readonly legs: Record<Side, Pick<RelayLeg, 'sendRtp' | 'lastRtp'>>;
  readonly described: RelayedStream['described'];
}

export interface HoldMusicOptions {
  library: Pick<SoundLibrary, 'musicOnHold' | 'source'>;
  clock: Clock;
  /** `problem` is true for what an admin should see (no music played), false for routine events */
  logger?: (msg: string, fields: object, problem: boolean) => void;
}

const DEFAULT_PTIME_MS = 20;
// a=ptime is only a wish (RFC 4566 §6): outside what phones use it is a typo, or a timer storm for 1 ms.
const MIN_PTIME_MS = 10;
const MAX_PTIME_MS = 60;

interface PlayableFormat {
  codec: CodecFactory;
  payloadType: number;
}

export class HoldMusic implements HoldHandler {
  private readonly library: HoldMusicOptions['library'];
  private readonly clock: Clock;
  private readonly log: (msg: string, fields: object, problem: boolean) => void;
  /** per held side, so both parties of a stream can be held apart; a player plays once the music is read */
  private readonly players: Record<Side, Map<HeldStream, Player>> = { caller: new Map(), callee: new Map() };

  constructor(options: HoldMusicOptions) {
    this.library = options.library;
    this.clock = options.clock;
    this.log = options.logger ?? (() => {});
  }

  startHoldMusic(stream: HeldStream, held: Side): void {
    if (this.players[held].has(stream)) return;
    const format = playableFormat(stream.described[held]);
    if (format === undefined) {
      const offered = stream.described[held]?.formats.map((f) => f.encoding) ?? [];
      this.log('no music on hold: the held party offered no codec the server can encode', { stream: stream.index, held, offered }, true);
      return;
    }
    const leg = stream.legs[held];
    const player = new Player({
      clock: this.clock,
      codec: format.codec.create(),
      payloadType: format.payloadType,
      ptimeMs: packetTime(stream.described[held]?.ptimeMs),
      send: (packet, length) => leg.sendRtp(packet, length),
      sender: this.continuing(stream.legs[held === 'caller' ? 'callee' : 'caller'].lastRtp(), format.codec.clockRate),
    });
    const players = this.players[held];
    players.set(stream, player);
    this.library
      .musicOnHold()
      .then((music) => {
        // Taken off hold (and maybe held again) while the file was read: this player is not wanted.
        if (players.get(stream) !== player) return;
        player.play(this.library.source(music, { loop: true }));
        this.log('music on hold started', { stream: stream.index, held, codec: format.codec.name }, false);
      })
      .catch((error: unknown) => {
        if (players.get(stream) === player) this.stopHoldMusic(stream, held);
        this.log('no music on hold: the music could not be played', { stream: stream.index, held, error: String(error) }, true);
      });
  }

  /**
   * The music continues the holder's stream (its SSRC, the next sequence number, the timestamp moved on
   * by the time since): some phones' jitter buffers drop a new stream whose sequence numbers look older.
   */
  private continuing(last: RtpPosition | undefined, clockRate: number): RtpSender | undefined {
    if (!last) return undefined;
    const elapsedTicks = Math.max(0, Math.round(((this.clock.now() - last.at) * clockRate) / 1000));
    return new RtpSender({ ssrc: last.ssrc, sequence: (last.sequence + 1) & 0xffff, timestamp: (last.timestamp + elapsedTicks) >>> 0 });
  }

  stopHoldMusic(stream: HeldStream, held: Side): void {
    const player = this.players[held].get(stream);
    if (player === undefined) return;
    this.players[held].delete(stream);
    player.stop();
  }
}

/** The first format in the held party's SDP that the server can encode, with its payload type. */
function playableFormat(described: SdpStream | undefined): PlayableFormat | undefined {
  for (const format of described?.formats ?? []) {
    const codec = codecByName(format.encoding);
    if (codec !== undefined && codec.clockRate === format.clockRate) return { codec, payloadType: format.payloadType };
  }
  return undefined;
}

function packetTime(ptimeMs: number | undefined): number {
  if (ptimeMs === undefined || !Number.isInteger(ptimeMs) || ptimeMs < MIN_PTIME_MS || ptimeMs > MAX_PTIME_MS) return DEFAULT_PTIME_MS;
  return ptimeMs;
}
