// A trap: a TCP listener on the host's loopback that counts connections, standing in for a
// registry the daemon must never be made to contact (a test asserts it saw none; a control sends
// the same request to the daemon directly and waits for the connection that proves it would).

import net from "node:net";

export interface Trap {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Resolves once more than `before` connections were accepted; rejects after `ms`. */
  connectedSince(before: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTrap(): Promise<Trap> {
  let count = 0;
  const server = net.createServer((s) => {
    count++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    async connectedSince(before, ms = 30_000) {
      const end = Date.now() + ms;
      while (count <= before) {
        if (Date.now() > end) throw new Error("timed out waiting for a connection to the trap");
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
