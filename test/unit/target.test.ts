// parseTarget: the request-target read as the daemon reads it (Go net/url.ParseRequestURI,
// gorilla/mux on the decoded path, url.ParseQuery), and the canonical target forwarded.

import { describe, expect, it } from "vitest";
import { isCleanPath, parseTarget, TargetError } from "../../src/http/target.js";

function rejects(raw: string): void {
  expect(() => parseTarget(raw), raw).toThrow(TargetError);
}

/**
 * An independent model of what Go does with a target made of visible ASCII: the path is
 * percent-decoded as a whole ("%2F" is "/"), the query is split on "&", then on the first "=",
 * "+" is a space, and each side is percent-decoded.
 */
function goDecode(target: string): { path: string; query: Array<[string, string]> } {
  expect(target).toMatch(/^\/[\x21-\x7e]*$/);
  expect(target).not.toContain("#");
  const q = target.indexOf("?");
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? "" : target.slice(q + 1);
  const unescape = (s: string) => {
    expect(s).not.toMatch(/%(?![0-9A-Fa-f]{2})/);
    return decodeURIComponent(s);
  };
  const query: Array<[string, string]> = [];
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    expect(part).not.toContain(";");
    const eq = part.indexOf("=");
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? "" : part.slice(eq + 1);
    query.push([unescape(k.replaceAll("+", " ")), unescape(v.replaceAll("+", " "))]);
  }
  return { path: unescape(rawPath), query };
}

describe("parseTarget: path", () => {
  it("passes a plain origin-form target through unchanged", () => {
    expect(parseTarget("/v1.41/containers/json")).toEqual({ path: "/v1.41/containers/json", query: [], forward: "/v1.41/containers/json" });
  });

  it("percent-decodes the path as Go does", () => {
    expect(parseTarget("/v1.41/%5fping").path).toBe("/v1.41/_ping");
    expect(parseTarget("/v1.41/%5Fping").path).toBe("/v1.41/_ping");
    expect(parseTarget("/%63ontainers/json").path).toBe("/containers/json");
    expect(parseTarget("/containers/%E2%82%AC/json").path).toBe("/containers/\u20ac/json");
  });

  it("decodes %2F to a real '/' (mux routes on the decoded path)", () => {
    const t = parseTarget("/images/library%2Fbusybox/json");
    expect(t.path).toBe("/images/library/busybox/json");
    expect(t.forward).toBe("/images/library/busybox/json");
    expect(parseTarget("/containers%2Fjson").path).toBe("/containers/json");
  });

  it("keeps '+' literal in the path (it is a space only in the query)", () => {
    const t = parseTarget("/images/a+b/json");
    expect(t.path).toBe("/images/a+b/json");
    expect(goDecode(t.forward).path).toBe("/images/a+b/json");
  });

  it.each(["/%zz", "/a%4", "/a%", "/a%%41", "/a%g1", "/a%1g", "/%2"])("rejects the invalid escape in %s", (raw) => {
    rejects(raw);
  });

  it.each(["/a%00b", "/a%0Ab", "/a%0d%0aX-Injected:%201", "/a%09", "/a%1F", "/a%7F"])(
    "rejects the control character decoded from %s",
    (raw) => {
      rejects(raw);
    },
  );

  it.each(["/a%FF", "/a%C3", "/a%C3%28", "/a%ED%A0%80", "/a%C0%AF", "/a%80"])("rejects invalid UTF-8 decoded from %s", (raw) => {
    rejects(raw);
  });

  it.each([
    "/v1.41/containers/../json",
    "/v1.41/./containers/json",
    "/v1.41/containers/json/.",
    "/v1.41/containers/json/..",
    "/..",
    "/.",
    "//containers/json",
    "/v1.41//containers/json",
    "/containers/json//",
    "//",
    "/a/%2e%2e/b",
    "/a/%2E/b",
    "/a/.%2e/b",
    "/a%2F%2Fb",
    "/a%2F..%2Fb",
    "/a/%2e",
  ])("refuses the non-canonical path %s (mux would redirect)", (raw) => {
    rejects(raw);
  });

  it("accepts dots that are not whole segments", () => {
    expect(parseTarget("/a/.b/c..d/...").path).toBe("/a/.b/c..d/...");
    expect(parseTarget("/a%2e%2e/b").path).toBe("/a../b");
  });

  it("keeps a trailing slash (mux keeps it too)", () => {
    expect(parseTarget("/v1.41/containers/json/")).toMatchObject({ path: "/v1.41/containers/json/", forward: "/v1.41/containers/json/" });
    expect(parseTarget("/").path).toBe("/");
  });

  it.each(["/containers/json#frag", "/containers/json?all=1#x", "/#", "/a?b=c#"])("rejects the '#' in %s", (raw) => {
    rejects(raw);
  });

  it("allows an encoded '#' and '?' in the path and forwards them encoded", () => {
    const t = parseTarget("/a%23b%3Fc");
    expect(t.path).toBe("/a#b?c");
    expect(t.query).toEqual([]);
    expect(t.forward).toBe("/a%23b%3Fc");
  });

  it.each([
    "/a b",
    "/a\tb",
    "/a\x00",
    "/a\x7f",
    "/\u00e9",
    "/caf\u00e9",
    "/a?x=\u00fc",
    "/a\r\nHost: evil",
    " /a",
    "/a ",
    "",
  ])("rejects %j (space, control or non-ASCII in the raw target)", (raw) => {
    rejects(raw);
  });

  it("reads the path out of an absolute-form target", () => {
    expect(parseTarget("http://x/v1.41/containers/json")).toEqual({
      path: "/v1.41/containers/json",
      query: [],
      forward: "/v1.41/containers/json",
    });
    const t = parseTarget("HTTP://user@docker:2375/v1.41/containers/json?all=1");
    expect(t.path).toBe("/v1.41/containers/json");
    expect(t.query).toEqual([["all", "1"]]);
    expect(t.forward).toBe("/v1.41/containers/json?all=1");
  });

  it.each(["http://a%41/x", "http://a%zz/x", "http://a^b/x", "http://a|b/x", "http://a{b}/x", "http://a:b/x", "http://[::1/x", "http://[::1]x/x", "http://u{@h/x", "http://u%zz@h/x"])(
    "rejects %s (net/url refuses its host or userinfo)",
    (raw) => {
      rejects(raw);
    },
  );

  it.each(["http://a%25b/x", "http://a%e9/x", "http://a<b>/x", "http://u:p@h:2375/x", "http://:2375/x", "http://h:/x", "http://[::1]:2375/x", "http:///x", "http://a@b@h/x", "http://a:1:2/x"])(
    "accepts %s as net/url does",
    (raw) => {
      expect(parseTarget(raw).path).toBe("/x");
    },
  );

  it.each(["http://x", "http://x?/containers/json", "http:/containers/json", "containers/json", "*", "x/y", "http://x#/a"])(
    "rejects %s (no absolute path Go would route the same way)",
    (raw) => {
      rejects(raw);
    },
  );
});

describe("parseTarget: query", () => {
  it("splits pairs in order and keeps repeated keys", () => {
    expect(parseTarget("/containers/json?all=1&filters=a&all=0&all").query).toEqual([
      ["all", "1"],
      ["filters", "a"],
      ["all", "0"],
      ["all", ""],
    ]);
  });

  it("skips empty pairs and keeps an empty key", () => {
    expect(parseTarget("/a?&&x=1&&").query).toEqual([["x", "1"]]);
    expect(parseTarget("/a?=v").query).toEqual([["", "v"]]);
  });

  it("splits a pair on its first '=' only", () => {
    expect(parseTarget("/a?x=a=b").query).toEqual([["x", "a=b"]]);
  });

  it("reads '+' as a space and %2B as '+'", () => {
    const t = parseTarget("/images/create?fromImage=a+b&tag=x%2By");
    expect(t.query).toEqual([
      ["fromImage", "a b"],
      ["tag", "x+y"],
    ]);
    expect(goDecode(t.forward).query).toEqual(t.query);
  });

  it("percent-decodes keys and values, including encoded '&', '=' and '#'", () => {
    const t = parseTarget("/a?k%3D1=v%261&%61ll=%23");
    expect(t.query).toEqual([
      ["k=1", "v&1"],
      ["all", "#"],
    ]);
    expect(goDecode(t.forward).query).toEqual(t.query);
  });

  it("decodes JSON filters", () => {
    const t = parseTarget('/containers/json?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D');
    expect(t.query).toEqual([["filters", '{"label":["a=b"]}']]);
  });

  it.each(["/a?x=1;y=2", "/a?x=1&y=%3B;", "/a?;", "/a?x;=1"])("rejects the ';' in %s", (raw) => {
    rejects(raw);
  });

  it("accepts an encoded ';' (%3B) as a plain character", () => {
    expect(parseTarget("/a?x=1%3By").query).toEqual([["x", "1;y"]]);
  });

  it.each(["/a?x=%zz", "/a?x=%4", "/a?x=%", "/a?%zz=1", "/a?x=%FF", "/a?x=%C3"])("rejects the bad escape or UTF-8 in %s", (raw) => {
    rejects(raw);
  });

  it("drops an empty query ('?' alone)", () => {
    expect(parseTarget("/_ping?")).toEqual({ path: "/_ping", query: [], forward: "/_ping" });
  });

  it("keeps a '?' inside the query value", () => {
    expect(parseTarget("/a?x=b?c").query).toEqual([["x", "b?c"]]);
  });

  // A TextDecoder strips a leading BOM unless told not to; Go keeps it.
  it("keeps a UTF-8 byte order mark in a query key or value (Go does not strip it)", () => {
    expect(parseTarget("/a?x=%EF%BB%BFb").query).toEqual([["x", "\ufeffb"]]);
    expect(parseTarget("/a?%EF%BB%BFall=1").query).toEqual([["\ufeffall", "1"]]);
  });
});

// Targets a client could send to make two readers disagree. Each that parses must forward a target
// that is canonical (parses to itself) and that Go decodes to exactly the path and query decided on.
const TRICKY = [
  "/v1.41/containers/json",
  "/v1.41/%5fping",
  "/v1.41/containers/abc/json?size=1",
  "/images/library%2Fbusybox%3Alatest/json",
  "/images/a+b%20c/json",
  "/images/%2B/json",
  "/a%25b",
  "/a%2525",
  "/a%23b%3Fc",
  "/a%3Bb;c",
  "/a%26b=c",
  "/a/b/",
  "/a/%C3%A9",
  "/a/%e2%82%ac?%e2%82%ac=%E2%82%AC",
  "/a/'()*!$,:@=&",
  "/a/~_-.",
  "/a?x=a+b&y=%2B&z=%20",
  "/a?x=%26&%3D=%3D",
  "/a?x=%25&y=%2525",
  "/a?x=?&y=/",
  "/a?x=a=b=c",
  "/a?&x&&y=&",
  "/a?=",
  "/a?k%5B%5D=1&k[]=2",
  "/a?x=%7B%22a%22%3A1%7D",
  "/a?x='()*!$,:@",
  "/a?x=%27%28%29",
  "/a?x=\"<>^`{|}\\",
  "/a\"<>^`{|}\\?q",
  "/a?x=%0A",
  "/a?x=%00",
  "http://h/a%2Fb?x=+",
  "/v1.41/containers/create?name=a%2Fb&platform=linux%2Famd64",
  "/v1.41/build?buildargs=%7B%22A%22%3A%22b+c%22%7D&t=x%3Ay&t=z",
];

describe("parseTarget: the forwarded target", () => {
  it.each(TRICKY)("%s forwards a canonical target that decodes to the same path and query", (raw) => {
    const t = parseTarget(raw);
    // Canonical: visible ASCII, origin-form, and a fixed point of parseTarget.
    expect(t.forward).toMatch(/^\/[\x21-\x7e]*$/);
    expect(t.forward).not.toContain("#");
    const again = parseTarget(t.forward);
    expect(again.path).toBe(t.path);
    expect(again.query).toEqual(t.query);
    expect(again.forward).toBe(t.forward);
    // And what Go makes of the forwarded bytes is exactly what was decided on.
    const go = goDecode(t.forward);
    expect(go.path).toBe(t.path);
    expect(go.query).toEqual(t.query);
  });

  it("re-encodes a decoded control character in the query so it cannot reach the head raw", () => {
    const t = parseTarget("/a?x=%0D%0AHost:%20evil");
    expect(t.query).toEqual([["x", "\r\nHost: evil"]]);
    expect(t.forward).toBe("/a?x=%0D%0AHost%3A%20evil");
  });

  it("forwards a decoded '%' encoded again, so it is not decoded twice", () => {
    const t = parseTarget("/images/%252Fetc/json");
    expect(t.path).toBe("/images/%2Fetc/json");
    expect(t.forward).toBe("/images/%252Fetc/json");
  });

  it("forwards a path with an encoded '?' without turning it into a query", () => {
    const t = parseTarget("/containers/x%3Fall=1/json");
    expect(t.path).toBe("/containers/x?all=1/json");
    expect(t.query).toEqual([]);
    expect(parseTarget(t.forward).query).toEqual([]);
  });
});

describe("isCleanPath", () => {
  it.each(["/", "/a", "/a/", "/a/b", "/a.b", "/.a", "/a..", "/..a/b"])("%s is clean", (p) => {
    expect(isCleanPath(p)).toBe(true);
  });
  it.each(["", "a", "//", "/a//b", "/.", "/..", "/a/.", "/a/..", "/a/./b", "/a/../b", "/./"])("%j is not clean", (p) => {
    expect(isCleanPath(p)).toBe(false);
  });
});
