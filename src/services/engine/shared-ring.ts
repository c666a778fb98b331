// One direction of the channel between the main thread and a service's worker: messages (strings) in a
// ring of shared memory, and a doorbell the reader sleeps on. Why not postMessage: a message to a thread
// that sleeps costs its sender 15-40 us (bench/README.md), a round trip ~30 us against ~13 us here; the
// wake-up is most of what a call through a Lua service costs beyond plain routing.
//
// Layout: a header of Int32 (head: where the writer writes next, tail: where the reader reads next, the
// doorbell), then the data: records of an Int32 byte length and the UTF-8 text, 4-aligned. A record that
// would not fit before the end leaves a WRAP mark and starts at 0. head == tail is empty, so the writer
// never fills the ring up to the tail.

const HEAD = 0;
const TAIL = 1;
const DOORBELL = 2;
const HEADER_BYTES = 16;
const LENGTH_BYTES = 4;
/** the rest of the ring up to its end is unused: the next record is at 0 */
const WRAP = -1;

/** Shared memory for one ring of `capacityBytes` (a multiple of 4) of messages. */
export function ringMemory(capacityBytes: number): SharedArrayBuffer {
  if (capacityBytes % 4 !== 0 || capacityBytes < 64) throw new Error(`a ring holds a multiple of 4 bytes, at least 64 (not ${capacityBytes})`);
  return new SharedArrayBuffer(HEADER_BYTES + capacityBytes);
}

export class SharedRing {
  private readonly control: Int32Array;
  private readonly words: Int32Array;
  private readonly data: Buffer;
  readonly capacity: number;

  constructor(memory: SharedArrayBuffer) {
    this.capacity = memory.byteLength - HEADER_BYTES;
    this.control = new Int32Array(memory, 0, HEADER_BYTES / 4);
    this.words = new Int32Array(memory, HEADER_BYTES, this.capacity / 4);
    this.data = Buffer.from(memory, HEADER_BYTES, this.capacity);
  }

  /** The largest message write() takes, in UTF-8 bytes: a quarter of the ring, so that one never waits for long. */
  get largest(): number {
    return this.capacity / 4 - LENGTH_BYTES;
  }

  /** Writes `text`; false when it does not fit now (the reader is behind) or ever (longer than `largest`). */
  write(text: string): boolean {
    // ASCII, nearly every message, is one byte per code unit: no second pass to count
    const bytes = text.length * 3 <= this.largest ? -1 : Buffer.byteLength(text);
    if (bytes > this.largest) return false;
    const head = this.control[HEAD]!;
    const tail = Atomics.load(this.control, TAIL);
    const worst = bytes >= 0 ? bytes : text.length * 3;
    const need = LENGTH_BYTES + align(worst);
    let at: number;
    if (head >= tail) {
      if (head + need < this.capacity || (head + need === this.capacity && tail > 0)) at = head;
      else if (need < tail) at = 0;
      else return false;
    } else if (head + need < tail) {
      at = head;
    } else {
      return false;
    }
    const written = this.data.write(text, at + LENGTH_BYTES);
    this.words[at / 4] = written;
    if (at !== head) this.words[head / 4] = WRAP;
    const next = at + LENGTH_BYTES + align(written);
    // the text is in place before the reader can see the new head (Atomics are sequentially consistent)
    Atomics.store(this.control, HEAD, next === this.capacity ? 0 : next);
    return true;
  }

  /** The next message; undefined when there is none. */
  read(): string | undefined {
    let tail = this.control[TAIL]!;
    const head = Atomics.load(this.control, HEAD);
    if (tail === head) return undefined;
    let length = this.words[tail / 4]!;
    if (length === WRAP) {
      tail = 0;
      length = this.words[0]!;
    }
    const text = this.data.toString('utf8', tail + LENGTH_BYTES, tail + LENGTH_BYTES + length);
    const next = tail + LENGTH_BYTES + align(length);
    Atomics.store(this.control, TAIL, next === this.capacity ? 0 : next);
    return text;
  }

  /** Tells a reader that sleeps that there is something to read. */
  ring(): void {
    Atomics.add(this.control, DOORBELL, 1);
    Atomics.notify(this.control, DOORBELL);
  }

  /** What the doorbell stands at: read it before reading the messages, then sleep on it. */
  doorbell(): number {
    return Atomics.load(this.control, DOORBELL);
  }

  /** Blocks the thread (a worker's: the main thread may not) until the doorbell moves past `seen`, or `timeoutMs`. */
  sleep(seen: number, timeoutMs: number): void {
    Atomics.wait(this.control, DOORBELL, seen, timeoutMs);
  }

  /** Resolves when the doorbell moves past `seen` (at once if it has). */
  async rung(seen: number): Promise<void> {
    const waiting = (Atomics as unknown as AtomicsWithWaitAsync).waitAsync(this.control, DOORBELL, seen);
    if (waiting.async) await waiting.value;
  }
}

/** Node 20 has Atomics.waitAsync (V8 11); TypeScript's lib declares it from es2024 on. */
interface AtomicsWithWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

function align(bytes: number): number {
  return (bytes + 3) & ~3;
}
