// The daemon's response heads, read only for what forwarding needs: where the response ends and
// whether the connection was hijacked. The bytes themselves pass to the client untouched.

export interface ResponseHead {
  status: number;
  contentLength: number | null;
  chunked: boolean;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([0-9]{3})(?: |$)/;

export function parseResponseHead(text: string): ResponseHead {
  const m = STATUS_LINE.exec(text);
  if (!m) throw new Error("upstream sent a malformed status line");
  let contentLength: number | null = null;
  let chunked = false;
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    if (name === "content-length") {
      const value = line.slice(colon + 1).trim();
      if (!/^[0-9]{1,15}$/.test(value)) throw new Error("upstream sent a malformed Content-Length");
      contentLength = Number(value);
    } else if (name === "transfer-encoding") {
      chunked = line.slice(colon + 1).trim().toLowerCase() === "chunked";
    }
  }
  return { status: Number(m[1]), contentLength: chunked ? null : contentLength, chunked };
}
