import { describe, expect, it } from "vitest";
import { body, query, rules, ruleOf } from "./helpers.js";

describe("ImageCreate", () => {
  const I = "ImageCreate";
  it("allows pulls and uploads", () => {
    expect(query(I, [["fromImage", "alpine"], ["tag", "3.20"]])).toBeNull();
    expect(query(I, [["fromSrc", "-"], ["repo", "imported"]])).toBeNull();
  });
  it("denies fromSrc URLs (SSRF) unless allowlisted", () => {
    expect(query(I, [["fromSrc", "http://169.254.169.254/latest"]])).toMatchObject({ rule: "images.fetch-url", field: "fromSrc" });
    expect(ruleOf(query(I, [["fromSrc", "internal-host:8080"]]))).toBe("images.fetch-url");
    expect(ruleOf(query(I, [["fromImage", "alpine"], ["fromSrc", "file:///etc/shadow"]]))).toBe("images.fetch-url");
    expect(query(I, [["fromSrc", "https://dl.example.com/rootfs.tar"]], rules({ fetchUrls: ["https://dl.example.com/"] }))).toBeNull();
  });
  it("denies a WORKDIR under /proc in changes", () => {
    expect(ruleOf(query(I, [["fromSrc", "-"], ["changes", "WORKDIR /proc/self/fd/8"]]))).toBe("containers.workdir");
    expect(ruleOf(query(I, [["fromSrc", "-"], ["changes", "onbuild workdir /proc/1/cwd"]]))).toBe("containers.workdir");
    expect(ruleOf(query(I, [["fromSrc", "-"], ["changes", 'WORKDIR "/proc/self/fd/8"']]))).toBe("containers.workdir");
    expect(query(I, [["fromSrc", "-"], ["changes", "WORKDIR /app"], ["changes", "ENV A=b"]])).toBeNull();
  });
  it("refuses WORKDIR changes with escapes, variables or continuations", () => {
    expect(ruleOf(query(I, [["fromSrc", "-"], ["changes", "ENV D=/proc/self/fd/8"], ["changes", "WORKDIR $D"]]))).toBe("containers.workdir");
    expect(ruleOf(query(I, [["fromSrc", "-"], ["changes", "WORKDIR \\"], ["changes", "/proc/self/fd/8"]]))).toBe("containers.workdir");
    expect(ruleOf(query(I, [["fromSrc", "-"], ["changes", "WORKDIR /p\\roc/self/fd/8"]]))).toBe("containers.workdir");
    expect(query(I, [["fromSrc", "-"], ["changes", "ENV PATH=$PATH:/x"]])).toBeNull();
  });
});

describe("ImageCommit", () => {
  const M = "ImageCommit";
  it("allows a plain commit", () => {
    expect(query(M, [["container", "abc"], ["repo", "x"], ["changes", 'CMD ["sh"]']])).toBeNull();
    expect(body(M, "null")).toBeNull();
    expect(body(M, { Cmd: ["sh"], WorkingDir: "/app" })).toBeNull();
  });
  it("denies WORKDIR under /proc in changes, Config.WorkingDir and OnBuild", () => {
    expect(ruleOf(query(M, [["container", "abc"], ["changes", "WORKDIR /proc/self/fd/8"]]))).toBe("containers.workdir");
    expect(body(M, { WorkingDir: "/proc/self/fd/8" })).toMatchObject({ rule: "containers.workdir", field: "WorkingDir" });
    expect(ruleOf(body(M, { OnBuild: ["WORKDIR /proc/self/fd/8"] }))).toBe("containers.workdir");
    expect(ruleOf(body(M, { WorkingDir: 7 }))).toBe("body.type");
  });
});
