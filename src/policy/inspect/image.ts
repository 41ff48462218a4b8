// ImageCreate (pull / import) and ImageCommit.
//
// ImageCreate: `fromSrc` other than `-` (the request body) is a URL the daemon downloads (a bare
// host is read as http://host): fetchUrls allowlist. `changes` (import) and ImageCommit's
// `changes` are Dockerfile instructions applied to the image config: a WORKDIR under /proc is the
// CVE-2024-21626 escape for every container later run from the image. ImageCommit's body is a
// container.Config (WorkingDir, OnBuild checked the same way).

import type { GoValue } from "../gojson.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import { checkConfig, checkInstructions } from "./container.js";
import { urlAllowed } from "./fetch.js";
import type { Inspection, Violation } from "./index.js";
import { bodyObject, formBodyViolation, guard, queryValues, quote } from "./util.js";

function changesViolation(req: RequestView): Violation | null {
  const changes = queryValues(req, "changes");
  if (changes.length === 0) return null;
  return guard(() => checkInstructions(changes, "changes"));
}

export const imageCreate: Inspection = {
  query(req: RequestView, rules: RuleSettings) {
    const form = formBodyViolation(req);
    if (form) return form;
    for (const v of queryValues(req, "fromSrc")) {
      if (v === "" || v === "-") continue;
      if (!urlAllowed(v, rules.fetchUrls)) {
        return { rule: "images.fetch-url", field: "fromSrc", detail: `fromSrc=${quote(v)}: the daemon may not download this URL (not under an allowed fetch URL); upload the archive with fromSrc=- instead` };
      }
    }
    return changesViolation(req);
  },
};

export const imageCommit: Inspection = {
  query(req: RequestView) {
    return formBodyViolation(req) ?? changesViolation(req);
  },
  body(body: GoValue | undefined) {
    return guard(() => {
      const o = bodyObject(body, "body");
      if (o) checkConfig(o, "");
    });
  },
};
