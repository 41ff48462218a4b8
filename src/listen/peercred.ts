// The credentials of a unix socket's peer (SO_PEERCRED: the pid, uid and gid of the process
// that connected, as the kernel recorded them at connect time). Node.js has no API for it, so
// getsockopt is called on the accepted socket's descriptor through koffi (its prebuilt binary
// ships in the npm package). Loaded on first use: a config without unix identities never needs it.

import { createRequire } from "node:module";
import type net from "node:net";

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, length: number[]) => number;

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
/** struct ucred { pid_t pid; uid_t uid; gid_t gid; } */
const UCRED_SIZE = 12;
/** The kernel's overflow id: what SO_PEERCRED reports when it has no credentials to give. */
const NO_ID = 0xffffffff;

let getsockopt: GetSockOpt | Error | undefined;

/** koffi and libc's getsockopt, or why they cannot be had (then unix identities cannot work). */
export function peerCredentialsAvailable(): Error | undefined {
  if (getsockopt === undefined) {
    try {
      if (process.platform !== "linux") throw new Error(`SO_PEERCRED is Linux-only (this is ${process.platform})`);
      const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
      const libc = koffi.load("libc.so.6");
      getsockopt = libc.func("int getsockopt(int, int, int, _Out_ void *, _Inout_ uint32_t *)") as unknown as GetSockOpt;
    } catch (err) {
      getsockopt = new Error(`cannot read unix peer credentials: ${(err as Error).message}`);
    }
  }
  return getsockopt instanceof Error ? getsockopt : undefined;
}

/** The peer's credentials, or undefined when they cannot be read (the caller refuses the connection). */
export function peerCredentials(socket: net.Socket): PeerCredentials | undefined {
  if (peerCredentialsAvailable() !== undefined) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return undefined;
  const value = Buffer.alloc(UCRED_SIZE);
  const length = [UCRED_SIZE];
  if ((getsockopt as GetSockOpt)(fd, SOL_SOCKET, SO_PEERCRED, value, length) !== 0 || length[0] !== UCRED_SIZE) return undefined;
  const cred = { pid: value.readInt32LE(0), uid: value.readUInt32LE(4), gid: value.readUInt32LE(8) };
  if (cred.pid <= 0 || cred.uid === NO_ID || cred.gid === NO_ID) return undefined;
  return cred;
}
