// The /session takeover: after the daemon's 101, the client's BuildKit session is relayed call by
// call (src/forward/h2-relay.ts, the daemon is the HTTP/2 client) and recorded as open for the
// client that opened it (./sessions.ts) until either side closes.

import { relayH2 } from "../../forward/h2-relay.js";
import type { Takeover } from "../../forward/session.js";
import type { RuleSettings } from "../rules.js";
import type { Client } from "../verdict.js";
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
        return decideSessionCall(headers, rules, t.client.profile);
      },
      onClose: () => {
        SESSIONS.close(id.id);
        t.done();
      },
    });
  };
}
