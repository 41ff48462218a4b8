import { describe, expect, it } from "vitest";
import { isRootUser } from "../../../src/policy/inspect/exec.js";
import { body, rules, ruleOf } from "./helpers.js";

const E = "ContainerExec";
// What `docker exec -it web sh` sends.
const CLI = { User: "", Privileged: false, Tty: true, ConsoleSize: [50, 200], AttachStdin: true, AttachStderr: true, AttachStdout: true, Detach: false, DetachKeys: "", Env: null, WorkingDir: "", Cmd: ["sh"] };

describe("ContainerExec", () => {
  it("allows the docker CLI's exec body, also as root by default", () => {
    expect(body(E, CLI)).toBeNull();
    expect(body(E, { ...CLI, User: "root" })).toBeNull();
  });
  it("denies Privileged=true unless allowPrivileged", () => {
    expect(body(E, { ...CLI, Privileged: true })).toEqual({ rule: "exec.privileged", field: "Privileged", detail: "Privileged=true is not allowed (docker exec --privileged)" });
    expect(body(E, { Cmd: ["id"], privileged: true }, rules({ allowPrivileged: true }))).toBeNull();
    expect(ruleOf(body(E, { ...CLI, Privileged: "yes" }))).toBe("body.type");
  });
  it("denies a WorkingDir under /proc (CVE-2024-21626)", () => {
    expect(ruleOf(body(E, { ...CLI, WorkingDir: "/proc/self/fd/8" }))).toBe("containers.workdir");
    expect(body(E, { ...CLI, WorkingDir: "/app" })).toBeNull();
  });
  describe("execRoot: false", () => {
    const r = rules({ execRoot: false });
    it.each(["", "root", "0", "00", "+0", "-0", "0:0", "0000:5", "root:root", ":0", "root:1000"])("denies User %j", (u) => {
      expect(ruleOf(body(E, { ...CLI, User: u }, r))).toBe("exec.root");
    });
    it.each(["1000", "1000:0", "postgres", "node:node", "10"])("allows User %j", (u) => {
      expect(body(E, { ...CLI, User: u }, r)).toBeNull();
    });
    it("denies a missing User and a missing body", () => {
      expect(ruleOf(body(E, { Cmd: ["id"] }, r))).toBe("exec.root");
      expect(ruleOf(body(E, "", r))).toBe("exec.root");
    });
  });
  it("isRootUser", () => {
    expect(isRootUser("0")).toBe(true);
    expect(isRootUser("01")).toBe(false);
    expect(isRootUser("rootless")).toBe(false);
  });
});
