// Reading and re-writing a daemon's JSON answer that a response transform edits (owner label
// hidden, references read back, lists filtered): whatever the edit does not touch goes back to the
// client with the value the daemon sent. JSON.parse alone would round every integer beyond 2^53
// (an int64 such as a Healthcheck interval in nanoseconds, a ulimit of 2^63-1) to the nearest
// double, and JSON.stringify would then write another number than the daemon stored.

/** An integer literal of 16 or more digits: the only kind Go's encoder writes that a double may not hold. */
const LONG_DIGITS = /[0-9]{16}/;

// JSON.rawJSON and the reviver's source text (TC39 "JSON.parse source text access") are in V8 since
// 11.4, so in every Node 24; TypeScript's lib does not declare them yet.
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** Keeps the literal of a number that String(n) would not write back the same. */
function keepDigits(_key: string, value: unknown, context?: { source?: string }): unknown {
  return typeof value === "number" && context?.source !== undefined && context.source !== String(value) ? rawJSON(context.source) : value;
}

/**
 * The answer as plain JSON values; numbers a double would change come back as JSON.rawJSON
 * objects, which writeAnswer writes verbatim (edits read strings, objects and arrays only).
 */
export function parseAnswer(body: Buffer): unknown {
  const text = body.toString("utf8");
  return LONG_DIGITS.test(text) ? JSON.parse(text, keepDigits as (this: unknown, key: string, value: unknown) => unknown) : JSON.parse(text);
}

/** The edited answer's bytes. */
export function writeAnswer(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
