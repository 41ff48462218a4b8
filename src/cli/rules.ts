// `dockgate rules`: the rule catalog (src/policy/rules.ts), every rule id dockgate can emit.
//
//   dockgate rules [--json] [ID...]
//
// Text: one rule per paragraph (id, stage, the setting that allows it, what it refuses). --json:
// an array of {id, stage, needs, describe} for tools (needs is null when no setting allows it).
// Exit 0; 1 when an ID is not in the catalog; 2 on a usage error.

import { RULES, type RuleInfo, ruleInfo } from "../policy/rules.js";
import { parseOptions } from "./args.js";

const USAGE = "usage: dockgate rules [--json] [ID...]";

export async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, { json: { type: "boolean" }, help: { type: "boolean", short: "h" } });
  if (typeof parsed === "string") {
    process.stderr.write(`dockgate rules: ${parsed}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n\nLists every rule id dockgate can emit: what it refuses and the profile setting that allows it.\n`);
    return 0;
  }
  let rules: readonly RuleInfo[] = RULES;
  if (parsed.positionals.length > 0) {
    const unknown = parsed.positionals.filter((id) => ruleInfo(id) === undefined);
    if (unknown.length > 0) {
      process.stderr.write(`dockgate rules: not a rule id: ${unknown.join(", ")} (dockgate rules lists them)\n`);
      return 1;
    }
    rules = parsed.positionals.map((id) => ruleInfo(id)!);
  }
  if (parsed.values.json) {
    const out = rules.map((r) => ({ id: r.id, stage: r.stage, needs: r.needs ?? null, describe: r.describe }));
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    return 0;
  }
  const text = rules.map((r) => `${r.id}  (${r.stage}; ${r.needs === undefined ? "no setting allows it" : `allowed by ${r.needs}`})\n    ${r.describe}\n`);
  process.stdout.write(text.join("\n"));
  return 0;
}
