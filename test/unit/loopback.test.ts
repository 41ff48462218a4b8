// Which bind hosts are loopback (src/listen/loopback.ts): the admin endpoint binds nowhere else.

import { describe, expect, it } from "vitest";
import { isLoopback } from "../../src/listen/loopback.js";

describe("isLoopback", () => {
  it.each(["localhost", "::1", "127.0.0.1", "127.255.0.9"])("%s is loopback", (h) => expect(isLoopback(h)).toBe(true));
  it.each(["0.0.0.0", "::", "10.0.0.1", "127.example.com", "127.1", "::ffff:10.0.0.1", ""])("%s is not", (h) => expect(isLoopback(h)).toBe(false));
});
