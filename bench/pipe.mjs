// Zero-parsing baseline: accept on a unix socket, open one upstream connection per client and
// move bytes both ways. The ceiling for any Node proxy. Usage: node pipe.mjs LISTEN UPSTREAM
import fs from "node:fs";
import net from "node:net";

const [listen, upstream] = process.argv.slice(2);
try { fs.unlinkSync(listen); } catch {}
const server = net.createServer({ allowHalfOpen: true }, (c) => {
  const u = net.connect({ path: upstream, allowHalfOpen: true });
  c.pipe(u);
  u.pipe(c);
  c.on("error", () => u.destroy());
  u.on("error", () => c.destroy());
  c.on("close", () => u.destroy());
  u.on("close", () => c.destroy());
});
server.listen(listen);
// Die with the bench (IPC channel closes when the parent exits, however it exits).
process.on("disconnect", () => process.exit(0));
