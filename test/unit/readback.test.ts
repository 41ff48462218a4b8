// Read-back of references dockgate rewrote to ids (src/policy/readback.ts): what is recorded in
// the create body, and what inspect / list answers show.

import { describe, expect, it } from "vitest";
import { GoObject, parseGoJson, toJson } from "../../src/policy/gojson.js";
import { INSPECT_READBACK, LIST_READBACK, READBACK_LABEL, recordRewrites, spellings } from "../../src/policy/readback.js";

const ID = `sha256:${"a".repeat(64)}`;
const NET = "b".repeat(64);

function rewrite(body: object, change: (o: GoObject) => void): { result: boolean | string; body: any } {
  const o = parseGoJson(Buffer.from(JSON.stringify(body))) as GoObject;
  const before = spellings(o);
  change(o);
  const result = recordRewrites(before, o);
  return { result, body: JSON.parse(toJson(o)) };
}

describe("recording", () => {
  it("records each rewritten field as [given, written], and {} when nothing changed (the image's own label never stands in)", () => {
    const r = rewrite({ Image: "busybox", HostConfig: { NetworkMode: "net" }, Labels: { a: "b" } }, (o) => {
      o.set("Image", ID);
      (o.get("HostConfig") as GoObject).set("NetworkMode", NET);
    });
    expect(r.result).toBe(true);
    expect(JSON.parse(r.body.Labels[READBACK_LABEL])).toEqual({ Image: [ID, "busybox"], "HostConfig.NetworkMode": [NET, "net"] });
    expect(r.body.Labels.a).toBe("b");
    const none = rewrite({ Image: ID }, () => {});
    expect(none.result).toBe(true);
    expect(none.body.Labels[READBACK_LABEL]).toBe("{}");
  });

  it("drops a client's own label of that key, and refuses one that differs only in case", () => {
    const r = rewrite({ Image: ID, Labels: { [READBACK_LABEL]: '{"Image":["x","y"]}' } }, () => {});
    expect(r.result).toBe(true);
    expect(r.body.Labels).toEqual({ [READBACK_LABEL]: "{}" });
    expect(rewrite({ Image: "x", Labels: { "Dockgate.Refs": "1" } }, (o) => o.set("Image", ID)).result).toMatch(/only in case/);
  });
});

describe("reading back", () => {
  const label = JSON.stringify({ Image: [ID, "busybox"], "HostConfig.NetworkMode": [NET, "net"], "HostConfig.VolumesFrom.0": [`${NET}:ro`, "web:ro"] });

  it("inspect shows what the client wrote, without the label", () => {
    const daemon = { Image: ID, Config: { Image: ID, Labels: { [READBACK_LABEL]: label, keep: "1" } }, HostConfig: { NetworkMode: NET, VolumesFrom: [`${NET}:ro`] } };
    const out = JSON.parse(INSPECT_READBACK.transform(Buffer.from(JSON.stringify(daemon)), 200).toString());
    expect(out.Config).toEqual({ Image: "busybox", Labels: { keep: "1" } });
    expect(out.HostConfig).toEqual({ NetworkMode: "net", VolumesFrom: ["web:ro"] });
    expect(out.Image).toBe(ID);
  });

  it("a value the daemon no longer shows as given is left alone; bodies without the label pass untouched", () => {
    const daemon = { Config: { Image: "other", Labels: { [READBACK_LABEL]: label } }, HostConfig: { NetworkMode: "bridge" } };
    const out = JSON.parse(INSPECT_READBACK.transform(Buffer.from(JSON.stringify(daemon)), 200).toString());
    expect(out).toEqual({ Config: { Image: "other", Labels: {} }, HostConfig: { NetworkMode: "bridge" } });
    const plain = Buffer.from('{"Config":{"Image":"x"}}');
    expect(INSPECT_READBACK.transform(plain, 200)).toBe(plain);
  });

  it("list items: Image and HostConfig.NetworkMode", () => {
    const list = [{ Image: ID, Labels: { [READBACK_LABEL]: label }, HostConfig: { NetworkMode: NET } }, { Image: "y", Labels: {} }];
    expect(JSON.parse(LIST_READBACK.transform(Buffer.from(JSON.stringify(list)), 200).toString())).toEqual([
      { Image: "busybox", Labels: {}, HostConfig: { NetworkMode: "net" } },
      { Image: "y", Labels: {} },
    ]);
  });
});
