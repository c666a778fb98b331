// Loads the native RTP relay (native/rtp-relay, built by scripts/build-native.mjs) if this machine
// has it; the server falls back to Node sockets when it does not.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The engine handle the addon gives out; only the addon looks inside. */
export type NativeEngineHandle = { readonly __nativeRelayEngine: unique symbol };

/** The addon's functions (native/rtp-relay/src/addon.c); ports name legs, by their RTP port. */
export interface NativeRelayAddon {
  /** bumped with every change of these functions */
  readonly abi: number;
  /**
   * An engine for the even ports firstPort, firstPort + 2, ... (`pairs` of them) whose relay thread copies
   * packets for JS into `ring` (slotBytes per packet, meta: leg id and length per slot, a power of two
   * slots) and calls deliver(from, to) for the slots [from, to) modulo the slot count.
   */
  create(
    firstPort: number,
    pairs: number,
    relatchQuietMs: number,
    ring: Buffer,
    meta: Uint32Array,
    slotBytes: number,
    deliver: (from: number, to: number) => void,
  ): NativeEngineHandle;
  /** the leg's id (> 0), or -errno */
  openLeg(engine: NativeEngineHandle, rtpPort: number, family: 4 | 6): number;
  closeLeg(engine: NativeEngineHandle, rtpPort: number): void;
  setSignalling(
    engine: NativeEngineHandle,
    rtpPort: number,
    trustedIp: string,
    sdpAddress: string,
    sdpRtpPort: number,
    sdpRtcpPort: number,
    sendToSignalled: boolean,
    resetLatch: boolean,
  ): void;
  /** kind 0 RTP, 1 RTCP; targetRtpPort 0 stops forwarding */
  forward(engine: NativeEngineHandle, rtpPort: number, kind: 0 | 1, targetRtpPort: number): void;
  setDeliver(engine: NativeEngineHandle, rtpPort: number, on: boolean): void;
  /** 1 sent, 0 nowhere to send yet, -errno */
  send(engine: NativeEngineHandle, rtpPort: number, packet: Uint8Array, length: number): number;
  /**
   * Fills `out` with received, dropped, ms since the last packet, the last RTP packet's SSRC, sequence
   * number and timestamp (-1 SSRC or sequence: none yet), ms since it; false when no leg is on the port.
   */
  stats(engine: NativeEngineHandle, rtpPort: number, out: Float64Array): boolean;
  destination(engine: NativeEngineHandle, rtpPort: number): { address: string; port: number; latched: boolean } | undefined;
  /** packets for JS lost to a full ring */
  undelivered(engine: NativeEngineHandle): number;
  /** moves the relay thread to SCHED_RR at `priority`: 0, or the errno that refused it */
  setRealtime(engine: NativeEngineHandle, priority: number): number;
  /** stops and joins the relay thread and closes every leg's sockets */
  close(engine: NativeEngineHandle): void;
}

export type NativeRelayStatus = { available: true; addon: NativeRelayAddon } | { available: false; reason: string };

const EXPECTED_ABI = 2;
const ADDON_PATH = fileURLToPath(new URL('../../../../native/rtp-relay/build/Release/rtp_relay.node', import.meta.url));

let status: NativeRelayStatus | undefined;

/** The addon, or why it cannot be used here; looked up once. */
export function loadNativeRelay(): NativeRelayStatus {
  status ??= load();
  return status;
}

function load(): NativeRelayStatus {
  if (process.platform !== 'linux') return { available: false, reason: `it needs Linux, this is ${process.platform}` };
  let addon: NativeRelayAddon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as NativeRelayAddon;
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { available: false, reason: `${ADDON_PATH} cannot be loaded (${message}); build it with node scripts/build-native.mjs` };
  }
  if (addon.abi !== EXPECTED_ABI) {
    return { available: false, reason: `${ADDON_PATH} is a stale build (ABI ${addon.abi}, expected ${EXPECTED_ABI}); rebuild it with node scripts/build-native.mjs` };
  }
  return { available: true, addon };
}
