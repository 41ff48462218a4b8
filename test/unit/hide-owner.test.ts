import { describe, expect, it } from "vitest";
import { hideInEvent, hideOwner } from "../../src/policy/hide-owner.js";

const L = "dockgate.owner";

describe("hideInEvent", () => {
  it("cuts the owner and read-back labels out of Actor.Attributes, every other byte stays", () => {
    const event =
      '{"status":"create","id":"abc","from":"img","Type":"container","Action":"create","Actor":{"ID":"abc","Attributes":' +
      '{"dockgate.owner":"ci","dockgate.refs":"{\\\"Image\\\":[\\\"sha256:1\\\",\\\"img\\\"]}","image":"img","name":"web"}},"scope":"local","time":1733300000,"timeNano":1733300000123456789}';
    expect(hideInEvent(Buffer.from(event), L).toString()).toBe(
      '{"status":"create","id":"abc","from":"img","Type":"container","Action":"create","Actor":{"ID":"abc","Attributes":' +
      '{"image":"img","name":"web"}},"scope":"local","time":1733300000,"timeNano":1733300000123456789}',
    );
    const last = '{"Type":"container","Actor":{"ID":"x","Attributes":{"name":"web","dockgate.owner":"a\\"b"}},"timeNano":1}';
    expect(hideInEvent(Buffer.from(last), L).toString()).toBe('{"Type":"container","Actor":{"ID":"x","Attributes":{"name":"web"}},"timeNano":1}');
    const only = '{"Actor":{"Attributes":{"dockgate.owner":"ci"},"ID":"x"}}';
    expect(hideInEvent(Buffer.from(only), L).toString()).toBe('{"Actor":{"Attributes":{},"ID":"x"}}');
  });

  it("leaves other objects and keys of the same name elsewhere alone; refuses what is not JSON", () => {
    const other = '{"Attributes":{"dockgate.owner":"x"},"Actor":{"ID":"y","Attributes":{"name":"{\\"dockgate.owner\\":1}"}}}';
    expect(hideInEvent(Buffer.from(other), L).toString()).toBe(other);
    expect(() => hideInEvent(Buffer.from("not json"), L)).toThrow();
  });
});

describe("hideOwner", () => {
  it("container inspect: the owner label hidden, other labels and fields as they were", () => {
    const t = hideOwner("ContainerInspect", L)!;
    const body = { Id: "c", Config: { Labels: { [L]: "ci", "dockgate.owner.x": "y", app: "web" } }, HostConfig: { NetworkMode: "f".repeat(64) } };
    expect(JSON.parse(t.transform(Buffer.from(JSON.stringify(body)), 200).toString())).toEqual({ Id: "c", Config: { Labels: { "dockgate.owner.x": "y", app: "web" } }, HostConfig: { NetworkMode: "f".repeat(64) } });
  });

  it("lists and volumes; operations without labels get no transform", () => {
    const nets = hideOwner("NetworkList", L)!.transform(Buffer.from(JSON.stringify([{ Name: "n", Labels: { [L]: "x", k: "v" } }, { Name: "bridge", Labels: null }])), 200);
    expect(JSON.parse(nets.toString())).toEqual([{ Name: "n", Labels: { k: "v" } }, { Name: "bridge", Labels: null }]);
    const vols = hideOwner("VolumeList", L)!.transform(Buffer.from(JSON.stringify({ Volumes: [{ Name: "v", Labels: { [L]: "x" } }], Warnings: null })), 200);
    expect(JSON.parse(vols.toString())).toEqual({ Volumes: [{ Name: "v", Labels: {} }], Warnings: null });
    expect(hideOwner("ContainerStart", L)).toBeUndefined();
  });
});
