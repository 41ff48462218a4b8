// A client speaking HTTP/2 with prior knowledge (`PRI * HTTP/2.0` preface) on the API socket:
// engine 29.2+ serves BuildKit's gRPC natively there, and new buildx versions try that first.
// dockgate does not mediate it; it answers the HTTP/2 way a server that requires HTTP/1.1 does
// (RFC 9113 §9.2.1, RFC 8740): its SETTINGS, then GOAWAY with HTTP_1_1_REQUIRED and a reason.
// Clients read that as "not supported here", not as an authentication or authorization failure,
// and fall back to /grpc over HTTP/1.1 (which dockgate inspects).

/** The start of the client connection preface, up to the blank line dockgate's head reader stops at. */
const PREFACE_HEAD = Buffer.from("PRI * HTTP/2.0\r\n\r\n", "latin1");

export function isHttp2Preface(buf: Buffer): boolean {
  return buf.length >= PREFACE_HEAD.length && buf.subarray(0, PREFACE_HEAD.length).equals(PREFACE_HEAD);
}

const HTTP_1_1_REQUIRED = 0xd;
const MESSAGE = "dockgate: HTTP/2 with prior knowledge is not served here; use HTTP/1.1 (BuildKit: POST /grpc)";

function frame(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  return Buffer.concat([h, payload]);
}

/** SETTINGS (empty), then GOAWAY(last stream 0, HTTP_1_1_REQUIRED, MESSAGE). */
export const HTTP11_REQUIRED_REPLY: Buffer = (() => {
  const goaway = Buffer.alloc(8);
  goaway.writeUInt32BE(0, 0);
  goaway.writeUInt32BE(HTTP_1_1_REQUIRED, 4);
  return Buffer.concat([frame(0x4, Buffer.alloc(0)), frame(0x7, Buffer.concat([goaway, Buffer.from(MESSAGE, "utf8")]))]);
})();

export const HTTP2_REFUSAL_MESSAGE = MESSAGE;
