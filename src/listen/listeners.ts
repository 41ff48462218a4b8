// Where clients connect, and who they are: each listener (unix socket, TCP with an address
// allowlist, or mutual TLS) fixes the client's profile at accept time. A unix socket is created
// with its configured mode from the first instant (umask), never steals a socket that another
// live process serves, replaces a stale one, and is removed on close.

import { existsSync, lstatSync, readFileSync, unlinkSync, chmodSync, chownSync } from "node:fs";
import net, { BlockList } from "node:net";
import tls from "node:tls";
import type { ListenerConfig, TcpListen, TlsListen, UnixListen } from "../config/types.js";
import type { Client } from "../policy/verdict.js";

export interface Accepted {
  socket: net.Socket;
  client: Client;
}

export interface OpenListener {
  config: ListenerConfig;
  server: net.Server;
  /** Stops accepting; removes the socket file of a unix listener. */
  close(): Promise<void>;
  /** Human-readable address for logs. */
  address: string;
}

export async function openListener(
  config: ListenerConfig,
  onAccept: (accepted: Accepted) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<OpenListener> {
  switch (config.listen.kind) {
    case "unix":
      return openUnix(config, config.listen, onAccept);
    case "tcp":
      return openTcp(config, config.listen, onAccept, onRefused);
    case "tls":
      return openTls(config, config.listen, onAccept, onRefused);
  }
}

function clientOf(config: ListenerConfig, peer: string, identity?: string[]): Client {
  for (const id of identity ?? []) {
    const chosen = config.identities?.[id];
    if (chosen !== undefined) return { listener: config.name, profile: chosen, peer, owner: `${config.name}/${id}` };
  }
  return { listener: config.name, profile: config.profile, peer, owner: config.name };
}

async function openUnix(config: ListenerConfig, listen: UnixListen, onAccept: (a: Accepted) => void): Promise<OpenListener> {
  await clearStaleSocket(listen.path);
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    onAccept({ socket, client: clientOf(config, "unix") });
  });
  // The socket file must never exist with wider permissions than configured, not even briefly.
  const previous = process.umask(0o777 & ~listen.mode);
  try {
    await listenOn(server, { path: listen.path });
  } finally {
    process.umask(previous);
  }
  chmodSync(listen.path, listen.mode);
  if (listen.uid !== undefined || listen.gid !== undefined) {
    chownSync(listen.path, listen.uid ?? -1, listen.gid ?? -1);
  }
  return {
    config,
    server,
    address: `unix:${listen.path}`,
    close: () => closeServer(server), // net.Server unlinks its unix socket file on close
  };
}

/** A socket file nobody answers on is left over from a crash: remove it. A live one is not ours. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.createConnection({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new Error(`${path} is in use by another live process; refusing to take it over`);
  unlinkSync(path);
}

function allowList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [ip, bits] = cidr.split("/") as [string, string | undefined];
    const type = net.isIPv6(ip) ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, Number(bits), type);
  }
  return list;
}

function peerAllowed(list: BlockList | undefined, socket: net.Socket): boolean {
  if (!list) return true;
  const address = socket.remoteAddress;
  if (!address) return false;
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (v4mapped) return list.check(v4mapped[1]!, "ipv4");
  return list.check(address, net.isIPv6(address) ? "ipv6" : "ipv4");
}

async function openTcp(
  config: ListenerConfig,
  listen: TcpListen,
  onAccept: (a: Accepted) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<OpenListener> {
  const allowed = allowList(listen.allow);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    const peer = `tcp ${socket.remoteAddress}:${socket.remotePort}`;
    if (!peerAllowed(allowed, socket)) {
      onRefused(peer, "address not in the listener's allow list");
      socket.destroy();
      return;
    }
    onAccept({ socket, client: clientOf(config, peer) });
  });
  await listenOn(server, { host: listen.host, port: listen.port });
  return { config, server, address: `tcp:${listen.host}:${listen.port}`, close: () => closeServer(server) };
}

async function openTls(
  config: ListenerConfig,
  listen: TlsListen,
  onAccept: (a: Accepted) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<OpenListener> {
  const allowed = listen.allow ? allowList(listen.allow) : undefined;
  const server = tls.createServer(
    {
      allowHalfOpen: true,
      noDelay: true,
      cert: readFileSync(listen.cert),
      key: readFileSync(listen.key),
      ca: readFileSync(listen.ca),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    },
    (socket) => {
      const peer = `tls ${socket.remoteAddress}:${socket.remotePort}`;
      if (!peerAllowed(allowed, socket)) {
        onRefused(peer, "address not in the listener's allow list");
        socket.destroy();
        return;
      }
      const ids = certificateIdentities(socket.getPeerCertificate());
      onAccept({ socket, client: clientOf(config, `${peer} ${ids[0] ?? ""}`.trim(), ids) });
    },
  );
  server.on("tlsClientError", (err, socket) => onRefused(`tls ${socket.remoteAddress}`, err.message));
  await listenOn(server, { host: listen.host, port: listen.port });
  return { config, server, address: `tls:${listen.host}:${listen.port}`, close: () => closeServer(server) };
}

/** The names a client certificate can be matched by, in the config's spelling: CN=, DNS:, IP:, URI:, email:. */
export function certificateIdentities(cert: tls.PeerCertificate): string[] {
  const ids: string[] = [];
  const cn = cert.subject?.CN;
  for (const name of Array.isArray(cn) ? cn : cn ? [cn] : []) ids.push(`CN=${name}`);
  for (const san of (cert.subjectaltname ?? "").split(", ")) {
    if (san === "") continue;
    ids.push(san.startsWith("IP Address:") ? `IP:${san.slice("IP Address:".length)}` : san);
  }
  return ids;
}

function listenOn(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Stops accepting at once (the connections in flight are the gateway's to drain). */
function closeServer(server: net.Server): Promise<void> {
  server.close();
  return Promise.resolve();
}
