// What the daemon may call on a client's BuildKit session (POST /session, relayed by
// src/forward/h2-relay.ts), and the one call whose content is read: the Dockerfile.
//
// During a build the daemon calls gRPC services the client serves: FileSync/DiffCopy (the build
// context, and the `dockerfile` directory holding the Dockerfile), FileSend/DiffCopy (--output
// local/tar: the result, sent to the client), Auth (registry credentials), Secrets (--secret), SSH
// (--ssh), Upload (a context stream), Health. Each is the client's own data going to its own
// build, so these are relayed; any other method is refused (gRPC PERMISSION_DENIED).
//
// The Dockerfile is read because its first lines may hold `# syntax=<image>`, which makes the
// daemon pull that image and run it as the build's frontend instead of the built-in one, and
// because its FROM, COPY --from and RUN --mount from= name images the daemon pulls: each is held to
// the profile's image policy (./dockerfile.ts reads them, with the build arguments of the builds
// recorded on the session; one it cannot resolve is refused). The
// file-sync stream (fsutil's Packet protocol: STAT packets list the files in walk order, numbering
// them from 0; the receiver asks for an id; DATA packets carry its bytes, an empty one ends it) is
// decoded, and the Dockerfile's DATA packets are held back until the file is complete; then it is
// checked, and forwarded as received or refused.

import type http2 from "node:http2";
import { type CallDecision, type FilterResult, GRPC_PERMISSION_DENIED, type ResponseFilter } from "../../forward/h2-relay.js";
import type { RuleSettings } from "../rules.js";
import { fetchedImageViolation } from "../inspect/image-policy.js";
import { frontendAllowed } from "./build-query.js";
import { dockerfileImages } from "./dockerfile.js";
import { GrpcFramer, PACKET_DATA, PACKET_STAT, WireError, decodePacket, isRegularFile } from "./wire.js";

/** The session's gRPC methods dockgate relays. */
export const SESSION_METHODS: ReadonlyMap<string, string> = new Map([
  ["/moby.filesync.v1.FileSync/DiffCopy", "the build context and Dockerfile (the Dockerfile is read)"],
  ["/moby.filesync.v1.FileSync/TarStream", "the build context as a tar stream (not for the Dockerfile)"],
  ["/moby.filesync.v1.FileSend/DiffCopy", "--output local / tar: the result, to the client"],
  ["/moby.filesync.v1.Auth/Credentials", "registry credentials"],
  ["/moby.filesync.v1.Auth/FetchToken", "registry tokens"],
  ["/moby.filesync.v1.Auth/GetTokenAuthority", "registry token authority"],
  ["/moby.filesync.v1.Auth/VerifyTokenAuthority", "registry token authority"],
  ["/moby.buildkit.secrets.v1.Secrets/GetSecret", "--secret"],
  ["/moby.sshforward.v1.SSH/CheckAgent", "--ssh"],
  ["/moby.sshforward.v1.SSH/ForwardAgent", "--ssh"],
  ["/moby.upload.v1.Upload/Pull", "a context uploaded through the session"],
  ["/grpc.health.v1.Health/Check", "the daemon's session keep-alive"],
]);

/** The file-sync directory BuildKit's Dockerfile frontend reads the Dockerfile from. */
const DOCKERFILE_DIR = "dockerfile";
export const MAX_DOCKERFILE_BYTES = 1 << 20;

function prefix(profile: string): string {
  return `dockgate: BuildKit session call denied for profile ${profile}`;
}

/**
 * The frontend image a Dockerfile asks for, as BuildKit's DetectSyntax reads it: a `syntax`
 * directive (`# syntax=ref`, also `// syntax=ref`) among the leading comment lines, or the
 * `syntax` key of a JSON document. Read more widely than BuildKit does (any leading comment line,
 * blank lines included, any case, a BOM), so nothing it would honour is missed.
 */
export function dockerfileSyntax(text: string): string | undefined {
  const body = text.replace(/^\uFEFF/, "");
  if (/^\s*\{/.test(body)) {
    const m = /"syntax"\s*:\s*"([^"]*)"/i.exec(body);
    return m ? m[1]! : "";
  }
  for (const line of body.split(/\r?\n/)) {
    if (/^\s*$/.test(line)) continue;
    const c = /^\s*(?:#|\/\/)(.*)$/.exec(line);
    if (!c) return undefined;
    const d = /^\s*syntax\s*=\s*(.*?)\s*$/i.exec(c[1]!);
    if (d) return d[1]!;
  }
  return undefined;
}

/** Holds the Dockerfile's bytes back until it is complete and checked. */
class DockerfileFilter implements ResponseFilter {
  private readonly framer = new GrpcFramer(MAX_DOCKERFILE_BYTES + 4096);
  private statIndex = 0;
  /** Regular files of the directory listed so far. */
  private readonly files = new Set<string>();
  /** Regular files of the directory (id → path) that are checked. */
  private readonly checked = new Map<number, string>();
  private readonly content = new Map<number, Buffer[]>();
  private bytes = 0;
  /** Messages held while a checked file is incomplete. */
  private held: Buffer[] = [];

  constructor(
    private readonly rules: RuleSettings,
    private readonly profile: string,
    private readonly buildArgs: () => ReadonlyArray<ReadonlyMap<string, string>>,
  ) {}

  data(chunk: Buffer): FilterResult {
    let messages;
    try {
      messages = this.framer.push(chunk);
    } catch (err) {
      return this.cannotRead((err as Error).message);
    }
    for (const m of messages) {
      if (m.compressed) return this.cannotRead("the message is compressed");
      let p;
      try {
        p = decodePacket(m.payload);
      } catch (err) {
        if (err instanceof WireError) return this.cannotRead(err.message);
        throw err;
      }
      if (p.type === PACKET_STAT && p.path !== undefined) {
        const id = this.statIndex++;
        // X.dockerignore is X's ignore file when X is there too (the walk lists X first); alone
        // it is the Dockerfile itself (`-f x.dockerignore`), and read like any.
        if (isRegularFile(p.mode)) {
          const ignoreOf = p.path.endsWith(".dockerignore") ? p.path.slice(0, -".dockerignore".length) : undefined;
          if (ignoreOf === undefined || !this.files.has(ignoreOf)) this.checked.set(id, p.path);
          this.files.add(p.path);
        }
      } else if (p.type === PACKET_DATA && this.checked.has(p.id)) {
        const parts = this.content.get(p.id) ?? [];
        this.content.set(p.id, parts);
        if (p.data.length > 0) {
          this.bytes += p.data.length;
          if (this.bytes > MAX_DOCKERFILE_BYTES) return this.cannotRead(`the Dockerfile is larger than ${MAX_DOCKERFILE_BYTES} bytes`);
          parts.push(Buffer.from(p.data));
        } else {
          const path = this.checked.get(p.id)!;
          this.checked.delete(p.id);
          this.content.delete(p.id);
          const refusal = this.check(path, Buffer.concat(parts).toString("utf8"));
          if (refusal) return { ok: false, message: refusal };
        }
      }
      this.held.push(Buffer.from(m.frame));
    }
    if (this.content.size > 0) return { ok: true, out: [] }; // a checked file is incomplete: hold
    const out = this.held;
    this.held = [];
    return { ok: true, out };
  }

  end(): FilterResult {
    if (!this.framer.empty) return this.cannotRead("the stream ended inside a message");
    if (this.content.size > 0) return this.cannotRead("the stream ended inside the Dockerfile");
    const out = this.held;
    this.held = [];
    return { ok: true, out };
  }

  private check(path: string, text: string): string | undefined {
    const syntax = dockerfileSyntax(text);
    if (syntax !== undefined && !frontendAllowed(syntax, this.rules)) {
      return `${prefix(this.profile)}: ${path} selects the BuildKit frontend ${JSON.stringify(syntax)} (# syntax=), which is not in buildkitFrontends (rule buildkit.frontend)`;
    }
    for (const args of this.buildArgs()) {
      const refs = dockerfileImages(text, args);
      const problem = refs.problems[0];
      if (problem) return `${prefix(this.profile)}: ${path}:${problem.line}: ${problem.detail}; an image reference dockgate cannot resolve is refused (rule buildkit.image-ref)`;
      for (const image of refs.images) {
        const v = fetchedImageViolation(`${path}:${image.line} ${image.form}`, image.name, this.rules);
        if (v) return `${prefix(this.profile)}: ${v.detail} (rule ${v.rule})`;
      }
    }
    return undefined;
  }

  private cannotRead(why: string): FilterResult {
    return { ok: false, message: `${prefix(this.profile)}: the Dockerfile could not be read: ${why} (rule buildkit.dockerfile)` };
  }
}

/**
 * The decision for one call the daemon makes on the session; `buildArgs` gives the build
 * arguments of the builds using it (the Dockerfile's FROM lines are expanded with each).
 */
export function decideSessionCall(
  headers: http2.IncomingHttpHeaders,
  rules: RuleSettings,
  profile: string,
  buildArgs: () => ReadonlyArray<ReadonlyMap<string, string>> = () => [new Map()],
): CallDecision {
  const path = String(headers[":path"] ?? "");
  if (!SESSION_METHODS.has(path)) {
    return { kind: "refuse", code: GRPC_PERMISSION_DENIED, message: `${prefix(profile)}: method ${JSON.stringify(path)} is not relayed (rule buildkit.session-method)` };
  }
  const dir = headers["dir-name"];
  const dirs = Array.isArray(dir) ? dir : dir === undefined ? [] : [dir];
  if (!dirs.includes(DOCKERFILE_DIR)) return { kind: "pass" };
  if (path !== "/moby.filesync.v1.FileSync/DiffCopy") {
    return { kind: "refuse", code: GRPC_PERMISSION_DENIED, message: `${prefix(profile)}: the Dockerfile must be sent with DiffCopy, which dockgate reads (rule buildkit.dockerfile)` };
  }
  return { kind: "pass", filter: new DockerfileFilter(rules, profile, buildArgs) };
}
