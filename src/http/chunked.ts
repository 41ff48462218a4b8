// A streaming decoder for chunked transfer coding, strict where Go is lenient: chunk-size lines
// end in CRLF (Go also takes a bare LF), sizes are at most 16 hex digits, extensions are dropped,
// trailers are read and dropped. It never copies data: it reports slices of the buffers it is fed.

import { HttpError } from "./errors.js";

const enum State {
  Size,
  Data,
  DataCr,
  DataLf,
  Trailer,
  Done,
}

const MAX_LINE = 4096;
const MAX_TRAILER = 16384;
const SIZE_LINE = /^([0-9A-Fa-f]{1,16})(?:[ \t]*;[\x20-\x7e\t]*)?$/;
const TRAILER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;

export class ChunkedDecoder {
  private state = State.Size;
  private remaining = 0;
  private line = "";
  private trailerBytes = 0;

  /** Data slices go here, in order. */
  constructor(private readonly onData: (chunk: Buffer) => void) {}

  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Feeds buf[start..]; returns the index just past the last byte that belongs to the chunked
   * body (buf.length when all of it did). Throws HttpError on malformed framing.
   */
  push(buf: Buffer, start: number): number {
    let i = start;
    while (i < buf.length && this.state !== State.Done) {
      switch (this.state) {
        case State.Size:
        case State.Trailer: {
          const lf = buf.indexOf(0x0a, i);
          const end = lf < 0 ? buf.length : lf + 1;
          this.line += buf.toString("latin1", i, end);
          if (this.line.length > MAX_LINE) throw new HttpError(400, "chunk-size or trailer line too long");
          i = end;
          if (lf < 0) break;
          if (this.line.length < 2 || this.line.charCodeAt(this.line.length - 2) !== 0x0d) {
            throw new HttpError(400, "chunked body line not terminated by CRLF");
          }
          const text = this.line.slice(0, -2);
          this.line = "";
          if (this.state === State.Size) this.onSizeLine(text);
          else this.onTrailerLine(text);
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, buf.length - i);
          this.onData(buf.subarray(i, i + n));
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = State.DataCr;
          break;
        }
        case State.DataCr:
          if (buf[i] !== 0x0d) throw new HttpError(400, "chunk data not followed by CRLF");
          this.state = State.DataLf;
          i++;
          break;
        case State.DataLf:
          if (buf[i] !== 0x0a) throw new HttpError(400, "chunk data not followed by CRLF");
          this.state = State.Size;
          i++;
          break;
      }
    }
    return i;
  }

  private onSizeLine(text: string): void {
    const m = SIZE_LINE.exec(text);
    if (!m) throw new HttpError(400, "malformed chunk-size line");
    const size = parseInt(m[1]!, 16);
    if (!Number.isSafeInteger(size)) throw new HttpError(400, "chunk size too large");
    if (size === 0) {
      this.state = State.Trailer;
    } else {
      this.remaining = size;
      this.state = State.Data;
    }
  }

  private onTrailerLine(text: string): void {
    if (text === "") {
      this.state = State.Done;
      return;
    }
    this.trailerBytes += text.length;
    if (this.trailerBytes > MAX_TRAILER || !TRAILER_LINE.test(text)) throw new HttpError(400, "malformed or oversized trailer");
  }
}
