// A classic-builder build (POST /build without version=2) under `images.allow`: the images its
// Dockerfile names (FROM, COPY --from, their ONBUILD forms: buildkit/dockerfile.ts reads them,
// with the build's `buildargs`) are held to the image policy as the context tar streams
// (tar-body.ts), and the daemon never receives the tar's end before the Dockerfile was checked.
//
// What the daemon does (moby builder/remotecontext/detect.go and archive.go, 20.10 and current):
// with no `remote`, the body is the context; it is decompressed (gzip, bzip2, xz, zstd), read
// through tarsum and extracted whole (chrootarchive.Untar) into a temp dir BEFORE the Dockerfile
// is opened, so holding the tar's end holds the build. The Dockerfile is the `dockerfile`
// parameter (FormValue: the first; default `Dockerfile`, and for exactly `Dockerfile` also
// `dockerfile` when there is none), opened at filepath.Join(root, path) through symlinks in scope
// (FollowSymlinkInScope): every spelling and every entry at that cleaned path is checked, and a
// symlink or hard link there, a non-directory above it, or an entry below an archived symlink is
// refused (tar-body.ts). It is read before .dockerignore is applied (removeDockerfile), so that
// cannot hide it. FROM is expanded with the meta ARGs and the build args (BuildArgs.GetAllMeta),
// as BuildKit's Dockerfile frontend does; the proxy variables the classic builder also offers
// without an ARG, and the undeclared ones it expands to "", are refused as unresolved (rule
// buildkit.image-ref). `--platform` only picks the variant of the image named. The classic
// builder parses with BuildKit's parser package (heredocs in current daemons, none in 20.10):
// dockerfile.ts's two readings cover both; `RUN --mount` (refused by the classic builder) is
// checked anyway.

import { queryBuildArgs } from "./buildkit/build-query.js";
import { dockerfileImages } from "./buildkit/dockerfile.js";
import { MAX_DOCKERFILE_BYTES } from "./buildkit/session-calls.js";
import { fetchedImageViolation } from "./inspect/image-policy.js";
import type { Violation } from "./inspect/index.js";
import { queryValues } from "./inspect/util.js";
import type { RuleSettings } from "./rules.js";
import { cleanPath, type TarFiles, withTarBodyCheck } from "./tar-body.js";
import type { Denial, RequestView, Verdict } from "./verdict.js";

const DEFAULT_DOCKERFILE = "Dockerfile";

/** The context paths the daemon may open as the Dockerfile, for every `dockerfile` value given. */
export function dockerfilePaths(req: RequestView): Set<string> {
  const values = queryValues(req, "dockerfile");
  const out = new Set<string>();
  for (const v of values.length === 0 ? [""] : values) {
    const name = v === "" ? DEFAULT_DOCKERFILE : v;
    out.add(cleanPath(name));
    // withDockerfileFromContext: a missing `Dockerfile` falls back to `dockerfile`.
    if (name === DEFAULT_DOCKERFILE) out.add(DEFAULT_DOCKERFILE.toLowerCase());
  }
  return out;
}

/** The Dockerfile entries of one context: each is read and its images checked. */
function contextFiles(req: RequestView, rules: RuleSettings): TarFiles {
  const buildArgs = queryBuildArgs(req);
  return {
    paths: dockerfilePaths(req),
    limit: MAX_DOCKERFILE_BYTES,
    check(path, data) {
      const refs = dockerfileImages(data.toString("utf8"), buildArgs);
      const problem = refs.problems[0];
      if (problem) {
        return { rule: "buildkit.image-ref", field: path, detail: `${path}:${problem.line}: ${problem.detail}; an image reference dockgate cannot resolve is refused` };
      }
      for (const image of refs.images) {
        const v = fetchedImageViolation(`${path}:${image.line} ${image.form}`, image.name, rules);
        if (v) return v;
      }
      return null;
    },
  };
}

/** ImageBuild, classic builder, no `remote` (IMAGE_POLICY refuses one), under images.allow: the streamed Dockerfile check. */
export function withContextCheck(
  verdict: Verdict | Promise<Verdict>,
  req: RequestView,
  rules: RuleSettings,
  audit: boolean,
  deny: (v: Violation) => Denial,
): Verdict | Promise<Verdict> {
  return withTarBodyCheck(verdict, "build.context", () => contextFiles(req, rules), audit, deny);
}
