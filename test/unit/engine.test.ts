// The gate's own logic, with stand-in inspections (the real ones have their own tests).

import { describe, expect, it, vi } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { GoObject, type GoValue } from "../../src/policy/gojson.js";
import type { Client, RequestView, Verdict } from "../../src/policy/verdict.js";

const seen: { body: GoValue | undefined; rules: unknown }[] = [];

vi.mock("../../src/policy/inspect/index.js", () => ({
  inspectionFor(operation: string) {
    switch (operation) {
      case "ContainerCreate":
        return {
          query(req: RequestView) {
            const name = req.query.find(([k]) => k === "name")?.[1];
            return name === "bad" ? { rule: "containers.isolation", field: "name", detail: "name=bad is not allowed" } : null;
          },
          body(body: GoValue | undefined, _req: RequestView, rules: unknown) {
            seen.push({ body, rules });
            const hc = body instanceof GoObject ? body.get("HostConfig") : undefined;
            if (hc instanceof GoObject && hc.get("Privileged") === true) {
              return { rule: "containers.privileged", field: "HostConfig.Privileged", detail: "HostConfig.Privileged=true is not allowed" };
            }
            return null;
          },
        };
      case "ContainerList":
        return {}; // nothing to inspect: a plain allow
      case "ContainerStart":
        return {
          query() {
            throw new Error("boom");
          },
        };
      default:
        return undefined;
    }
  },
}));

const { createGate } = await import("../../src/policy/engine.js");
const { versionBelow } = await import("../../src/api/engine.js");

const config = parseConfigText(
  [
    "limits: { maxBodyBytes: 4096 }",
    "listeners:",
    "  - { name: a, unix: { path: /run/a.sock }, profile: ci }",
    "  - { name: b, unix: { path: /run/b.sock }, profile: watch }",
    "  - { name: c, unix: { path: /run/c.sock }, profile: new }",
    "profiles:",
    "  ci:",
    "    allow: [ping, ContainerList, ContainerCreate, ContainerStart, ContainerInspect]",
    "  watch:",
    "    allow: [ping, ContainerList, ContainerCreate]",
    "    mode: audit",
    "  new:",
    "    allow: [ping]",
    "    minApiVersion: \"1.41\"",
    "",
  ].join("\n"),
  "engine.yaml",
  { checkFiles: false },
);
const gate = createGate(config, { checkImages: false }); // the rules only: no daemon here

function req(operation: string, extra: Partial<RequestView> = {}): RequestView {
  return { method: "GET", path: "/", apiVersion: undefined, operation, params: {}, query: [], headers: {}, ...extra };
}
function client(profile: string): Client {
  return { listener: "a", profile, peer: "unix", owner: "a" };
}
function inspect(v: Verdict, body: string) {
  if (v.kind !== "inspect") throw new Error(`expected inspect, got ${v.kind}`);
  return v.check.inspect(Buffer.from(body));
}

describe("operation allowlist", () => {
  it("allows a granted operation with a shared verdict", () => {
    const v1 = gate.decide(req("SystemPing"), client("ci"));
    const v2 = gate.decide(req("SystemPingHead"), client("ci"));
    expect(v1).toEqual({ kind: "allow" });
    expect(v1).toBe(v2);
    expect(Object.isFrozen(v1)).toBe(true);
    expect(gate.decide(req("ContainerList"), client("ci"))).toEqual({ kind: "allow" });
    expect(gate.decide(req("ContainerInspect"), client("ci"))).toEqual({ kind: "allow" });
  });

  it("denies anything else with the documented message", () => {
    expect(gate.decide(req("ContainerExport"), client("ci"))).toEqual({
      kind: "deny",
      denial: {
        status: 403,
        rule: "endpoint.allow",
        message: "dockgate: ContainerExport denied for profile ci: operation is not allowed (rule endpoint.allow)",
      },
    });
    expect(gate.decide(req("Grpc"), client("ci"))).toMatchObject({ kind: "deny", denial: { rule: "endpoint.allow" } });
  });

  it("denies an operation it has never heard of", () => {
    expect(gate.decide(req("MadeUp"), client("ci"))).toEqual({
      kind: "deny",
      denial: { status: 403, rule: "endpoint.allow", message: "dockgate: MadeUp denied for profile ci: operation is not allowed (rule endpoint.allow)" },
    });
  });

  it("denies a client whose profile does not exist", () => {
    expect(gate.decide(req("SystemPing"), client("ghost"))).toMatchObject({
      kind: "deny",
      denial: { status: 403, rule: "profile.unknown" },
    });
  });
});

describe("API version floor", () => {
  it("denies a /vX.Y below the profile's minimum", () => {
    expect(gate.decide(req("SystemPing", { apiVersion: "1.40" }), client("new"))).toEqual({
      kind: "deny",
      denial: {
        status: 403,
        rule: "api.min-version",
        message: "dockgate: SystemPing denied for profile new: API version 1.40 is below the profile's minimum 1.41 (rule api.min-version)",
      },
    });
    expect(gate.decide(req("SystemPing", { apiVersion: "1.41" }), client("new"))).toEqual({ kind: "allow" });
    expect(gate.decide(req("SystemPing", { apiVersion: "1.100" }), client("new"))).toEqual({ kind: "allow" });
    expect(gate.decide(req("SystemPing"), client("new"))).toEqual({ kind: "allow" });
    expect(gate.decide(req("SystemPing", { apiVersion: "1.23" }), client("ci"))).toMatchObject({ kind: "deny", denial: { rule: "api.min-version" } });
  });

  it("compares like the daemon's versions.LessThan", () => {
    const min = [1, 24];
    expect(versionBelow("1.24", min)).toBe(false);
    expect(versionBelow("1.23", min)).toBe(true);
    expect(versionBelow("1.9", min)).toBe(true);
    expect(versionBelow("1.24.0", min)).toBe(false);
    expect(versionBelow("1.24.1", min)).toBe(false);
    expect(versionBelow("1", min)).toBe(true);
    expect(versionBelow("2", min)).toBe(false);
    expect(versionBelow("", min)).toBe(true);
    expect(versionBelow(".", min)).toBe(true);
    expect(versionBelow("1..24", min)).toBe(true);
    expect(versionBelow("01.024", min)).toBe(false);
    expect(versionBelow("1.x", min)).toBe(true);
  });
});

describe("inspection", () => {
  it("denies on a query violation before any body is read", () => {
    expect(gate.decide(req("ContainerCreate", { query: [["name", "bad"]] }), client("ci"))).toEqual({
      kind: "deny",
      denial: {
        status: 403,
        rule: "containers.isolation",
        field: "name",
        message: "dockgate: ContainerCreate denied for profile ci: name=bad is not allowed (rule containers.isolation)",
      },
    });
  });

  it("asks for the body, up to the configured limit, and denies a violation", () => {
    const v = gate.decide(req("ContainerCreate"), client("ci"));
    expect(v).toMatchObject({ kind: "inspect", check: { maxBytes: 4096 } });
    expect(inspect(v, '{"Image":"busybox","HostConfig":{"Privileged":true}}')).toEqual({
      ok: false,
      denial: {
        status: 403,
        rule: "containers.privileged",
        field: "HostConfig.Privileged",
        message: "dockgate: ContainerCreate denied for profile ci: HostConfig.Privileged=true is not allowed (rule containers.privileged)",
      },
    });
    expect(inspect(v, '{"Image":"busybox","HostConfig":{"Privileged":false}}')).toEqual({ ok: true });
    expect(seen.at(-1)!.rules).toBe(config.profiles.get("ci")!.rules);
  });

  it("sees Go's view of the body: folded keys", () => {
    const v = gate.decide(req("ContainerCreate"), client("ci"));
    expect(inspect(v, '{"hostconfig":{"privileged":true}}')).toMatchObject({ ok: false, denial: { rule: "containers.privileged" } });
  });

  it("passes an empty or blank body as undefined", () => {
    const v = gate.decide(req("ContainerCreate"), client("ci"));
    expect(inspect(v, "")).toEqual({ ok: true });
    expect(seen.at(-1)!.body).toBeUndefined();
    expect(inspect(v, " \r\n\t")).toEqual({ ok: true });
    expect(seen.at(-1)!.body).toBeUndefined();
  });

  it("refuses a body Go would not read the same way, with a 400", () => {
    const v = gate.decide(req("ContainerCreate"), client("ci"));
    const r = inspect(v, '{"Image":"a","image":"b"}');
    expect(r).toMatchObject({ ok: false, denial: { status: 400, rule: "body.json" } });
    if (r.ok) throw new Error("unreachable");
    expect(r.denial.message).toMatch(/^dockgate: ContainerCreate denied for profile ci: request body is not valid JSON: .*duplicate key.* \(rule body\.json\)$/);
    const bad = inspect(v, '{"Image":');
    expect(bad).toMatchObject({ ok: false, denial: { status: 400, rule: "body.json" } });
    if (bad.ok) throw new Error("unreachable");
    expect(bad.denial.message).toMatch(/offset \d+/);
  });

  it("an inspection with nothing to inspect is a plain allow", () => {
    expect(gate.decide(req("ContainerList"), client("ci"))).toEqual({ kind: "allow" });
  });

  it("an inspection that throws denies (fail closed)", () => {
    expect(gate.decide(req("ContainerStart"), client("ci"))).toEqual({
      kind: "deny",
      denial: {
        status: 500,
        rule: "inspect.error",
        message: "dockgate: ContainerStart denied for profile ci: inspection failed: boom (rule inspect.error)",
      },
    });
  });
});

describe("audit mode", () => {
  it("allows what enforce would deny, carrying the would-be denial", () => {
    expect(gate.decide(req("ContainerExport"), client("watch"))).toEqual({
      kind: "allow",
      audit: {
        status: 403,
        rule: "endpoint.allow",
        message: "dockgate: ContainerExport denied for profile watch: operation is not allowed (rule endpoint.allow)",
      },
    });
    expect(gate.decide(req("SystemPing"), client("watch"))).toEqual({ kind: "allow" });
  });

  it("audits query and body violations and unparseable bodies", () => {
    expect(gate.decide(req("ContainerCreate", { query: [["name", "bad"]] }), client("watch"))).toMatchObject({
      kind: "inspect",
    });
    const q = gate.decide(req("ContainerCreate", { query: [["name", "bad"]] }), client("watch"));
    expect(inspect(q, "{}")).toMatchObject({ ok: true, audit: { rule: "containers.isolation" } });

    const v = gate.decide(req("ContainerCreate"), client("watch"));
    expect(inspect(v, '{"HostConfig":{"Privileged":true}}')).toMatchObject({
      ok: true,
      audit: { rule: "containers.privileged", message: "dockgate: ContainerCreate denied for profile watch: HostConfig.Privileged=true is not allowed (rule containers.privileged)" },
    });
    expect(inspect(v, "nope")).toMatchObject({ ok: true, audit: { rule: "body.json", status: 400 } });
    expect(inspect(v, "{}")).toEqual({ ok: true });
  });
});
