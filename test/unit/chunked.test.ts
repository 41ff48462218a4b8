// ChunkedDecoder: strict chunked framing, fed in arbitrary pieces.

import { describe, expect, it } from "vitest";
import { ChunkedDecoder } from "../../src/http/chunked.js";
import { HttpError } from "../../src/http/errors.js";

interface Fed {
  data: Buffer;
  done: boolean;
  /** Index in the whole input just past the body (where the decoder stopped taking bytes). */
  end: number;
}

/** Feeds `input` in pieces cut at `cuts` (sorted offsets); each piece is a separate Buffer. */
function feed(input: Buffer | string, cuts: number[] = []): Fed {
  const buf = typeof input === "string" ? Buffer.from(input, "latin1") : input;
  const parts: Buffer[] = [];
  const decoder = new ChunkedDecoder((chunk) => parts.push(Buffer.from(chunk)));
  let offset = 0;
  let end = -1;
  for (const stop of [...cuts, buf.length]) {
    if (stop < offset) continue;
    const piece = Buffer.from(buf.subarray(offset, stop)); // its own memory, like a socket read
    const used = decoder.push(piece, 0);
    expect(used).toBeGreaterThanOrEqual(0);
    expect(used).toBeLessThanOrEqual(piece.length);
    if (decoder.done && end < 0) end = offset + used;
    else expect(used).toBe(piece.length); // everything before the end belongs to the body
    offset = stop;
    if (decoder.done) break;
  }
  return { data: Buffer.concat(parts), done: decoder.done, end };
}

function rejects(input: string): void {
  let caught: unknown;
  try {
    feed(input);
  } catch (err) {
    caught = err;
  }
  expect(caught, JSON.stringify(input)).toBeInstanceOf(HttpError);
  expect((caught as HttpError).status).toBe(400);
}

const BODY = "5\r\nhello\r\n1;ext=1\r\n \r\nA ; a=\"b c\"\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
const DATA = "hello 0123456789";

describe("ChunkedDecoder", () => {
  it("decodes a body with extensions and trailers, dropping both", () => {
    const r = feed(BODY);
    expect(r.data.toString("latin1")).toBe(DATA);
    expect(r.done).toBe(true);
    expect(r.end).toBe(BODY.length);
  });

  it("gives the same data and end for a split at every byte position", () => {
    for (let cut = 0; cut <= BODY.length; cut++) {
      const r = feed(BODY, [cut]);
      expect(r.data.toString("latin1"), `cut at ${cut}`).toBe(DATA);
      expect(r.done).toBe(true);
      expect(r.end).toBe(BODY.length);
    }
  });

  it("gives the same data when fed one byte at a time and in every pair of cuts", () => {
    const every = Array.from({ length: BODY.length }, (_, i) => i + 1);
    expect(feed(BODY, every).data.toString("latin1")).toBe(DATA);
    for (let a = 1; a < BODY.length; a += 3) {
      for (let b = a; b < BODY.length; b += 5) {
        expect(feed(BODY, [a, b]).data.toString("latin1"), `cuts ${a},${b}`).toBe(DATA);
      }
    }
  });

  it("passes binary data (CR, LF, NUL, 0xff) through untouched", () => {
    const payload = Buffer.from([0x0d, 0x0a, 0x00, 0xff, 0x0d, 0x0a, 0x30, 0x0d, 0x0a, 0x0d, 0x0a]);
    const input = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from("\r\n0\r\n\r\n")]);
    for (let cut = 0; cut <= input.length; cut++) {
      expect(feed(input, [cut]).data.equals(payload)).toBe(true);
    }
  });

  it("accepts upper- and lower-case hex and leading zeros up to 16 digits", () => {
    const data = "x".repeat(0x1a);
    expect(feed(`1A\r\n${data}\r\n0\r\n\r\n`).data.toString()).toBe(data);
    expect(feed(`1a\r\n${data}\r\n0\r\n\r\n`).data.toString()).toBe(data);
    expect(feed(`000000000000001a\r\n${data}\r\n0000000000000000\r\n\r\n`).data.toString()).toBe(data);
  });

  it("ends an empty body at the last chunk", () => {
    const r = feed("0\r\n\r\n");
    expect(r).toEqual({ data: Buffer.alloc(0), done: true, end: 5 });
  });

  it("is not done before the blank line after the last chunk", () => {
    for (const partial of ["0\r\n", "0\r\n\r", "5\r\nhello\r\n0\r\nX: y\r\n", "5\r\nhel", "5\r\nhello\r"]) {
      expect(feed(partial).done, partial).toBe(false);
    }
  });

  it("returns the index just past the body when a pipelined request follows", () => {
    const next = "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
    const input = BODY + next;
    for (let cut = 0; cut <= input.length; cut++) {
      const r = feed(input, [cut]);
      expect(r.end, `cut at ${cut}`).toBe(BODY.length);
      expect(r.data.toString("latin1")).toBe(DATA);
    }
    // With a start offset into one buffer.
    const buf = Buffer.from("JUNK" + input, "latin1");
    const decoder = new ChunkedDecoder(() => {});
    expect(decoder.push(buf, 4)).toBe(4 + BODY.length);
    expect(decoder.done).toBe(true);
  });

  it("takes nothing more once done", () => {
    const decoder = new ChunkedDecoder(() => {});
    const buf = Buffer.from("0\r\n\r\n0\r\n\r\n");
    expect(decoder.push(buf, 0)).toBe(5);
    expect(decoder.push(buf, 5)).toBe(5);
  });

  it.each([
    ["bare LF after the size", "5\nhello\r\n0\r\n\r\n"],
    ["bare LF after the data", "5\r\nhello\n0\r\n\r\n"],
    ["bare LF after the last chunk", "0\n\r\n"],
    ["bare LF ending the trailers", "0\r\n\n"],
    ["bare LF after a trailer", "0\r\nX: y\n\r\n"],
    ["bare LF alone", "\n"],
    ["bare CR inside the size line", "5\r\r\nhello\r\n0\r\n\r\n"],
    ["bare CR in an extension", "5;a\rb\r\nhello\r\n0\r\n\r\n"],
  ])("rejects a %s", (_, input) => {
    rejects(input);
  });

  it("rejects a chunk size of more than 16 hex digits, even with leading zeros", () => {
    rejects(`00000000000000005\r\nhello\r\n0\r\n\r\n`);
    rejects(`10000000000000000\r\n`);
  });

  it("rejects a 16-digit size beyond what can be counted exactly", () => {
    rejects("ffffffffffffffff\r\n");
  });

  it.each([
    ["data longer than its size", "5\r\nhello!\r\n0\r\n\r\n"],
    ["data shorter than its size", "5\r\nhell\r\n0\r\n\r\n"],
    ["data followed by CR only", "5\r\nhelloX\n0\r\n\r\n"],
    ["data followed by LF CR", "5\r\nhello\n\r0\r\n\r\n"],
  ])("rejects %s (data not followed by CRLF)", (_, input) => {
    rejects(input);
  });

  it.each([
    ["an empty size line", "\r\nhello\r\n"],
    ["a signed size", "+5\r\nhello\r\n0\r\n\r\n"],
    ["a 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"],
    ["space before the size", " 5\r\nhello\r\n0\r\n\r\n"],
    ["space after the size without extension", "5 \r\nhello\r\n0\r\n\r\n"],
    ["a non-hex size", "g\r\n"],
    ["a control character in an extension", "5;a=\x00\r\nhello\r\n0\r\n\r\n"],
    ["a malformed trailer", "0\r\nnot a field\r\n\r\n"],
    ["a trailer with a space before the colon", "0\r\nX : y\r\n\r\n"],
    ["an obs-folded trailer", "0\r\nX: y\r\n z\r\n\r\n"],
  ])("rejects %s", (_, input) => {
    rejects(input);
  });

  it("rejects an over-long size line and oversized trailers", () => {
    rejects(`5;${"a".repeat(5000)}\r\nhello\r\n0\r\n\r\n`);
    let trailers = "";
    for (let i = 0; i < 40; i++) trailers += `X-T${i}: ${"v".repeat(500)}\r\n`;
    rejects(`0\r\n${trailers}\r\n`);
  });

  it("reports rejections whatever the split", () => {
    const bad = "5\r\nhello\r\n3\nabc\r\n0\r\n\r\n";
    for (let cut = 0; cut <= bad.length; cut++) {
      expect(() => feed(bad, [cut]), `cut at ${cut}`).toThrow(HttpError);
    }
  });

  it("hands over slices of the fed buffer without copying", () => {
    const buf = Buffer.from("5\r\nhello\r\n0\r\n\r\n");
    const seen: Buffer[] = [];
    new ChunkedDecoder((c) => seen.push(c)).push(buf, 0);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.buffer).toBe(buf.buffer);
    expect(seen[0]!.byteOffset).toBe(buf.byteOffset + 3);
  });
});
