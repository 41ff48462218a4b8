// gRPC message framing and the few protobuf messages dockgate reads, decoded by hand.
//
// gRPC over HTTP/2 frames each message as 1 byte compressed-flag, 4 bytes big-endian length, then
// the protobuf bytes. Protobuf is a sequence of (field number << 3 | wire type) varint keys and
// values: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. The schemas are BuildKit's and
// fsutil's public .proto files; only the fields dockgate checks are named, the others are skipped
// by wire type (so a message is always walked whole: a malformed one throws WireError).

export class WireError extends Error {}

/** Splits a byte stream into gRPC messages; `push` returns the complete ones (raw frame + payload). */
export class GrpcFramer {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessage: number) {}

  push(chunk: Buffer): Array<{ frame: Buffer; compressed: boolean; payload: Buffer }> {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Array<{ frame: Buffer; compressed: boolean; payload: Buffer }> = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > this.maxMessage) throw new WireError(`gRPC message of ${len} bytes exceeds ${this.maxMessage}`);
      if (this.buf.length < 5 + len) break;
      const frame = this.buf.subarray(0, 5 + len);
      out.push({ frame, compressed: frame[0] !== 0, payload: frame.subarray(5) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }

  /** True when no partial message is buffered. */
  get empty(): boolean {
    return this.buf.length === 0;
  }
}

/** A protobuf field as read: varints as bigint-safe numbers (callers only use small ones), bytes as Buffer. */
export type Field = { no: number; wire: 0; value: number } | { no: number; wire: 2; value: Buffer } | { no: number; wire: 1 | 5; value: Buffer };

function varint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new WireError("truncated varint");
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, pos];
    mul *= 128;
  }
  throw new WireError("varint longer than 10 bytes");
}

/** Every field of one message, in order. */
export function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, p] = varint(buf, pos);
    pos = p;
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (no === 0) throw new WireError("field number 0");
    switch (wire) {
      case 0: {
        const [v, q] = varint(buf, pos);
        pos = q;
        out.push({ no, wire: 0, value: v });
        break;
      }
      case 1:
      case 5: {
        const n = wire === 1 ? 8 : 4;
        if (pos + n > buf.length) throw new WireError("truncated fixed field");
        out.push({ no, wire, value: buf.subarray(pos, pos + n) });
        pos += n;
        break;
      }
      case 2: {
        const [len, q] = varint(buf, pos);
        if (q + len > buf.length) throw new WireError("truncated length-delimited field");
        out.push({ no, wire: 2, value: buf.subarray(q, q + len) });
        pos = q + len;
        break;
      }
      default:
        throw new WireError(`unsupported wire type ${wire}`);
    }
  }
  return out;
}

// ── fsutil types.Packet (tonistiigi/fsutil types/wire.proto, stat.proto) ──

export const PACKET_STAT = 0;
export const PACKET_DATA = 2;

export interface Packet {
  type: number;
  /** Stat.path (field 1) of a STAT packet, undefined for the end-of-stats marker. */
  path: string | undefined;
  /** Stat.mode (field 2): Go os.FileMode bits. */
  mode: number;
  id: number;
  data: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Packet { type = 1; Stat stat = 2; uint32 ID = 3; bytes data = 4 } */
export function decodePacket(buf: Buffer): Packet {
  const p: Packet = { type: 0, path: undefined, mode: 0, id: 0, data: EMPTY };
  for (const f of fields(buf)) {
    if (f.no === 1 && f.wire === 0) p.type = f.value;
    else if (f.no === 3 && f.wire === 0) p.id = f.value;
    else if (f.no === 4 && f.wire === 2) p.data = f.value;
    else if (f.no === 2 && f.wire === 2) {
      p.path = "";
      for (const s of fields(f.value)) {
        if (s.no === 1 && s.wire === 2) p.path = s.value.toString("utf8");
        else if (s.no === 2 && s.wire === 0) p.mode = s.value;
      }
    } else if (f.no <= 4) throw new WireError(`Packet field ${f.no} has wire type ${f.wire}`);
  }
  return p;
}

/** Go's os.ModeType (dir, symlink, device, pipe, socket, char device, irregular). */
const GO_MODE_TYPE = 0x8f280000;

/** A Stat mode (Go os.FileMode bits) of a regular file. */
export function isRegularFile(mode: number): boolean {
  return (mode & GO_MODE_TYPE) === 0;
}

/** gRPC's percent-encoding of grpc-message (every byte outside 0x20..0x7e, and '%'). */
export function grpcMessage(message: string): string {
  let out = "";
  for (const b of Buffer.from(message, "utf8")) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}
