// Raw HTTP/1.1 over a unix socket, for requests no well-behaved client would send.

import net from "node:net";

/**
 * Resolves when `socket` can take more writes (its "drain"), when it closes, or after `timeoutMs`,
 * whichever comes first; removes every listener it added (a writer looping on backpressure adds
 * one wait per write).
 */
export function writable(socket: net.Socket, timeoutMs = Infinity): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off("drain", done).off("close", done);
      resolve();
    };
    const timer = Number.isFinite(timeoutMs) ? setTimeout(done, timeoutMs) : undefined;
    socket.once("drain", done).once("close", done);
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes `request` as is and reads up to `count` responses (Content-Length, chunked, or none for
 * HEAD/204); resolves early if the connection closes first.
 */
export function rawExchange(socketPath: string, request: string | Buffer, count: number, timeoutMs = 10_000): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const heads = typeof request === "string" ? [...request.matchAll(/^(HEAD) /gm)].length : 0;
    let headLeft = heads; // responses to HEAD requests carry no body; they come first in our tests
    const socket = net.createConnection(socketPath);
    let buf = Buffer.alloc(0);
    const out: RawResponse[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out after ${out.length} of ${count} responses`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    socket.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const lines = buf.toString("latin1", 0, end).split("\r\n");
        const status = Number(lines[0]!.split(" ")[1]);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(":");
          headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
        }
        let rest = buf.subarray(end + 4);
        let body = "";
        if (headLeft > 0) {
          headLeft--;
        } else if (headers["transfer-encoding"] === "chunked") {
          let text = "";
          let pos = 0;
          for (;;) {
            const nl = rest.indexOf("\r\n", pos);
            if (nl < 0) return;
            const size = parseInt(rest.toString("latin1", pos, nl), 16);
            if (rest.length < nl + 2 + size + 2) return;
            text += rest.toString("utf8", nl + 2, nl + 2 + size);
            pos = nl + 2 + size + 2;
            if (size === 0) break;
          }
          body = text;
          rest = rest.subarray(pos);
        } else {
          const len = Number(headers["content-length"] ?? 0);
          if (rest.length < len) return;
          body = rest.toString("utf8", 0, len);
          rest = rest.subarray(len);
        }
        if (status >= 100 && status < 200) {
          buf = rest;
          continue;
        }
        out.push({ status, headers, body });
        buf = rest;
        if (out.length === count) return finish();
      }
    });
    socket.on("close", finish);
    socket.on("error", () => finish());
    socket.write(request);
  });
}
