// Which listen addresses are this host's loopback: the admin endpoint may listen only there, and
// the config warns about plain TCP listeners anywhere else. Kept apart from admin.ts so that
// loading a config does not load the HTTP server.
import { isIPv4 } from "node:net";

/** True for a loopback host name or address (localhost, ::1, 127.0.0.0/8). */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIPv4(host) && host.startsWith("127.");
}
