// The daemon's response heads, read only for what forwarding needs: where the response ends and
// whether the connection was hijacked. The bytes themselves pass to the client untouched.
// This runs once per response, so it looks for the two framing fields with one regex each
// instead of splitting the head into lines.

export interface ResponseHead {
  status: number;
  contentLength: number | null;
  chunked: boolean;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([0-9]{3})[ \r]/;
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*([^\r]*?)[ \t]*\r\n/gi;
const TRANSFER_ENCODING = /\r\ntransfer-encoding:[ \t]*([^\r]*?)[ \t]*\r\n/i;

/** `text` is the whole head, status line through the blank line. */
export function parseResponseHead(text: string): ResponseHead {
  const m = STATUS_LINE.exec(text);
  if (!m) throw new Error("upstream sent a malformed status line");
  const te = TRANSFER_ENCODING.exec(text);
  const chunked = te !== null && te[1]!.toLowerCase() === "chunked";
  let contentLength: number | null = null;
  CONTENT_LENGTH.lastIndex = 0;
  for (let cl = CONTENT_LENGTH.exec(text); cl !== null; cl = CONTENT_LENGTH.exec(text)) {
    const value = cl[1]!;
    if (!/^[0-9]{1,15}$/.test(value)) throw new Error("upstream sent a malformed Content-Length");
    if (contentLength !== null && Number(value) !== contentLength) throw new Error("upstream sent conflicting Content-Length");
    contentLength = Number(value);
    CONTENT_LENGTH.lastIndex -= 2; // the CRLF that ended this field starts the next one
  }
  return { status: Number(m[1]), contentLength: chunked ? null : contentLength, chunked };
}
