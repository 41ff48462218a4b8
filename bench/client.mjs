// A minimal keep-alive HTTP/1.1 client over node:net for the bench (no undici, no node:http):
// one request in flight per connection, no pipelining, responses parsed incrementally
// (Content-Length, chunked, read-until-close, 101 upgrade). Bodies are counted, and kept only
// when asked (`collect`), so the client's own cost per request stays small.

import net from "node:net";

const CRLF = Buffer.from("\r\n");
const CRLFCRLF = Buffer.from("\r\n\r\n");

const HEAD = 0;
const BODY = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_CRLF = 4;
const TRAILER = 5;
const UNTIL_CLOSE = 6;

export class HttpConn {
  /** @param {net.Socket} sock */
  constructor(sock) {
    this.sock = sock;
    this.pending = null; // leftover bytes of an incomplete head / chunk line
    this.cur = null; // the request in flight
    this.closed = false;
    this.upgraded = false;
    this.onRaw = null; // upgraded stream data handler
    this.reusable = true;
    sock.on("data", (d) => this._onData(d));
    sock.on("error", (e) => this._fail(e));
    sock.on("close", () => this._onClose());
  }

  /** Connect to a unix socket path; resolves once connected. */
  static connect(path, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ path, allowHalfOpen: false });
      const t = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect ${path}: timeout`));
      }, timeoutMs);
      sock.once("connect", () => {
        clearTimeout(t);
        sock.removeAllListeners("error");
        resolve(new HttpConn(sock));
      });
      sock.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  /**
   * Send one request. `head` is the full request head (string or Buffer, ending in CRLFCRLF).
   * opts: body (Buffer), collect (keep body), onHead(status, head), method (for HEAD), timeoutMs.
   * Resolves {status, head, bytes, body?, rest?} when the response is complete (or upgraded).
   */
  request(head, opts = {}) {
    if (this.cur) return Promise.reject(new Error("request already in flight"));
    if (this.closed) return Promise.reject(new Error("connection closed"));
    return new Promise((resolve, reject) => {
      const r = {
        state: HEAD,
        status: 0,
        head: "",
        bytes: 0,
        remaining: 0,
        chunks: opts.collect ? [] : null,
        onHead: opts.onHead ?? null,
        isHead: opts.method === "HEAD",
        resolve,
        reject,
        timer: null,
      };
      if (opts.timeoutMs) {
        r.timer = setTimeout(() => {
          this._fail(new Error(`request timed out after ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      this.cur = r;
      if (opts.body && opts.body.length > 0) {
        this.sock.write(head);
        this._writeBody(opts.body, r);
      } else {
        this.sock.write(head);
      }
    });
  }

  async _writeBody(body, r) {
    const CH = 1 << 20;
    for (let off = 0; off < body.length; off += CH) {
      if (this.cur !== r || this.closed) return; // answered early (e.g. a denial) or failed
      const ok = this.sock.write(body.subarray(off, Math.min(body.length, off + CH)));
      if (!ok) {
        await new Promise((res) => {
          const done = () => {
            this.sock.off("drain", done);
            this.sock.off("close", done);
            res();
          };
          this.sock.on("drain", done);
          this.sock.on("close", done);
        });
      }
    }
  }

  _onData(d) {
    if (this.upgraded) {
      if (this.onRaw) this.onRaw(d);
      return;
    }
    const r0 = this.cur;
    if (!r0) {
      this._fail(new Error(`unexpected ${d.length} bytes with no request in flight`));
      return;
    }
    if (this.pending) {
      d = Buffer.concat([this.pending, d]);
      this.pending = null;
    }
    let off = 0;
    while (off < d.length) {
      const r = this.cur;
      if (!r) {
        this._fail(new Error(`unexpected ${d.length - off} extra bytes after a response`));
        return;
      }
      switch (r.state) {
        case HEAD: {
          const i = d.indexOf(CRLFCRLF, off);
          if (i < 0) {
            this.pending = Buffer.from(d.subarray(off));
            return;
          }
          const head = d.toString("latin1", off, i);
          off = i + 4;
          const status = parseInt(head.slice(9, 12), 10);
          r.status = status;
          r.head = head;
          const lower = head.toLowerCase();
          if (/\r\nconnection:[^\r]*close/.test(lower)) this.reusable = false;
          if (status === 101) {
            this.upgraded = true;
            this.reusable = false;
            const rest = off < d.length ? Buffer.from(d.subarray(off)) : Buffer.alloc(0);
            this._done({ rest });
            return;
          }
          if (status >= 100 && status < 200) break; // 100-continue etc.: read the next head
          if (r.onHead) r.onHead(status, head);
          if (r.isHead || status === 204 || status === 304) {
            this._done();
            break;
          }
          if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) {
            r.state = CHUNK_SIZE;
          } else {
            const m = /\r\ncontent-length:\s*(\d+)/.exec(lower);
            if (m) {
              r.remaining = parseInt(m[1], 10);
              r.state = BODY;
              if (r.remaining === 0) this._done();
            } else {
              r.state = UNTIL_CLOSE;
              this.reusable = false;
            }
          }
          break;
        }
        case BODY:
        case CHUNK_DATA: {
          const n = Math.min(r.remaining, d.length - off);
          if (r.chunks) r.chunks.push(Buffer.from(d.subarray(off, off + n)));
          r.bytes += n;
          r.remaining -= n;
          off += n;
          if (r.remaining === 0) {
            if (r.state === BODY) this._done();
            else r.state = CHUNK_CRLF;
          }
          break;
        }
        case CHUNK_SIZE: {
          const i = d.indexOf(CRLF, off);
          if (i < 0) {
            this.pending = Buffer.from(d.subarray(off));
            return;
          }
          const size = parseInt(d.toString("latin1", off, i), 16);
          off = i + 2;
          if (!(size >= 0)) {
            this._fail(new Error("bad chunk size"));
            return;
          }
          if (size === 0) r.state = TRAILER;
          else {
            r.remaining = size;
            r.state = CHUNK_DATA;
          }
          break;
        }
        case CHUNK_CRLF: {
          if (d.length - off < 2) {
            this.pending = Buffer.from(d.subarray(off));
            return;
          }
          off += 2;
          r.state = CHUNK_SIZE;
          break;
        }
        case TRAILER: {
          const i = d.indexOf(CRLF, off);
          if (i < 0) {
            this.pending = Buffer.from(d.subarray(off));
            return;
          }
          const empty = i === off;
          off = i + 2;
          if (empty) this._done();
          break;
        }
        case UNTIL_CLOSE: {
          const n = d.length - off;
          if (r.chunks) r.chunks.push(Buffer.from(d.subarray(off)));
          r.bytes += n;
          off = d.length;
          break;
        }
      }
    }
  }

  _done(extra) {
    const r = this.cur;
    this.cur = null;
    if (r.timer) clearTimeout(r.timer);
    const res = { status: r.status, head: r.head, bytes: r.bytes };
    if (r.chunks) res.body = Buffer.concat(r.chunks);
    if (extra) Object.assign(res, extra);
    if (!this.reusable && !this.upgraded) this.sock.end();
    r.resolve(res);
  }

  _onClose() {
    this.closed = true;
    const r = this.cur;
    if (r && r.state === UNTIL_CLOSE) {
      this._done();
      return;
    }
    if (this.upgraded && this.onClose) this.onClose();
    this._fail(new Error("connection closed by peer"));
  }

  _fail(err) {
    const r = this.cur;
    this.cur = null;
    this.closed = true;
    this.sock.destroy();
    if (r) {
      if (r.timer) clearTimeout(r.timer);
      r.reject(err);
    }
  }

  write(buf) {
    this.sock.write(buf);
  }

  close() {
    this.closed = true;
    this.sock.destroy();
  }
}

/** Request head for a method and target. */
export function reqHead(method, target, headers = {}) {
  let s = `${method} ${target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockgate-bench\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  return s + "\r\n";
}

/** One-shot JSON call on a fresh connection (setup/cleanup against the daemon). */
export async function call(sockPath, method, target, json, timeoutMs = 120000) {
  const conn = await HttpConn.connect(sockPath);
  try {
    let body;
    const headers = {};
    if (json !== undefined) {
      body = Buffer.from(JSON.stringify(json));
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(body.length);
    } else if (method === "POST" || method === "PUT") {
      headers["Content-Length"] = "0";
    }
    const r = await conn.request(reqHead(method, target, headers), { body, collect: true, timeoutMs });
    const text = r.body ? r.body.toString("utf8") : "";
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: r.status, text, json: parsed };
  } finally {
    conn.close();
  }
}
