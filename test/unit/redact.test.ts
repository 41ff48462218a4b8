// Response redaction (src/policy/redact.ts): every option, both sides; bytes outside the redacted
// values pass through unchanged; non-JSON and unexpected shapes throw (the core closes the
// connection); property: the output is JSON the strict Go reader accepts, with no folded-duplicate keys.

import { describe, expect, it } from "vitest";
import type { RedactConfig } from "../../src/config/types.js";
import { parseGoJson } from "../../src/policy/gojson.js";
import {
  redactContainerInspect,
  redactEnvEntry,
  RedactError,
  redactImageInspect,
  redactInfo,
  redactSystemDf,
} from "../../src/policy/redact.js";

const cfg = (containerEnv: RedactConfig["containerEnv"]): RedactConfig => ({ containerEnv, info: [], systemDf: [] });
const buf = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));
const json = (b: Buffer) => JSON.parse(b.toString()) as Record<string, unknown>;

const INSPECT = {
  Id: "abc",
  Name: "/web",
  Args: ["-c", "echo hi"],
  Config: {
    Hostname: "abc",
    User: "",
    Env: ["PATH=/usr/bin:/bin", "SECRET=hunter2", "DSN=postgres://u:p@db/x?a=b", "EMPTY=", "NOVALUE", "=odd"],
    Cmd: ["sh"],
    Labels: { "SECRET": "label values are not env" },
  },
  HostConfig: { Memory: 0 },
};

describe("redactEnvEntry", () => {
  it("all: keeps the name, drops the value (everything after the first =)", () => {
    expect(redactEnvEntry("A=1", "all")).toBe("A=");
    expect(redactEnvEntry("A=b=c", "all")).toBe("A=");
    expect(redactEnvEntry("A=", "all")).toBe("A=");
    expect(redactEnvEntry("A", "all")).toBe("A");
    expect(redactEnvEntry("=x", "all")).toBe("=");
  });
  it("a list keeps the values of exactly those names (case-sensitive, like Linux)", () => {
    expect(redactEnvEntry("PATH=/bin", ["PATH"])).toBe("PATH=/bin");
    expect(redactEnvEntry("path=/bin", ["PATH"])).toBe("path=");
    expect(redactEnvEntry("PATHX=/bin", ["PATH"])).toBe("PATHX=");
    expect(redactEnvEntry("SECRET=x", [])).toBe("SECRET=");
  });
});

describe("redactContainerInspect", () => {
  it('"all" removes every value and leaves everything else', () => {
    const out = json(redactContainerInspect(buf(INSPECT), cfg("all")));
    expect((out.Config as Record<string, unknown>).Env).toEqual(["PATH=", "SECRET=", "DSN=", "EMPTY=", "NOVALUE", "="]);
    expect(out).toEqual({ ...INSPECT, Config: { ...INSPECT.Config, Env: ["PATH=", "SECRET=", "DSN=", "EMPTY=", "NOVALUE", "="] } });
  });
  it("a list keeps those names' values only", () => {
    const out = json(redactContainerInspect(buf(INSPECT), cfg(["PATH", "EMPTY"])));
    expect((out.Config as Record<string, unknown>).Env).toEqual(["PATH=/usr/bin:/bin", "SECRET=", "DSN=", "EMPTY=", "NOVALUE", "="]);
  });
  it("undefined leaves the body alone (the same buffer)", () => {
    const b = buf(INSPECT);
    expect(redactContainerInspect(b, cfg(undefined))).toBe(b);
  });
  it("passes every other byte through as the daemon wrote it (big numbers, escapes, spacing)", () => {
    const text = '{\n  "Id": "a\\u003cb",  "Size": 12345678901234567890,\n  "Config": {"Env": ["S=1", "T=\\u00e9"], "X": 1.50e3},\n  "State": {"Pid": 0}\n}\n';
    const out = redactContainerInspect(Buffer.from(text), cfg("all")).toString();
    expect(out).toBe('{\n  "Id": "a\\u003cb",  "Size": 12345678901234567890,\n  "Config": {"Env": ["S=","T="], "X": 1.50e3},\n  "State": {"Pid": 0}\n}\n');
  });
  it("values with unicode, escaped quotes and = survive as names", () => {
    const out = json(redactContainerInspect(buf({ Config: { Env: ['Q="x"', "É=é", "K=\\"] } }), cfg(["É"])));
    expect(out).toEqual({ Config: { Env: ["Q=", "É=é", "K="] } });
  });
  it("matches keys as Go clients do (any case) and redacts every occurrence", () => {
    const text = '{"config":{"ENV":["A=1"]},"Config":{"Env":["B=2"],"env":["C=3"]}}';
    expect(redactContainerInspect(Buffer.from(text), cfg("all")).toString()).toBe('{"config":{"ENV":["A="]},"Config":{"Env":["B="],"env":["C="]}}');
  });
  it("Env or Config null, absent or empty: nothing to do", () => {
    for (const b of [{ Config: { Env: null } }, { Config: null }, { Id: "x" }, { Config: { Env: [] } }, {}]) {
      expect(json(redactContainerInspect(buf(b), cfg("all")))).toEqual(b);
    }
  });
  it("only Config.Env: other Env fields (e.g. nested deeper) are not touched", () => {
    const b = { Env: ["TOP=1"], State: { Env: ["X=1"] }, Config: { Healthcheck: { Env: ["Y=1"] } } };
    expect(json(redactContainerInspect(buf(b), cfg("all")))).toEqual(b);
  });
  it("throws on non-JSON, a non-object, and an unexpected shape (fail closed)", () => {
    for (const t of ["", "   ", "not json", '{"Config":', "\uFEFF{}", "[]", "null", '"x"', "{} {}"]) {
      expect(() => redactContainerInspect(Buffer.from(t), cfg("all")), JSON.stringify(t)).toThrow(RedactError);
    }
    expect(() => redactContainerInspect(buf({ Config: { Env: "SECRET=1" } }), cfg("all"))).toThrow(/not a list of strings/);
    expect(() => redactContainerInspect(buf({ Config: { Env: [1] } }), cfg("all"))).toThrow(/not a list of strings/);
    expect(() => redactContainerInspect(buf({ Config: ["Env"] }), cfg("all"))).toThrow(/not an object/);
  });
});

describe("redactImageInspect", () => {
  it("redacts Config.Env and the older ContainerConfig.Env", () => {
    const out = json(redactImageInspect(buf({ Id: "sha256:x", Config: { Env: ["A=1"] }, ContainerConfig: { Env: ["B=2"] } }), cfg("all")));
    expect(out).toEqual({ Id: "sha256:x", Config: { Env: ["A="] }, ContainerConfig: { Env: ["B="] } });
  });
});

const INFO = {
  ID: "7TRN:IPZB",
  Containers: 14,
  Name: "build-host-7",
  RegistryConfig: { IndexConfigs: { "docker.io": { Mirrors: [] } }, Mirrors: ["https://mirror.internal"] },
  Labels: ["secret=1"],
  Swarm: { NodeID: "", LocalNodeState: "inactive" },
  HttpProxy: "http://user:pass@proxy:3128",
};

describe("redactInfo", () => {
  it("replaces the named top-level fields by null", () => {
    const out = json(redactInfo(buf(INFO), ["Name", "RegistryConfig", "HttpProxy"]));
    expect(out).toEqual({ ...INFO, Name: null, RegistryConfig: null, HttpProxy: null });
  });
  it("matches names as Go clients do (any case); unknown names and null values are no-ops", () => {
    expect(json(redactInfo(buf({ name: "x", NAME: null }), ["Name"]))).toEqual({ name: null, NAME: null });
    expect(json(redactInfo(buf(INFO), ["NoSuchField"]))).toEqual(INFO);
  });
  it("only top-level fields: a nested field of the same name is untouched", () => {
    expect(json(redactInfo(buf({ Swarm: { Name: "n" }, Name: "h" }), ["Name"]))).toEqual({ Swarm: { Name: "n" }, Name: null });
  });
  it("no fields: the same buffer", () => {
    const b = buf(INFO);
    expect(redactInfo(b, [])).toBe(b);
  });
  it("throws on non-JSON and on a non-object", () => {
    expect(() => redactInfo(Buffer.from("<html>"), ["Name"])).toThrow(/GET \/info response is not JSON/);
    expect(() => redactInfo(Buffer.from("[1]"), ["Name"])).toThrow(/not a JSON object/);
  });
});

describe("redactSystemDf", () => {
  const DF = { LayersSize: 1092588, Images: [{ Id: "sha256:1" }], Containers: [{ Id: "c", Command: "sh" }], Volumes: [{ Name: "v" }], BuildCache: [] };
  it("replaces the named top-level fields by null", () => {
    expect(json(redactSystemDf(buf(DF), ["Volumes", "BuildCache"]))).toEqual({ ...DF, Volumes: null, BuildCache: null });
  });
  it("newer daemons' field names work the same way", () => {
    expect(json(redactSystemDf(buf({ ImageUsage: { Items: [] }, VolumeUsage: { Items: [{ Name: "v" }] } }), ["VolumeUsage"]))).toEqual({ ImageUsage: { Items: [] }, VolumeUsage: null });
  });
  it("throws on non-JSON", () => {
    expect(() => redactSystemDf(Buffer.from("{"), ["Volumes"])).toThrow(RedactError);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random documents.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s ^= s >>> 13;
    return (s >>> 0) / 2 ** 32;
  };
}

describe("property: redacted output is JSON the strict Go reader accepts, changed only where redacted", () => {
  it("1000 random inspect-like documents", () => {
    const r = rng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const str = () => pick(["", "x", "a=b", "é", '"q"', "\\", "\n", "\u2028", "🙂", "=", "k=v=w"]);
    const value = (depth: number): unknown => {
      const k = r();
      if (depth > 3 || k < 0.3) return pick([null, true, false, 0, -1.5, 1e21, 123456789, str()]);
      if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < r() * 4; i++) o[`${pick(["k", "Env", "Config", "Name"])}${i}`] = value(depth + 1);
      return o;
    };
    for (let i = 0; i < 1000; i++) {
      const doc: Record<string, unknown> = { Id: str() };
      for (let j = 0; j < r() * 5; j++) doc[`f${j}`] = value(0);
      const env = Array.from({ length: Math.floor(r() * 5) }, () => `${pick(["A", "SECRET", "PATH", "É"])}=${str()}`);
      doc[pick(["Config", "config", "CONFIG"])] = { Image: "x", [pick(["Env", "env"])]: env, Nested: value(1) };
      doc.Name = str();
      const text = JSON.stringify(doc, null, pick([0, 1, 2]));
      const keep = pick<"all" | string[]>(["all", ["PATH"], []]);
      const out = redactContainerInspect(Buffer.from(text), cfg(keep));
      expect(() => parseGoJson(out), out.toString()).not.toThrow();
      const expected = JSON.parse(text) as Record<string, unknown>;
      for (const [k, v] of Object.entries(expected)) {
        if (k.toLowerCase() !== "config") continue;
        const c = v as Record<string, unknown>;
        for (const ek of Object.keys(c)) if (ek.toLowerCase() === "env") c[ek] = (c[ek] as string[]).map((e) => redactEnvEntry(e, keep));
      }
      expect(JSON.parse(out.toString())).toEqual(expected);
      for (const e of env) {
        const name = e.slice(0, e.indexOf("="));
        const val = e.slice(e.indexOf("=") + 1);
        if (val.length >= 3 && !(keep !== "all" && keep.includes(name)) && !text.replace(JSON.stringify(e).slice(1, -1), "").includes(JSON.stringify(val).slice(1, -1))) {
          expect(out.toString()).not.toContain(JSON.stringify(val).slice(1, -1));
        }
      }
      const info = redactInfo(Buffer.from(text), ["Name", "Id"]);
      expect(() => parseGoJson(info)).not.toThrow();
      expect(JSON.parse(info.toString())).toEqual({ ...JSON.parse(text), Name: null, Id: null });
    }
  });
});
