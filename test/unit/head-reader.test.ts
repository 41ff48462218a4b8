// HeadReader: a request head arriving in pieces is found with linear work (each byte looked at
// once, counted by `scanned`), its bytes come back exactly as sent, and bad heads fail early.

import { describe, expect, it } from "vitest";
import { HttpError } from "../../src/http/errors.js";
import { HeadReader } from "../../src/http/request-head.js";

const MAX = 65536;

/** Feeds `bytes` in pieces of `size`; returns the head, what followed it in its piece, and the reader. */
function feed(bytes: Buffer, size: number, max = MAX): { head: Buffer | null; rest: Buffer; reader: HeadReader; pieces: number } {
  const reader = new HeadReader();
  let pieces = 0;
  for (let i = 0; i < bytes.length; i += size) {
    const piece = bytes.subarray(i, i + size);
    pieces++;
    const got = reader.push(piece, max);
    if (got !== null) return { head: got.head, rest: piece.subarray(got.next), reader, pieces };
  }
  return { head: null, rest: Buffer.alloc(0), reader, pieces };
}

function bigHead(bytes: number): Buffer {
  const lines = ["GET /containers/json HTTP/1.1", "Host: docker"];
  let n = 0;
  while (lines.join("\r\n").length < bytes - 40) lines.push(`X-Pad-${n++}: ${"v".repeat(60)}`);
  return Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
}

function failure(bytes: Buffer, size: number, max = MAX): HttpError {
  try {
    feed(bytes, size, max);
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return err as HttpError;
  }
  throw new Error("accepted");
}

describe("HeadReader", () => {
  it("reads a 60 KB head sent in 32-byte pieces looking at each byte once", () => {
    const head = bigHead(60 * 1024);
    const { head: got, reader, pieces } = feed(head, 32);
    expect(pieces).toBeGreaterThan(1900);
    expect(got).not.toBeNull();
    expect(got!.equals(head)).toBe(true);
    // Linear: the bytes looked at are the bytes of the head, not the sum over reads of all held so far.
    expect(reader.scanned).toBe(head.length);
    expect(reader.empty).toBe(true);
  });

  it("finds the blank line split across pieces at every position", () => {
    const head = Buffer.from("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n", "latin1");
    for (let size = 1; size <= head.length; size++) {
      const { head: got, reader } = feed(head, size);
      expect(got?.toString("latin1"), `pieces of ${size}`).toBe(head.toString("latin1"));
      expect(reader.scanned).toBe(head.length);
    }
  });

  it("stops at the end of the head: what follows (a body, the next request) is not scanned", () => {
    const first = "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\n";
    const bytes = Buffer.from(first + "a\nb\nc" + "GET /_ping HTTP/1.1\r\n", "latin1");
    const reader = new HeadReader();
    const got = reader.push(bytes, MAX)!;
    expect(got.head.toString("latin1")).toBe(first);
    expect(bytes.subarray(got.next).toString("latin1")).toBe("a\nb\ncGET /_ping HTTP/1.1\r\n");
    expect(reader.scanned).toBe(first.length);
  });

  it("a lone CRLF is not a blank line; a head starting with one is returned for the parser to refuse", () => {
    const reader = new HeadReader();
    expect(reader.push(Buffer.from("\r\n"), MAX)).toBeNull();
    expect(reader.push(Buffer.from("\r\n"), MAX)?.head.toString("latin1")).toBe("\r\n\r\n");
  });

  it("refuses a bare LF as soon as it arrives, also right after a piece ending in another byte", () => {
    expect(failure(Buffer.from("GET /_ping HTTP/1.1\nHost: d\r\n\r\n"), 64).status).toBe(400);
    expect(failure(Buffer.from("GET /_ping HTTP/1.1\r\nHost: d\n\n"), 1).status).toBe(400);
    expect(failure(Buffer.from("\n"), 1).status).toBe(400);
  });

  it("refuses a head longer than max (431) whether or not its end has arrived", () => {
    const head = bigHead(4096);
    expect(failure(head, 32, 1024).status).toBe(431);
    expect(failure(head.subarray(0, 2000), 2000, 1024).status).toBe(431);
    expect(feed(head, 32, head.length - 4).head?.length).toBe(head.length); // exactly max fits
    expect(failure(head, 32, head.length - 5).status).toBe(431);
  });

  it("knows how the head being read begins, across pieces", () => {
    const reader = new HeadReader();
    reader.push(Buffer.from("HE"), MAX);
    reader.push(Buffer.from("A"), MAX);
    expect(reader.beginsWith("HEAD ", Buffer.from("D /x"))).toBe(true);
    expect(reader.beginsWith("HEAD ", Buffer.from("T /x"))).toBe(false);
  });
});
