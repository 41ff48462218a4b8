// Host addresses dockgate binds to: which of them stay on this machine.

import net from "node:net";

/**
 * True for `localhost`, `::1` and an IPv4 address in 127.0.0.0/8: a TCP socket bound there is
 * reachable from this machine only (the admin endpoint, a TCP listener without TLS). A name that
 * merely starts with `127.` is not an address, so it is not loopback.
 */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return net.isIPv4(host) && host.startsWith("127.");
}
