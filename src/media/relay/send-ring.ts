// dgram.send() reads the buffer on a later tick (the address lookup is asynchronous even for an IP
// literal), so a sender that reuses one buffer per packet — every player, the conference — would
// have its packets overwritten when it sends several in one tick. Generated packets are copied into
// this ring first; relayed packets arrive in fresh buffers and are sent as they are.
const SLOTS = 1024;
const SLOT_BYTES = 1500;
const ring = Buffer.allocUnsafe(SLOTS * SLOT_BYTES);
let next = 0;

/** A copy of `packet` that stays intact for the next SLOTS - 1 copies. */
export function stableCopy(packet: Uint8Array, length: number): Buffer {
  const n = Math.min(length, SLOT_BYTES);
  const slot = ring.subarray(next * SLOT_BYTES, next * SLOT_BYTES + n);
  slot.set(packet.subarray(0, n));
  next = (next + 1) % SLOTS;
  return slot;
}
