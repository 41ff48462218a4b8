// Metrics: what records count, and the Prometheus text they render to.

import { describe, expect, it } from "vitest";
import type { ExchangeRecord } from "../../src/forward/session.js";
import { Metrics } from "../../src/observe/metrics.js";

function record(r: Partial<ExchangeRecord> & { profile?: string }): ExchangeRecord {
  const { profile = "ci", ...rest } = r;
  return {
    client: { listener: "l", profile, peer: "unix", owner: "l" },
    method: "GET",
    path: "/_ping",
    operation: "SystemPing",
    decision: "allow",
    rule: undefined,
    field: undefined,
    status: 200,
    bytesIn: 0,
    bytesOut: 0,
    durationMs: 0.5,
    hijacked: false,
    message: undefined,
    audit: undefined,
    ...rest,
  };
}

function lines(text: string, prefix: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(prefix));
}

describe("Metrics", () => {
  it("renders an empty registry with every family and zero gauges", () => {
    const text = new Metrics().render();
    for (const name of [
      "dockgate_requests_total counter",
      "dockgate_request_duration_seconds histogram",
      "dockgate_denials_total counter",
      "dockgate_active_connections gauge",
      "dockgate_active_streams gauge",
      "dockgate_hijacked_connections_total counter",
      "dockgate_upstream_errors_total counter",
      "dockgate_reloads_total counter",
    ]) {
      expect(text).toContain(`# TYPE ${name}\n`);
    }
    expect(text).toContain('dockgate_reloads_total{result="ok"} 0\n');
    expect(text.endsWith("\n")).toBe(true);
  });

  it("counts requests by profile, operation and decision, and denials by rule", () => {
    const m = new Metrics();
    m.observe(record({}));
    m.observe(record({}));
    m.observe(record({ decision: "deny", rule: "endpoint.allow", operation: "ContainerCreate", status: 403 }));
    m.observe(record({ decision: "deny", rule: "limits.rate", status: 429 }));
    m.observe(record({ decision: "error", rule: "http.malformed", operation: undefined, status: 400 }));
    m.observe(record({ profile: "ro" }));
    m.refused("ro", "limits.connections");
    const text = m.render();
    expect(lines(text, "dockgate_requests_total{")).toEqual([
      'dockgate_requests_total{profile="ci",operation="ContainerCreate",decision="deny"} 1',
      'dockgate_requests_total{profile="ci",operation="SystemPing",decision="allow"} 2',
      'dockgate_requests_total{profile="ci",operation="SystemPing",decision="deny"} 1',
      'dockgate_requests_total{profile="ci",operation="unknown",decision="error"} 1',
      'dockgate_requests_total{profile="ro",operation="SystemPing",decision="allow"} 1',
    ]);
    expect(lines(text, "dockgate_denials_total{")).toEqual([
      'dockgate_denials_total{profile="ci",rule="endpoint.allow"} 1',
      'dockgate_denials_total{profile="ci",rule="limits.rate"} 1',
      'dockgate_denials_total{profile="ro",rule="limits.connections"} 1',
    ]);
  });

  it("keeps a cumulative duration histogram per profile with le inclusive", () => {
    const m = new Metrics();
    for (const ms of [0.2, 1, 3, 30, 90_000]) m.observe(record({ durationMs: ms }));
    const text = m.render();
    expect(lines(text, 'dockgate_request_duration_seconds_bucket{profile="ci"')).toEqual([
      'dockgate_request_duration_seconds_bucket{profile="ci",le="0.001"} 2',
      'dockgate_request_duration_seconds_bucket{profile="ci",le="0.005"} 3',
      'dockgate_request_duration_seconds_bucket{profile="ci",le="0.025"} 3',
      'dockgate_request_duration_seconds_bucket{profile="ci",le="0.1"} 4',
      'dockgate_request_duration_seconds_bucket{profile="ci",le="0.5"} 4',
      'dockgate_request_duration_seconds_bucket{profile="ci",le="2.5"} 4',
      'dockgate_request_duration_seconds_bucket{profile="ci",le="10"} 4',
      'dockgate_request_duration_seconds_bucket{profile="ci",le="60"} 4',
      'dockgate_request_duration_seconds_bucket{profile="ci",le="+Inf"} 5',
    ]);
    const sum = Number(lines(text, "dockgate_request_duration_seconds_sum")[0]!.split(" ")[1]);
    expect(sum).toBeCloseTo(90.0342, 6);
    expect(lines(text, "dockgate_request_duration_seconds_count")).toEqual(['dockgate_request_duration_seconds_count{profile="ci"} 5']);
  });

  it("counts hijacked connections, upstream errors and reloads; reads gauges at render time", () => {
    let connections = 3;
    const m = new Metrics({ activeConnections: () => connections, activeStreams: () => 2 });
    m.observe(record({ operation: "ContainerAttach", hijacked: true, status: 101 }));
    m.observe(record({ decision: "error", rule: "upstream.unreachable", status: 502 }));
    m.reload("ok");
    m.reload("refused");
    m.reload("refused");
    connections = 4;
    const text = m.render();
    expect(text).toContain("\ndockgate_hijacked_connections_total 1\n");
    expect(text).toContain("\ndockgate_upstream_errors_total 1\n");
    expect(text).toContain("\ndockgate_active_connections 4\n");
    expect(text).toContain("\ndockgate_active_streams 2\n");
    expect(text).toContain('\ndockgate_reloads_total{result="ok"} 1\ndockgate_reloads_total{result="refused"} 2\n');
  });

  it("escapes label values", () => {
    const m = new Metrics();
    m.observe(record({ profile: 'a"b\\c\nd' }));
    expect(m.render()).toContain('profile="a\\"b\\\\c\\nd"');
  });

  it("every sample line is `name{labels} value` or `name value`", () => {
    const m = new Metrics();
    m.observe(record({}));
    m.observe(record({ decision: "deny", rule: "endpoint.allow" }));
    for (const line of m.render().trimEnd().split("\n")) {
      if (line.startsWith("#")) continue;
      expect(line).toMatch(/^[a-z_]+(\{([a-z]+="([^"\\\n]|\\.)*",?)+\})? [0-9.e+-]+$/);
    }
  });
});
