// Replies dockgate writes itself, in the daemon's error format: a JSON `{"message": ...}` body with
// `Content-Type: application/json` exactly, which is what makes the docker CLI decode it and print
// "Error response from daemon: <message>".

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const REASONS: Record<number, string> = {
  100: "Continue",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Payload Too Large",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** A complete HTTP/1.1 response carrying a Docker-style JSON error. */
export function errorResponse(status: number, message: string, close: boolean, head = false): Buffer {
  const body = Buffer.from(JSON.stringify({ message }) + "\n", "utf8");
  const lines =
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
    "Content-Type: application/json\r\n" +
    `Content-Length: ${body.length}\r\n` +
    (close ? "Connection: close\r\n" : "") +
    "\r\n";
  const headBuf = Buffer.from(lines, "latin1");
  return head ? headBuf : Buffer.concat([headBuf, body]);
}

export const CONTINUE_RESPONSE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
