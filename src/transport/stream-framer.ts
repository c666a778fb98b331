// RFC 3261 §18.3 framing of SIP over a byte stream: a message is its header section (up to the
// first CRLFCRLF) plus Content-Length bytes of body. Chunks are scanned in place; bytes are copied
// only when a message straddles chunks, and then at most once into a buffer of the message's
// exact size. Memory per connection stays below 2 × maxHeaderBytes + maxBodyBytes.

export interface FramingLimits {
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

export interface FramerSink {
  /** A complete message: header section and body. */
  onFrame(message: Buffer): void;
  /** A "\r\n\r\n" keep-alive ping between messages (RFC 5626 §4.4.1); answer with "\r\n". */
  onPing(): void;
  /** The stream cannot be framed any more; the connection must be closed. */
  onViolation(reason: string): void;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const PING = HEADER_END;
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
/** Above this, a carry-over buffer is dropped after use instead of being kept for the next message. */
const KEPT_HEADER_BUFFER_BYTES = 4096;

export class StreamFramer {
  private readonly limits: FramingLimits;
  private readonly sink: FramerSink;
  /** how many bytes of a ping have been seen between messages */
  private pingMatched = 0;
  /** start of a header section carried over from earlier chunks */
  private header: Buffer | null = null;
  private headerLength = 0;
  /** a message whose header section is complete, waiting for the rest of its body */
  private message: Buffer | null = null;
  private messageFilled = 0;
  private failed = false;

  constructor(limits: FramingLimits, sink: FramerSink) {
    this.limits = limits;
    this.sink = sink;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.failed) {
      if (this.message !== null) pos = this.fillBody(this.message, chunk, pos);
      else if (this.headerLength > 0) pos = this.continueHeader(chunk, pos);
      else pos = this.startMessage(chunk, pos);
    }
  }

  private startMessage(chunk: Buffer, from: number): number {
    let pos = from;
    while (pos < chunk.length) {
      const byte = chunk[pos];
      if (byte !== CR && byte !== LF) break;
      if (byte === PING[this.pingMatched]) this.pingMatched++;
      else this.pingMatched = byte === CR ? 1 : 0;
      pos++;
      if (this.pingMatched === PING.length) {
        this.pingMatched = 0;
        this.sink.onPing();
      }
    }
    if (pos === chunk.length) return pos;
    this.pingMatched = 0;

    const limit = this.limits.maxHeaderBytes;
    const found = chunk.indexOf(HEADER_END, pos);
    if (found >= 0 && found + HEADER_END.length - pos <= limit) {
      return this.headerInChunk(chunk, pos, found + HEADER_END.length);
    }
    if (found < 0 && chunk.length - pos < limit) {
      this.ensureHeaderCapacity(chunk.length - pos);
      this.headerLength = chunk.copy(this.header as Buffer, 0, pos);
      return chunk.length;
    }
    this.fail(`header section exceeds ${limit} bytes`);
    return chunk.length;
  }

  /** The whole header section lies in this chunk: deliver in place when the body does too. */
  private headerInChunk(chunk: Buffer, start: number, headerEnd: number): number {
    const bodyLength = this.contentLength(chunk, start, headerEnd);
    if (bodyLength < 0) return chunk.length;
    const total = headerEnd - start + bodyLength;
    if (chunk.length - start >= total) {
      this.sink.onFrame(chunk.subarray(start, start + total));
      return start + total;
    }
    const message = Buffer.allocUnsafe(total);
    this.messageFilled = chunk.copy(message, 0, start);
    this.message = message;
    return chunk.length;
  }

  private continueHeader(chunk: Buffer, pos: number): number {
    const limit = this.limits.maxHeaderBytes;
    const previous = this.headerLength;
    const take = Math.min(chunk.length - pos, limit - previous);
    this.ensureHeaderCapacity(previous + take);
    const header = this.header as Buffer;
    chunk.copy(header, previous, pos, pos + take);
    this.headerLength = previous + take;

    // The terminator may begin in the bytes carried over, so look back three bytes.
    const found = header.subarray(0, this.headerLength).indexOf(HEADER_END, Math.max(0, previous - 3));
    if (found < 0) {
      if (this.headerLength >= limit) this.fail(`header section exceeds ${limit} bytes`);
      return pos + take;
    }
    const headerEnd = found + HEADER_END.length;
    const bodyLength = this.contentLength(header, 0, headerEnd);
    if (bodyLength < 0) return chunk.length;
    const message = Buffer.allocUnsafe(headerEnd + bodyLength);
    header.copy(message, 0, 0, headerEnd);
    this.releaseHeader();
    this.message = message;
    this.messageFilled = headerEnd;
    return this.fillBody(message, chunk, pos + (headerEnd - previous));
  }

  private fillBody(message: Buffer, chunk: Buffer, pos: number): number {
    const take = Math.min(message.length - this.messageFilled, chunk.length - pos);
    chunk.copy(message, this.messageFilled, pos, pos + take);
    this.messageFilled += take;
    if (this.messageFilled === message.length) {
      this.message = null;
      this.messageFilled = 0;
      this.sink.onFrame(message);
    }
    return pos + take;
  }

  /**
   * Body length from Content-Length or compact "l" in buf[start, end) (the header section);
   * a stream message without one has no body. Reports a violation and returns -1 when invalid.
   */
  private contentLength(buf: Buffer, start: number, end: number): number {
    const max = this.limits.maxBodyBytes;
    let length = -1;
    // The first line is the start line; the section ends with an empty line.
    let line = buf.indexOf(LF, start) + 1;
    while (line > 0 && line < end - 2) {
      let pos = contentLengthValueStart(buf, line, end);
      if (pos >= 0) {
        while (pos < end && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
        let value = 0;
        let digits = 0;
        while (pos < end && buf[pos] >= 0x30 && buf[pos] <= 0x39) {
          value = value * 10 + (buf[pos] - 0x30);
          if (value > max) {
            this.fail(`Content-Length exceeds ${max} bytes`);
            return -1;
          }
          digits++;
          pos++;
        }
        while (pos < end && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
        if (digits === 0 || (buf[pos] !== CR && buf[pos] !== LF)) {
          this.fail('invalid Content-Length');
          return -1;
        }
        if (length >= 0 && length !== value) {
          this.fail('conflicting Content-Length headers');
          return -1;
        }
        length = value;
      }
      line = buf.indexOf(LF, line) + 1;
    }
    return length < 0 ? 0 : length;
  }

  private ensureHeaderCapacity(needed: number): void {
    const current = this.header;
    if (current !== null && current.length >= needed) return;
    const grown = Math.max(needed, Math.min(this.limits.maxHeaderBytes, Math.max(1024, (current?.length ?? 0) * 2)));
    const next = Buffer.allocUnsafe(grown);
    if (current !== null) current.copy(next, 0, 0, this.headerLength);
    this.header = next;
  }

  private releaseHeader(): void {
    this.headerLength = 0;
    if (this.header !== null && this.header.length > KEPT_HEADER_BUFFER_BYTES) this.header = null;
  }

  private fail(reason: string): void {
    this.failed = true;
    this.header = null;
    this.headerLength = 0;
    this.message = null;
    this.sink.onViolation(reason);
  }
}

/** Position after the colon when the line at `pos` is a Content-Length (or "l") header, else -1. */
function contentLengthValueStart(buf: Buffer, pos: number, end: number): number {
  let p = pos;
  const first = lowerAscii(buf[p]);
  if (first === 0x6c) {
    p++;
  } else if (first === CONTENT_LENGTH[0]) {
    if (end - p < CONTENT_LENGTH.length) return -1;
    for (let i = 0; i < CONTENT_LENGTH.length; i++) {
      if (lowerAscii(buf[p + i]) !== CONTENT_LENGTH[i]) return -1;
    }
    p += CONTENT_LENGTH.length;
  } else {
    return -1;
  }
  while (p < end && (buf[p] === SP || buf[p] === HTAB)) p++;
  return p < end && buf[p] === COLON ? p + 1 : -1;
}

function lowerAscii(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
}
