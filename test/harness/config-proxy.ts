// dockgate with a real config file, as `serve --config FILE --listen <fresh> --upstream <daemon>`.

import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { daemonClient } from "../../src/policy/daemon.js";
import { createGate } from "../../src/policy/engine.js";
import { hostNetworkAsked } from "../../src/policy/host-network.js";
import { startProxy, tempSocket, type TestProxy } from "./proxy.js";

/** dockgate as `serve --config FILE --listen <fresh> --upstream <daemon>` would run it. */
export async function startProxyWithConfig(file: string, upstream: string): Promise<TestProxy> {
  const loaded = loadConfig(file);
  const only = loaded.listeners[0]!;
  const config: Config = {
    ...loaded,
    upstream,
    listeners: [{ ...only, listen: { kind: "unix", path: tempSocket(), mode: 0o600 } }],
  };
  // As serve does: the host network's id is asked before the listener opens.
  await hostNetworkAsked(daemonClient(upstream));
  return startProxy(config, createGate(config));
}
