import { constants as osConstants } from 'node:os';
import type { Clock } from '../../transaction/clock.js';
import { isPrivateAddress } from './media-leg.js';
import type { NativeEngineHandle, NativeRelayAddon } from './native-addon.js';
import { PortNumbers } from './port-pool.js';
import type { HandlerErrorReporter, LegSignalling, PacketHandler, RelayEngine, RelayLeg, RtpPosition, SocketFamily } from './relay-leg.js';

/** Packets for JS (the server's own legs) the relay thread can hold before JS drains them. */
const RING_SLOTS = 2048;
/** Bigger packets for JS are not delivered; no audio payload of a phone comes near. */
const RING_SLOT_BYTES = 2048;
/** SCHED_RR priority of the relay thread when asked for: the lowest, above every normal thread only */
const REALTIME_PRIORITY = 1;
const RTP = 0;
const RTCP = 1;

/** stats() layout (native-addon.ts) */
const RECEIVED = 0;
const DROPPED = 1;
const MS_SINCE_RECEIVED = 2;
const SSRC = 3;
const SEQUENCE = 4;
const TIMESTAMP = 5;
const MS_SINCE_RTP = 6;

/**
 * Relay legs served by the native relay thread (native/rtp-relay): it reads every leg's sockets in
 * batches and forwards in C, so relayed packets never reach JS. Only packets the server itself
 * terminates (onRtp) come up, a batch per wake-up, each handed to the handler in a reused buffer.
 */
export class NativeRelayEngine implements RelayEngine {
  private readonly ports: PortNumbers;
  private readonly handle: NativeEngineHandle;
  private readonly legs = new Map<number, NativeLeg>();
  /** one view per ring slot, made once, so delivery allocates nothing */
  private readonly slotViews: Buffer[];
  private readonly meta = new Uint32Array(RING_SLOTS * 2);
  private closed = false;

  constructor(
    private readonly addon: NativeRelayAddon,
    firstPort: number,
    lastPort: number,
    private readonly clock: Clock,
    relatchQuietMs: number,
    private readonly reportHandlerError: HandlerErrorReporter = () => {},
  ) {
    this.ports = new PortNumbers(firstPort, lastPort);
    const ring = Buffer.alloc(RING_SLOTS * RING_SLOT_BYTES);
    this.slotViews = Array.from({ length: RING_SLOTS }, (_, i) => ring.subarray(i * RING_SLOT_BYTES, (i + 1) * RING_SLOT_BYTES));
    this.handle = addon.create(this.ports.firstEven, this.ports.capacity, relatchQuietMs, ring, this.meta, RING_SLOT_BYTES, this.deliver);
  }

  get used(): number {
    return this.ports.used;
  }

  get capacity(): number {
    return this.ports.capacity;
  }

  /** Packets for the server's own legs lost because JS fell behind by a whole ring. */
  get undelivered(): number {
    return this.closed ? 0 : this.addon.undelivered(this.handle);
  }

  /**
   * Moves the relay thread to SCHED_RR, the lowest real-time priority: on a busy host a woken relay
   * thread otherwise waits up to a scheduler slice (milliseconds of jitter) for its CPU (decision 0005).
   * Undefined when done, else why the kernel refused.
   */
  useRealtimePriority(): string | undefined {
    const errno = this.addon.setRealtime(this.handle, REALTIME_PRIORITY);
    if (errno === 0) return undefined;
    return errno === osConstants.errno.EPERM ? 'EPERM: it needs root or CAP_SYS_NICE' : `errno ${errno}`;
  }

  async openLeg(family: SocketFamily): Promise<RelayLeg | undefined> {
    if (this.closed) return undefined;
    const opened = await this.ports.allocate((port) => {
      const id = this.addon.openLeg(this.handle, port, family);
      // a port another program holds, or any other refusal: the next port is tried
      return id > 0 ? id : undefined;
    });
    if (!opened) return undefined;
    const leg = new NativeLeg(this.addon, this.handle, opened.bound, opened.port, this.clock);
    this.legs.set(leg.id, leg);
    return leg;
  }

  closeLeg(leg: RelayLeg): void {
    const own = leg as NativeLeg;
    if (this.legs.get(own.id) !== own) return;
    this.legs.delete(own.id);
    own.freeze();
    this.addon.closeLeg(this.handle, own.rtpPort);
    this.ports.release(own.rtpPort);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const leg of [...this.legs.values()]) this.closeLeg(leg);
    this.closed = true;
    this.addon.close(this.handle);
  }

  /** Called by the addon with ring slots [from, to) (modulo the slot count) to hand to the legs' handlers. */
  private readonly deliver = (from: number, to: number): void => {
    for (let i = from; i !== to; i = (i + 1) >>> 0) {
      const slot = i & (RING_SLOTS - 1);
      const handler = this.legs.get(this.meta[2 * slot]!)?.onRtp;
      if (!handler) continue;
      try {
        handler(this.slotViews[slot]!, this.meta[2 * slot + 1]!);
      } catch (err) {
        this.reportHandlerError(err);
      }
    }
  };
}

/** One leg of the native relay; its state lives in C, read and set through the addon. */
class NativeLeg implements RelayLeg {
  closed = false;
  private handler: PacketHandler | undefined;
  private signalling: LegSignalling | undefined;
  private readonly stats = new Float64Array(7);
  /** clock time of the figures in `stats`; those of a closed leg stay as they were when it closed */
  private statsAt = 0;
  private hasStats = false;

  constructor(
    private readonly addon: NativeRelayAddon,
    private readonly engine: NativeEngineHandle,
    readonly id: number,
    readonly rtpPort: number,
    private readonly clock: Clock,
  ) {}

  /** Keeps the last figures for whoever reads them after the leg is closed. */
  freeze(): void {
    this.read();
    this.closed = true;
  }

  get received(): number {
    return this.read() ? this.stats[RECEIVED]! : 0;
  }

  get dropped(): number {
    return this.read() ? this.stats[DROPPED]! : 0;
  }

  get lastReceivedAt(): number {
    // the relay thread keeps monotonic time; the media timeout compares with this clock
    return this.read() ? this.statsAt - this.stats[MS_SINCE_RECEIVED]! : this.clock.now();
  }

  get onRtp(): PacketHandler | undefined {
    return this.handler;
  }

  set onRtp(handler: PacketHandler | undefined) {
    this.handler = handler;
    if (!this.closed) this.addon.setDeliver(this.engine, this.rtpPort, handler !== undefined);
  }

  /** The same rules as MediaLeg.setSignalling (docs/media.md "Symmetric RTP and latching"). */
  setSignalling(s: LegSignalling): void {
    if (this.closed) return;
    const prev = this.signalling;
    this.signalling = s;
    const usable = s.port !== 0 && s.address !== '0.0.0.0' && s.address !== '::';
    const sendToSignalled = usable && !(isPrivateAddress(s.address) && s.address !== s.signallingAddress);
    const reset = !prev || prev.address !== s.address || prev.port !== s.port || prev.signallingAddress !== s.signallingAddress;
    this.addon.setSignalling(this.engine, this.rtpPort, s.signallingAddress, s.address, s.port, s.rtcpPort, sendToSignalled, reset);
  }

  forwardRtpTo(other: RelayLeg | undefined): void {
    this.forward(RTP, other);
  }

  forwardRtcpTo(other: RelayLeg | undefined): void {
    this.forward(RTCP, other);
  }

  sendRtp(packet: Uint8Array, length: number): void {
    if (!this.closed) this.addon.send(this.engine, this.rtpPort, packet, length);
  }

  lastRtp(): RtpPosition | undefined {
    if (!this.read() || this.stats[SSRC]! < 0 || this.stats[SEQUENCE]! < 0) return undefined;
    return {
      ssrc: this.stats[SSRC]!,
      sequence: this.stats[SEQUENCE]!,
      timestamp: this.stats[TIMESTAMP]!,
      at: this.statsAt - this.stats[MS_SINCE_RTP]!,
    };
  }

  rtpDestination(): { address: string; port: number; latched: boolean } | undefined {
    return this.closed ? undefined : this.addon.destination(this.engine, this.rtpPort);
  }

  private forward(kind: 0 | 1, other: RelayLeg | undefined): void {
    if (this.closed) return;
    const target = other as NativeLeg | undefined;
    this.addon.forward(this.engine, this.rtpPort, kind, target && !target.closed ? target.rtpPort : 0);
  }

  /** Fresh figures into `stats` while the leg is open; false when there are none. */
  private read(): boolean {
    if (!this.closed && this.addon.stats(this.engine, this.rtpPort, this.stats)) {
      this.statsAt = this.clock.now();
      this.hasStats = true;
    }
    return this.hasStats;
  }
}
