// The takeovers of BuildKit's upgrades, relayed call by call by src/forward/h2-relay.ts:
// /session (the daemon is the HTTP/2 client; recorded as open for the client that opened it,
// ./sessions.ts, until either side closes) and /grpc (the client is the HTTP/2 client calling
// BuildKit's control API, ./control.ts).

import { relayH2 } from "../../forward/h2-relay.js";
import type { Takeover } from "../../forward/session.js";
import type { ProfileConfig } from "../../config/types.js";
import type { RuleSettings } from "../rules.js";
import type { Client } from "../verdict.js";
import { decideControlCall } from "./control.js";
import { decideSessionCall } from "./session-calls.js";
import { SESSIONS, sessionRequestId } from "./sessions.js";

/** `rulesOf` gives the rules of the client's profile now (undefined: the profile is gone). */
export function sessionTakeover(rulesOf: (client: Client) => RuleSettings | undefined): (t: Takeover) => void {
  return (t) => {
    const id = sessionRequestId(t.view);
    if (!id.ok) {
      t.done();
      return;
    }
    // The gate checked the id; another connection may have opened it since (then this one goes),
    // or the build that was to use it was refused already.
    let end = (): void => t.done();
    if (SESSIONS.open(id.id, t.client, () => end()) !== "open") {
      t.done();
      return;
    }
    end = relayH2({
      caller: t.upstream,
      callerBytes: t.fromUpstream,
      callee: t.clientSocket,
      calleeBytes: t.fromClient,
      decide: (headers) => {
        const rules = rulesOf(t.client);
        if (rules === undefined) return { kind: "refuse", code: 7, message: `dockgate: profile ${t.client.profile} no longer exists` };
        return decideSessionCall(headers, rules, t.client.profile, () => SESSIONS.buildArgs(id.id));
      },
      onClose: () => {
        SESSIONS.close(id.id);
        t.done();
      },
    });
  };
}

/** `profileOf` gives the client's profile now (undefined: the profile is gone). */
export function grpcTakeover(profileOf: (client: Client) => ProfileConfig | undefined): (t: Takeover) => void {
  return (t) => {
    relayH2({
      caller: t.clientSocket,
      callerBytes: t.fromClient,
      callee: t.upstream,
      calleeBytes: t.fromUpstream,
      decide: (headers) => {
        const p = profileOf(t.client);
        if (p === undefined) return { kind: "refuse", code: 7, message: `dockgate: profile ${t.client.profile} no longer exists` };
        return decideControlCall(headers, { rules: p.rules, profile: p.name, client: t.client, allow: p.allow, ownership: p.ownership !== undefined });
      },
      onClose: () => t.done(),
    });
  };
}
