// Minimal stub upstream: answers every request head with a canned keep-alive `/_ping` response
// shaped like dockerd's (same headers), so a proxy's own cost can be measured without the
// daemon's. Requests are body-less GETs, so counting CRLFCRLF is enough. Usage: node stub.mjs LISTEN
import fs from "node:fs";
import net from "node:net";

const [listen] = process.argv.slice(2);
const RESP = Buffer.from(
  "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, must-revalidate\r\n" +
    "Docker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\n" +
    "Server: Docker/20.10.24+dfsg1 (linux)\r\nDate: Mon, 23 Nov 2026 00:00:00 GMT\r\n" +
    "Content-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK",
  "latin1",
);
const END = Buffer.from("\r\n\r\n");
try { fs.unlinkSync(listen); } catch {}
net
  .createServer((c) => {
    let tail = Buffer.alloc(0);
    c.on("data", (d) => {
      const buf = tail.length ? Buffer.concat([tail, d]) : d;
      let n = 0;
      let i = buf.indexOf(END);
      let last = 0;
      while (i >= 0) {
        n++;
        last = i + 4;
        i = buf.indexOf(END, last);
      }
      tail = Buffer.from(buf.subarray(Math.max(last, buf.length - 3)));
      if (n === 1) c.write(RESP);
      else if (n > 1) c.write(Buffer.concat(Array(n).fill(RESP)));
    });
    c.on("error", () => c.destroy());
  })
  .listen(listen);
process.on("disconnect", () => process.exit(0));
