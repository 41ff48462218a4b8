// parseRequestHead: every way a head could be read two ways is a 4xx, and the head forwarded is
// rebuilt from the end-to-end fields only.

import { describe, expect, it } from "vitest";
import { HttpError } from "../../src/http/errors.js";
import { parseRequestHead, type RequestHead } from "../../src/http/request-head.js";

/** A head as parseRequestHead gets it: lines joined by CRLF, the final CRLF CRLF excluded. */
function head(...lines: string[]): string {
  return lines.join("\r\n");
}

function get(...fields: string[]): string {
  return head("GET /_ping HTTP/1.1", "Host: docker", ...fields);
}

function post(...fields: string[]): string {
  return head("POST /containers/create HTTP/1.1", "Host: docker", ...fields);
}

function failure(text: string): HttpError {
  try {
    parseRequestHead(text);
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return err as HttpError;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

function rejects(text: string, status = 400, message?: RegExp): void {
  const err = failure(text);
  expect(err.status, JSON.stringify(text)).toBe(status);
  if (message) expect(err.message).toMatch(message);
}

function parses(text: string): RequestHead {
  return parseRequestHead(text);
}

describe("request line", () => {
  it("parses method, target and version", () => {
    const h = parses(head("DELETE /v1.41/containers/abc?force=1 HTTP/1.1", "Host: x"));
    expect(h).toMatchObject({ method: "DELETE", target: "/v1.41/containers/abc?force=1", minor: 1 });
    expect(parses(head("GET / HTTP/1.0")).minor).toBe(0);
  });

  it.each([
    "GET  /_ping HTTP/1.1",
    "GET /_ping  HTTP/1.1",
    " GET /_ping HTTP/1.1",
    "GET /_ping HTTP/1.1 ",
    "GET\t/_ping HTTP/1.1",
    "GET /_ping",
    "GET /_ping HTTP/1.2",
    "GET /_ping HTTP/2.0",
    "GET /_ping HTTP/1",
    "GET /_ping http/1.1",
    "GET /_ping HTTP/1.1\r",
    "GET /_ping HTTP/1.1\nX: y",
    "GET /_ping HTTP/1.1\rX: y",
    "GET /_p\ring HTTP/1.1",
    "GET /_p\x00ing HTTP/1.1",
    "GET /caf\u00e9 HTTP/1.1",
    "GE(T /_ping HTTP/1.1",
    "GE T /_ping HTTP/1.1",
    " /_ping HTTP/1.1",
    "",
  ])("rejects the request line %j", (line) => {
    rejects(head(line, "Host: x"), 400, /request line/);
  });
});

describe("header lines", () => {
  it.each([
    ["bare LF inside a value", "X-A: a\nb"],
    ["bare LF ending a field", "X-A: a\n"],
    ["bare LF before a field", "X-A: a\nX-B: b"],
    ["bare CR inside a value", "X-A: a\rb"],
    ["bare CR ending a field", "X-A: a\r"],
    ["bare CR before the colon", "X-A\r: a"],
  ])("rejects a %s", (_, field) => {
    rejects(get(field), 400);
  });

  it.each([" folded", "\tfolded", "  "])("rejects obs-fold (continuation %j)", (cont) => {
    rejects(get("X-A: a", cont), 400, /folding/);
  });

  it.each(["Host : docker", "X-A : a", "X-A\t: a"])("rejects whitespace before the colon in %j", (field) => {
    rejects(head("GET / HTTP/1.1", field), 400, /malformed header line/);
  });

  it.each([": a", "X A: a", "X(A): a", "X@A: a", "X,A: a", "X/A: a", "X\"A: a", "X{A}: a", "X[A]: a", "\u00c4: a", "X=A: a", "no colon", "X-A"])(
    "rejects the invalid field name in %j",
    (field) => {
      rejects(get(field), 400, /malformed header line/);
    },
  );

  it("accepts every tchar in a name", () => {
    const name = "!#$%&'*+-.^_`|~0-9azAZ";
    expect(parses(get(`${name}: v`)).byName[name.toLowerCase()]).toBe("v");
  });

  it.each(["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"])("rejects control character %j in a value", (c) => {
    rejects(get(`X-A: a${c}b`), 400, /control character/);
  });

  it("accepts a tab inside a value and obs-text bytes", () => {
    const h = parses(get("X-A: a\tb", "X-B: caf\u00e9"));
    expect(h.byName["x-a"]).toBe("a\tb");
    expect(h.byName["x-b"]).toBe("caf\u00e9");
  });

  it("trims spaces and tabs around a value, and allows an empty one", () => {
    const h = parses(get("X-A: \t a b \t ", "X-B:", "X-C:   "));
    expect(h.byName["x-a"]).toBe("a b");
    expect(h.byName["x-b"]).toBe("");
    expect(h.byName["x-c"]).toBe("");
  });
});

describe("fields that must appear once", () => {
  it.each([
    ["Host: a", "Host: a"],
    ["Host: a", "host: b"],
    ["Content-Length: 5", "Content-Length: 5"],
    ["Content-Length: 5", "content-length: 6"],
    ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
    ["Transfer-Encoding: chunked", "TRANSFER-ENCODING: chunked"],
    ["Content-Type: application/json", "Content-Type: application/json"],
    ["Content-Type: application/json", "content-type: text/plain"],
    ["Expect: 100-continue", "Expect: 100-continue"],
    ["Upgrade: tcp", "Upgrade: tcp"],
    ["Upgrade: tcp", "upgrade: h2c"],
  ])("rejects %s repeated as %s", (a, b) => {
    rejects(head("POST /containers/create HTTP/1.1", a, "X-Between: 1", b, ...(a.startsWith("Host") ? [] : ["Host: docker"])), 400, /repeated/i);
  });

  it("joins repeats of other fields with ', ' in byName and keeps each in headers", () => {
    const h = parses(get("X-A: 1", "x-a: 2", "Accept: a", "Accept: b"));
    expect(h.byName["x-a"]).toBe("1, 2");
    expect(h.byName["accept"]).toBe("a, b");
    expect(h.headers).toEqual([
      ["Host", "docker"],
      ["X-A", "1"],
      ["x-a", "2"],
      ["Accept", "a"],
      ["Accept", "b"],
    ]);
  });
});

describe("Host", () => {
  it("is required in HTTP/1.1", () => {
    rejects(head("GET /_ping HTTP/1.1", "X-A: b"), 400, /Host/);
    rejects(head("GET /_ping HTTP/1.1"), 400, /Host/);
  });

  it("is optional in HTTP/1.0", () => {
    expect(parses(head("GET /_ping HTTP/1.0")).minor).toBe(0);
  });

  it.each(["docker", "", "[::1]:2375", "a%41!$&'()*+,;=:_~-.b", "127.0.0.1:2375"])("accepts %j (httpguts.ValidHostHeader)", (v) => {
    expect(parses(head("GET /_ping HTTP/1.1", `Host: ${v}`)).byName["host"]).toBe(v);
  });

  it.each(["a b", "a\tb", "user@docker", "docker/x", "a?b", "a#b", "a\\b", 'a"b', "a<b", "a{b", "a|b", "a^b", "a`b", "d\xc3\xb6cker"])(
    "rejects %j as Go does (malformed Host header), in HTTP/1.0 too",
    (v) => {
      rejects(head("GET /_ping HTTP/1.1", `Host: ${v}`), 400, /malformed Host header/);
      rejects(head("GET /_ping HTTP/1.0", `Host: ${v}`), 400, /malformed Host header/);
    },
  );
});

describe("message framing", () => {
  it("reads Content-Length", () => {
    expect(parses(post("Content-Length: 42"))).toMatchObject({ contentLength: 42, chunked: false });
    expect(parses(post("Content-Length: 0")).contentLength).toBe(0);
    expect(parses(post("Content-Length: 007")).contentLength).toBe(7);
    expect(parses(post("Content-Length:  12 ")).contentLength).toBe(12);
    expect(parses(post("Content-Length: 999999999999999")).contentLength).toBe(999999999999999);
    expect(parses(post()).contentLength).toBeNull();
  });

  it.each(["+5", "-5", "0x10", "1e3", "5.0", "1 2", "5,5", "5, 5", "", "abc", "1000000000000000", "99999999999999999999", "\u0665"])(
    "rejects Content-Length %j",
    (cl) => {
      rejects(post(`Content-Length: ${cl}`), 400, /Content-Length/);
    },
  );

  it("reads Transfer-Encoding: chunked case-insensitively, with surrounding whitespace", () => {
    for (const te of ["chunked", "Chunked", "CHUNKED", "  chunked \t"]) {
      const h = parses(post(`Transfer-Encoding: ${te}`));
      expect(h.chunked).toBe(true);
      expect(h.contentLength).toBeNull();
    }
  });

  it.each(["chunked, identity", "identity, chunked", "gzip, chunked", "chunked,chunked", "xchunked", "chunkedx", "chunked;q=1", "identity", "", "chun ked"])(
    "rejects Transfer-Encoding %j",
    (te) => {
      rejects(post(`Transfer-Encoding: ${te}`), 400, /Transfer-Encoding/);
    },
  );

  it("rejects Content-Length together with Transfer-Encoding, in either order", () => {
    rejects(post("Content-Length: 5", "Transfer-Encoding: chunked"), 400, /both/);
    rejects(post("Transfer-Encoding: chunked", "Content-Length: 5"), 400, /both/);
    rejects(post("Transfer-Encoding: chunked", "Content-Length: 0"), 400, /both/);
  });

  it("rejects Transfer-Encoding in an HTTP/1.0 request", () => {
    rejects(head("POST /containers/create HTTP/1.0", "Transfer-Encoding: chunked"), 400, /HTTP\/1\.0/);
    rejects(head("POST /containers/create HTTP/1.0", "Host: docker", "Transfer-Encoding: chunked"), 400, /HTTP\/1\.0/);
  });
});

describe("Content-Type", () => {
  it.each([
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=x",
    "application/x-www-form-urlencoded;charset=utf-8",
    "application/x-www-form-urlencoded ; x",
    "Application/X-WWW-Form-Urlencoded",
    "application/x-www-form-urlencoded; bad",
    "multipart/form-data",
    "Multipart/Form-Data",
    "multipart/form-data; boundary=xyz",
    "MULTIPART/FORM-DATA;boundary=\"a\"",
    "multipart/mixed; boundary=x",
  ])("flags the form body type %j (it could override the query; the session refuses it)", (ct) => {
    expect(parses(post(`Content-Type: ${ct}`)).formBody).toBe(true);
  });

  it.each(["application/json", "application/json; charset=utf-8", "application/x-tar", "text/plain", "application/octet-stream", ""])(
    "accepts %j",
    (ct) => {
      const h = parses(post(`Content-Type: ${ct}`));
      expect(h.byName["content-type"]).toBe(ct);
      expect(h.formBody).toBe(false);
    },
  );

  it("keeps Content-Type in the forwarded headers", () => {
    expect(parses(post("Content-Type: application/json")).headers).toContainEqual(["Content-Type", "application/json"]);
  });
});

describe("Expect", () => {
  it("accepts 100-continue in any case", () => {
    expect(parses(post("Expect: 100-continue", "Content-Length: 1")).expectContinue).toBe(true);
    expect(parses(post("Expect: 100-Continue", "Content-Length: 1")).expectContinue).toBe(true);
    expect(parses(post("Content-Length: 1")).expectContinue).toBe(false);
  });

  it.each(["200-ok", "100-continue, foo", "100-continued", "", "continue"])("answers Expect %j with 417", (ex) => {
    rejects(post(`Expect: ${ex}`), 417, /Expect/);
  });
});

describe("hop-by-hop fields", () => {
  it("strips framing and hop-by-hop fields and the ones Connection nominates, keeping the rest in order", () => {
    const h = parses(
      head(
        "POST /containers/abc/attach?stream=1 HTTP/1.1",
        "Host: docker",
        "Connection: Upgrade, X-Secret-Hop, keep-alive",
        "Upgrade: tcp",
        "User-Agent: ua",
        "X-Secret-Hop: 1",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "Trailer: X-T",
        "Expect: 100-continue",
        "Content-Length: 0",
        "X-Registry-Auth: abc",
        "x-secret-hop: 2",
      ),
    );
    expect(h.headers).toEqual([
      ["Host", "docker"],
      ["User-Agent", "ua"],
      ["X-Registry-Auth", "abc"],
    ]);
    expect(h.upgrade).toBe("tcp");
    // The policy still sees every field.
    expect(h.byName["x-secret-hop"]).toBe("1, 2");
    expect(h.byName["connection"]).toBe("Upgrade, X-Secret-Hop, keep-alive");
  });

  it("does not forward Transfer-Encoding or Content-Length as sent (the proxy re-frames)", () => {
    expect(parses(post("Transfer-Encoding: chunked")).headers).toEqual([["Host", "docker"]]);
    expect(parses(post("Content-Length: 3")).headers).toEqual([["Host", "docker"]]);
  });

  it("has no upgrade without an Upgrade field", () => {
    expect(parses(get("Connection: Upgrade")).upgrade).toBeUndefined();
  });

  it("nominations are case-insensitive and whitespace-tolerant", () => {
    const h = parses(get("Connection:  x-a ,X-B", "X-A: 1", "x-b: 2", "X-C: 3"));
    expect(h.headers).toEqual([
      ["Host", "docker"],
      ["X-C", "3"],
    ]);
  });
});

describe("connection persistence", () => {
  it("HTTP/1.1 stays open unless Connection: close", () => {
    expect(parses(get()).close).toBe(false);
    expect(parses(get("Connection: keep-alive")).close).toBe(false);
    expect(parses(get("Connection: close")).close).toBe(true);
    expect(parses(get("Connection: Upgrade, Close")).close).toBe(true);
  });

  it("HTTP/1.0 always closes after its response (a 1.0 body of unknown length ends with the close)", () => {
    expect(parses(head("GET /_ping HTTP/1.0")).close).toBe(true);
    expect(parses(head("GET /_ping HTTP/1.0", "Connection: Keep-Alive")).close).toBe(true);
  });

  it("a Connection option cannot remove Host", () => {
    const h = parses(get("Connection: host, close"));
    expect(h.headers.map(([n]) => n.toLowerCase())).toContain("host");
  });
});
