// The CLI's option parsing (src/cli/args.ts): node:util parseArgs in strict mode, with
// dockgate's wording for what it refuses.

import { describe, expect, it } from "vitest";
import { parseOptions } from "../../src/cli/args.js";

const OPTIONS = { config: { type: "string", short: "c" }, json: { type: "boolean" }, header: { type: "string", short: "H", multiple: true } } as const;

describe("parseOptions", () => {
  it("parses long, short, inline and repeated options and keeps positionals (after -- too)", () => {
    expect(parseOptions(["-c", "a.yaml", "--json", "-H", "A: 1", "--header=B: 2", "GET", "-", "--", "--not-an-option"], OPTIONS)).toEqual({
      values: { config: "a.yaml", json: true, header: ["A: 1", "B: 2"] },
      positionals: ["GET", "-", "--not-an-option"],
    });
  });

  it.each([
    [["--nope"], "unknown option --nope"],
    [["-x"], "unknown option -x"],
    [["--config"], "--config needs a value"],
    [["--config="], "--config needs a value"],
    [["-c"], "-c needs a value"],
    [["--config", "-x"], "--config needs a value (write --config=-x for one that starts with -)"],
    [["--json=yes"], "--json takes no value"],
  ])("%j is refused: %s", (argv, message) => {
    expect(parseOptions(argv, OPTIONS)).toBe(message);
  });
});
