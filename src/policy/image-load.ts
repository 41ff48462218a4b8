// `docker load` (POST /images/load) under an image policy: the repository tags the archive would
// create are checked against `images.allow` as the body streams (tar-body.ts), and the daemon
// never receives the archive's end before every tag was allowed. Under ownership the allowed tags
// are reported on the last step (BodyStep.creates) for per-job tenants to record.
//
// What the daemon reads (moby image/tarexport/load.go, 20.10 and current; containerd's
// core/images/archive importer for the containerd image store): the whole tar is extracted
// (graph drivers: chrootarchive.Untar into a temp dir) or read entry by entry (containerd) BEFORE
// any image or tag is created. Tags come from manifest.json (RepoTags, json.Decoder into
// []manifestItem: Go field folding), the legacy `repositories` (map repo -> tag -> id; 20.10 reads
// it when there is no manifest.json) and OCI index.json (manifests[].annotations
// io.containerd.image.name, else org.opencontainers.image.ref.name). Each must be a regular file
// of at most METADATA_BYTES of JSON; how the tar itself is read, and refused, is tar-body.ts's.

import { GoJsonError, GoObject, parseGoJson, type GoValue } from "./gojson.js";
import { createdTagViolation } from "./inspect/image-policy.js";
import type { Violation } from "./inspect/index.js";
import { quote } from "./inspect/util.js";
import type { RuleSettings } from "./rules.js";
import { ArchiveError, type TarFiles, withTarBodyCheck } from "./tar-body.js";
import type { Denial, Verdict } from "./verdict.js";

/** A metadata file (manifest.json, repositories, index.json) larger than this is refused. */
const METADATA_BYTES = 1 << 20;
const METADATA: ReadonlySet<string> = new Set(["manifest.json", "repositories", "index.json"]);

/** One archive's metadata files: their tags are checked, the allowed ones reported. */
function loadFiles(rules: RuleSettings): TarFiles {
  const tags = new Set<string>();
  return {
    paths: METADATA,
    limit: METADATA_BYTES,
    check(file, data) {
      let doc: GoValue;
      try {
        doc = parseGoJson(data);
      } catch (err) {
        if (err instanceof GoJsonError) throw new ArchiveError(`${file} is not JSON dockgate can read the way the daemon does: ${err.message}`);
        throw err;
      }
      for (const [source, tag] of tagsOf(file, doc)) {
        const v = createdTagViolation(source, tag, rules);
        if (v) return v;
        tags.add(tag);
      }
      return null;
    },
    creates: () => [...tags],
  };
}

function strings(v: GoValue | undefined, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) throw new ArchiveError(`${what} is not a list of strings`);
  return v as string[];
}

/** The tags one metadata file names, each with where it was read. */
function tagsOf(file: string, doc: GoValue): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (doc === null) return out;
  switch (file) {
    case "manifest.json":
      if (!Array.isArray(doc)) throw new ArchiveError("manifest.json is not a list");
      doc.forEach((item, i) => {
        if (item === null) return;
        if (!(item instanceof GoObject)) throw new ArchiveError(`manifest.json[${i}] is not an object`);
        for (const tag of strings(item.get("RepoTags"), `manifest.json[${i}].RepoTags`)) out.push([`manifest.json[${i}].RepoTags`, tag]);
      });
      return out;
    case "repositories":
      if (!(doc instanceof GoObject)) throw new ArchiveError("repositories is not an object");
      for (const [repo, tags] of doc.entries()) {
        if (tags === null) continue;
        if (!(tags instanceof GoObject)) throw new ArchiveError(`repositories[${quote(repo)}] is not an object`);
        for (const [tag] of tags.entries()) out.push(["repositories", `${repo}:${tag}`]);
      }
      return out;
    default: {
      if (!(doc instanceof GoObject)) throw new ArchiveError("index.json is not an object");
      const manifests = doc.get("manifests");
      if (manifests === undefined || manifests === null) return out;
      if (!Array.isArray(manifests)) throw new ArchiveError("index.json manifests is not a list");
      manifests.forEach((m, i) => {
        if (m === null) return;
        const ann = m instanceof GoObject ? m.get("annotations") : undefined;
        if (!(m instanceof GoObject) || (ann !== undefined && ann !== null && !(ann instanceof GoObject))) throw new ArchiveError(`index.json manifests[${i}] is not a descriptor`);
        if (!(ann instanceof GoObject)) return;
        for (const key of ["io.containerd.image.name", "org.opencontainers.image.ref.name"]) {
          const name = ann.getExact(key);
          if (name === undefined || name === null || name === "") continue;
          if (typeof name !== "string") throw new ArchiveError(`index.json manifests[${i}] annotation ${key} is not a string`);
          // containerd names the image by the first non-empty one; the other is never read.
          out.push([`index.json manifests[${i}] ${key}`, name]);
          break;
        }
      });
      return out;
    }
  }
}

/**
 * ImageLoad under a profile with `images.allow` or ownership: the streamed tag check (under
 * ownership without `allow` every tag passes, but the archive must still be readable: its tags
 * are what a per-job tenant's cleanup untags).
 */
export function withLoadCheck(
  verdict: Verdict | Promise<Verdict>,
  rules: RuleSettings,
  audit: boolean,
  deny: (v: Violation) => Denial,
): Verdict | Promise<Verdict> {
  return withTarBodyCheck(verdict, "images.load-archive", () => loadFiles(rules), audit, deny);
}
