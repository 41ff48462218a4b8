// Prometheus metrics, hand-rolled: counters live in Maps keyed by the values the records already
// carry (profile, operation, rule), so observing a request is a few Map lookups and increments,
// with no string building; the text format is only produced when /metrics is scraped.

import type { ExchangeRecord } from "../forward/session.js";
import { droppedLines } from "./line-writer.js";

/** Upper bounds of the request duration histogram, seconds (streams land in +Inf). */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60];

const DECISIONS = ["allow", "deny", "error"] as const;
const DECISION_INDEX: Readonly<Record<ExchangeRecord["decision"], number>> = { allow: 0, deny: 1, error: 2 };

class ProfileMetrics {
  /** operation → [allow, deny, error] */
  readonly requests = new Map<string, number[]>();
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;
  /** rule → denials */
  readonly denials = new Map<string, number>();
}

export interface Gauges {
  activeConnections(): number;
  activeStreams(): number;
}

export class Metrics {
  private readonly profiles = new Map<string, ProfileMetrics>();
  hijackedTotal = 0;
  upstreamErrors = 0;
  /** rule → responses dockgate could not deliver (ExchangeRecord.failure) */
  readonly failedResponses = new Map<string, number>();
  readonly reloads = { ok: 0, refused: 0 };

  constructor(private readonly gauges: Gauges = { activeConnections: () => 0, activeStreams: () => 0 }) {}

  /** One completed exchange (called from the gateway's onExchange). */
  observe(r: ExchangeRecord): void {
    const name = r.client.profile;
    let p = this.profiles.get(name);
    if (p === undefined) {
      p = new ProfileMetrics();
      this.profiles.set(name, p);
    }
    const op = r.operation ?? "unknown";
    let counts = p.requests.get(op);
    if (counts === undefined) {
      counts = [0, 0, 0];
      p.requests.set(op, counts);
    }
    counts[DECISION_INDEX[r.decision]]!++;

    const seconds = r.durationMs / 1000;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    p.buckets[i]!++;
    p.sum += seconds;
    p.count++;

    if (r.decision === "deny" && r.rule !== undefined) p.denials.set(r.rule, (p.denials.get(r.rule) ?? 0) + 1);
    if (r.hijacked) this.hijackedTotal++;
    if (r.rule === "upstream.unreachable") this.upstreamErrors++;
    if (r.failure !== undefined) {
      const rule = r.rule ?? "unknown";
      this.failedResponses.set(rule, (this.failedResponses.get(rule) ?? 0) + 1);
    }
  }

  /** A connection refused at accept (limits.connections): a denial without a request record. */
  refused(profile: string, rule: string): void {
    let p = this.profiles.get(profile);
    if (p === undefined) {
      p = new ProfileMetrics();
      this.profiles.set(profile, p);
    }
    p.denials.set(rule, (p.denials.get(rule) ?? 0) + 1);
  }

  reload(result: "ok" | "refused"): void {
    this.reloads[result]++;
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  render(): string {
    const out: string[] = [];
    const profiles = [...this.profiles.keys()].sort();

    header(out, "dockgate_requests_total", "counter", "Requests answered, by profile, operation and decision (allow, deny, error).");
    for (const name of profiles) {
      const p = this.profiles.get(name)!;
      for (const op of [...p.requests.keys()].sort()) {
        const counts = p.requests.get(op)!;
        for (let d = 0; d < DECISIONS.length; d++) {
          if (counts[d] === 0) continue;
          out.push(`dockgate_requests_total{profile="${esc(name)}",operation="${esc(op)}",decision="${DECISIONS[d]}"} ${counts[d]}`);
        }
      }
    }

    header(out, "dockgate_request_duration_seconds", "histogram", "Time from a request's head to the end of its response (streams included), by profile.");
    for (const name of profiles) {
      const p = this.profiles.get(name)!;
      const label = `profile="${esc(name)}"`;
      let cumulative = 0;
      for (let b = 0; b < DURATION_BUCKETS.length; b++) {
        cumulative += p.buckets[b]!;
        out.push(`dockgate_request_duration_seconds_bucket{${label},le="${DURATION_BUCKETS[b]}"} ${cumulative}`);
      }
      out.push(`dockgate_request_duration_seconds_bucket{${label},le="+Inf"} ${p.count}`);
      out.push(`dockgate_request_duration_seconds_sum{${label}} ${num(p.sum)}`);
      out.push(`dockgate_request_duration_seconds_count{${label}} ${p.count}`);
    }

    header(out, "dockgate_denials_total", "counter", "Requests denied, by profile and rule.");
    for (const name of profiles) {
      const p = this.profiles.get(name)!;
      for (const rule of [...p.denials.keys()].sort()) {
        out.push(`dockgate_denials_total{profile="${esc(name)}",rule="${esc(rule)}"} ${p.denials.get(rule)}`);
      }
    }

    header(out, "dockgate_active_connections", "gauge", "Client connections open now.");
    out.push(`dockgate_active_connections ${this.gauges.activeConnections()}`);
    header(out, "dockgate_active_streams", "gauge", "Long-lived streams open now (attach, exec, follow logs, events, stats, wait).");
    out.push(`dockgate_active_streams ${this.gauges.activeStreams()}`);
    header(out, "dockgate_hijacked_connections_total", "counter", "Connections that became raw streams (attach, exec, BuildKit), counted when they end.");
    out.push(`dockgate_hijacked_connections_total ${this.hijackedTotal}`);
    header(out, "dockgate_upstream_errors_total", "counter", "Requests answered 502 because the Docker daemon could not be reached.");
    out.push(`dockgate_upstream_errors_total ${this.upstreamErrors}`);
    header(out, "dockgate_responses_failed_total", "counter", "Responses dockgate could not deliver, by rule: upstream.malformed (the daemon's framing), response.filter (a response filter failed); the client got a 502, or its connection was closed when part of the response had been sent.");
    for (const rule of ["upstream.malformed", "response.filter"]) {
      out.push(`dockgate_responses_failed_total{rule="${rule}"} ${this.failedResponses.get(rule) ?? 0}`);
    }
    header(out, "dockgate_log_lines_dropped_total", "counter", "Log lines dropped because the log destination could not keep up.");
    out.push(`dockgate_log_lines_dropped_total ${droppedLines()}`);
    header(out, "dockgate_reloads_total", "counter", "Config reloads, by result (ok, refused).");
    out.push(`dockgate_reloads_total{result="ok"} ${this.reloads.ok}`);
    out.push(`dockgate_reloads_total{result="refused"} ${this.reloads.refused}`);
    return out.join("\n") + "\n";
  }
}

function header(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

/** Label values: backslash, double quote and line feed are escaped. */
function esc(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";
}
