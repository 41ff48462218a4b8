// Where clients connect, and who they are: each listener (unix socket, TCP with an address
// allowlist, or mutual TLS) fixes the client's profile at accept time (by the TLS certificate or
// the unix peer's uid/gid when the listener has identities). A unix socket is created
// with its configured mode from the first instant (umask), never steals a socket that another
// live process serves, replaces a stale one, and is removed on close.
//
// A reload keeps a listener whose address (`key`) is unchanged and updates it in place: name,
// profile, identities, allow list, socket mode/owner, TLS certificates (prepare() does the
// fallible part, the commit it returns is synchronous so a reload switches over atomically).

import { existsSync, lstatSync, mkdirSync, readFileSync, unlinkSync, chmodSync, chownSync } from "node:fs";
import { dirname } from "node:path";
import { readFile } from "node:fs/promises";
import net, { BlockList } from "node:net";
import tls from "node:tls";
import type { ListenerConfig, TcpListen, TlsListen, UnixListen } from "../config/types.js";
import type { Client } from "../policy/verdict.js";
import { peerCredentials, peerCredentialsAvailable } from "./peercred.js";

export interface Accepted {
  socket: net.Socket;
  client: Client;
  /** The client certificate's names (TLS), to choose the profile again after a reload. */
  identities: readonly string[];
}

export interface OpenListener {
  /** The config it serves now (replaced by a committed prepare()). */
  readonly config: ListenerConfig;
  server: net.Server;
  /** Same key: the same socket, so a reload updates this listener instead of reopening it. */
  key: string;
  /** Stops accepting; removes the socket file of a unix listener. */
  close(): Promise<void>;
  /**
   * Readies an in-place update to `next` (same key and kind): reads what can fail (TLS files),
   * and resolves to the commit, which cannot fail and applies everything at once.
   */
  prepare(next: ListenerConfig): Promise<() => void>;
  /** Whether the listener's allow list (as now configured) admits this connection's peer. */
  admits(socket: net.Socket): boolean;
  /** Human-readable address for logs. */
  address: string;
}

/** Listeners with the same key share an address: a reload keeps one rather than reopening it. */
export function listenerKey(listen: ListenerConfig["listen"]): string {
  return listen.kind === "unix" ? `unix:${listen.path}` : `${listen.kind}:${listen.host}:${listen.port}`;
}

export async function openListener(
  config: ListenerConfig,
  onAccept: (accepted: Accepted) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<OpenListener> {
  switch (config.listen.kind) {
    case "unix":
      return openUnix(config, config.listen, onAccept, onRefused);
    case "tcp":
      return openTcp(config, config.listen, onAccept, onRefused);
    case "tls":
      return openTls(config, config.listen, onAccept, onRefused);
  }
}

/**
 * Who a connection is, by the listener's config and the peer's identities: a TLS certificate's
 * names, or a unix peer's `uid:N`, `gid:N` (uid first), which `credentials` maps to the
 * identity as the config wrote it (`user:NAME`...). The first that the config names wins.
 */
export function clientOf(config: ListenerConfig, peer: string, identity?: readonly string[]): Client {
  // The socket a unix client came through: what bindMounts' { ownSocket: true } lets it mount.
  const socket = config.listen.kind === "unix" ? { socket: config.listen.path } : {};
  for (const peerId of identity ?? []) {
    const id = config.listen.kind === "unix" ? config.credentials?.[peerId] : peerId;
    if (id === undefined) continue;
    const chosen = config.identities?.[id];
    if (chosen !== undefined) return { listener: config.name, profile: chosen, peer, owner: `${config.name}/${id}`, ...socket };
  }
  return { listener: config.name, profile: config.profile, peer, owner: config.name, ...socket };
}

const NO_IDENTITIES: readonly string[] = Object.freeze([]);

async function openUnix(
  config: ListenerConfig,
  listen: UnixListen,
  onAccept: (a: Accepted) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<OpenListener> {
  let current = config;
  const unavailable = config.credentials !== undefined ? peerCredentialsAvailable() : undefined;
  if (unavailable) throw unavailable; // identities that could never be read: refuse to start
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    // Credentials are read for every connection (they name the peer in logs, and a reload may
    // add identities); where identities choose the profile, unreadable ones refuse the client
    // rather than give it the listener's profile.
    const cred = peerCredentials(socket);
    if (cred === undefined) {
      if (current.credentials !== undefined) {
        onRefused("unix", "the peer's credentials (SO_PEERCRED) cannot be read");
        socket.destroy();
        return;
      }
      onAccept({ socket, client: clientOf(current, "unix"), identities: NO_IDENTITIES });
      return;
    }
    const ids = [`uid:${cred.uid}`, `gid:${cred.gid}`];
    onAccept({ socket, client: clientOf(current, `unix pid=${cred.pid} uid=${cred.uid} gid=${cred.gid}`, ids), identities: ids });
  });
  await listenUnix(server, listen.path, listen.mode, listen.uid, listen.gid);
  return {
    get config() {
      return current;
    },
    server,
    key: listenerKey(listen),
    address: `unix:${listen.path}`,
    close: () => closeServer(server), // net.Server unlinks its unix socket file on close
    // A reload that gives the listener identities keeps only the connections they can place.
    admits: (socket) => current.credentials === undefined || peerCredentials(socket) !== undefined,
    prepare: async (next) => {
      if (next.credentials !== undefined) {
        const unavailable = peerCredentialsAvailable();
        if (unavailable) throw unavailable;
      }
      const was = current.listen as UnixListen;
      const now = next.listen as UnixListen;
      return () => {
        current = next;
        if (was.mode !== now.mode || was.uid !== now.uid || was.gid !== now.gid) setOwnership(now.path, now.mode, now.uid, now.gid);
      };
    },
  };
}

/**
 * Listens on a unix socket created with `mode` from the first instant, after clearing a stale
 * socket file (a live one belongs to someone else: refused). Also used by the admin listener.
 */
export async function listenUnix(server: net.Server, path: string, mode: number, uid?: number, gid?: number): Promise<void> {
  // /run/dockgate does not survive a reboot: create the socket's directory when it is missing
  // (0755: who may connect is decided by the socket file's own mode, owner and group).
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  await clearStaleSocket(path);
  // The socket file must never exist with wider permissions than configured, not even briefly.
  const previous = process.umask(0o777 & ~mode);
  try {
    await listenOn(server, { path });
  } finally {
    process.umask(previous);
  }
  setOwnership(path, mode, uid, gid);
}

function setOwnership(path: string, mode: number, uid: number | undefined, gid: number | undefined): void {
  chmodSync(path, mode);
  if (uid !== undefined || gid !== undefined) chownSync(path, uid ?? -1, gid ?? -1);
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

const TLS_CONTEXT = { minVersion: "TLSv1.2" } as const;

/** A connection from an address the listener does not allow is logged and closed at once. */
function admit(
  allowed: BlockList | undefined,
  socket: net.Socket,
  peer: string,
  onRefused: (peer: string, reason: string) => void,
): boolean {
  if (peerAllowed(allowed, socket)) return true;
  onRefused(peer, "address not in the listener's allow list");
  socket.destroy();
  return false;
}

async function openTcp(
  config: ListenerConfig,
  listen: TcpListen,
  onAccept: (a: Accepted) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<OpenListener> {
  let current = config;
  let allowed = allowList(listen.allow);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    const peer = `tcp ${socket.remoteAddress}:${socket.remotePort}`;
    if (!admit(allowed, socket, peer, onRefused)) return;
    onAccept({ socket, client: clientOf(current, peer), identities: NO_IDENTITIES });
  });
  await listenOn(server, { host: listen.host, port: listen.port });
  return {
    get config() {
      return current;
    },
    server,
    key: listenerKey(listen),
    address: `tcp:${listen.host}:${listen.port}`,
    close: () => closeServer(server),
    admits: (socket) => peerAllowed(allowed, socket),
    prepare: async (next) => {
      const list = allowList((next.listen as TcpListen).allow);
      return () => {
        current = next;
        allowed = list;
      };
    },
  };
}

async function openTls(
  config: ListenerConfig,
  listen: TlsListen,
  onAccept: (a: Accepted) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<OpenListener> {
  let current = config;
  let allowed = listen.allow ? allowList(listen.allow) : undefined;
  const server = tls.createServer(
    {
      allowHalfOpen: true,
      noDelay: true,
      ...TLS_CONTEXT,
      cert: readFileSync(listen.cert),
      key: readFileSync(listen.key),
      ca: readFileSync(listen.ca),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      const peer = `tls ${socket.remoteAddress}:${socket.remotePort}`;
      if (!admit(allowed, socket, peer, onRefused)) return;
      const ids = certificateIdentities(socket.getPeerCertificate());
      onAccept({ socket, client: clientOf(current, `${peer} ${ids[0] ?? ""}`.trim(), ids), identities: ids });
    },
  );
  server.on("tlsClientError", (err, socket) => onRefused(`tls ${socket.remoteAddress}`, err.message));
  await listenOn(server, { host: listen.host, port: listen.port });
  return {
    get config() {
      return current;
    },
    server,
    key: listenerKey(listen),
    address: `tls:${listen.host}:${listen.port}`,
    close: () => closeServer(server),
    admits: (socket) => peerAllowed(allowed, socket),
    prepare: async (next) => {
      const l = next.listen as TlsListen;
      // Certificates are re-read on every reload (rotation by SIGHUP); a bad file refuses the reload.
      const [cert, key, ca] = await Promise.all([readFile(l.cert), readFile(l.key), readFile(l.ca)]);
      const context = { ...TLS_CONTEXT, cert, key, ca };
      tls.createSecureContext(context); // throws on a key that does not match its certificate
      const list = l.allow ? allowList(l.allow) : undefined;
      return () => {
        current = next;
        allowed = list;
        server.setSecureContext(context);
      };
    },
  };
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
