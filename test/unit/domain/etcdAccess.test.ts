// A node's etcd role: what it may read and write, and the changes a re-placement makes.
import { describe, expect, it } from "vitest";
import { nodeAccess, nodeRole, planGrants } from "../../../functions/domain/etcdAccess.ts";
import { InvariantError } from "../../../functions/domain/errors.ts";

const id = "i-0123456789abcdef0";
const covers = (g: { key: string; prefix: boolean }, key: string) =>
  g.prefix ? key.startsWith(g.key) : key === g.key;
const writable = (a: ReturnType<typeof nodeAccess>, key: string) =>
  a.grants.some((g) => g.permission !== "Read" && covers(g, key));
const readable = (a: ReturnType<typeof nodeAccess>, key: string) =>
  a.grants.some((g) => g.permission !== "Write" && covers(g, key));

describe("nodeAccess", () => {
  const a = nodeAccess(id, [
    { service: "hello", instance: "1" },
    { service: "db", instance: "a" },
  ]);
  it("is the node's user and role", () => {
    expect(a.user).toBe(id);
    expect(a.role).toBe(nodeRole(id));
  });
  it("reads every service's presence and nothing of the control plane's", () => {
    expect(readable(a, "/services/other/instances/9")).toBe(true);
    expect(readable(a, "/cluster/nodes/" + id)).toBe(false);
    expect(readable(a, "/cluster/placement")).toBe(false);
  });
  it("writes its instances' records, their plain keys and their services' master, nothing else", () => {
    for (const k of [
      "/services/hello/instances/1",
      "/services/hello/instances/1/port",
      "/services/hello/master",
      "/services/db/instances/a/private_ip",
    ])
      expect(writable(a, k), k).toBe(true);
    for (const k of [
      "/services/hello/instances/10",
      "/services/hello/instances/2",
      "/services/hello/instances/1x",
      "/services/other/master",
      "/services/nginx/dns_name",
      "/cluster/nodes/" + id,
      "/machines/i-0fedcba9876543210/units",
    ])
      expect(writable(a, k), k).toBe(false);
  });
  it("writes its own unit states and no other node's", () => {
    expect(writable(a, `/machines/${id}/units`)).toBe(true);
    expect(writable(a, `/machines/${id}/units2`)).toBe(false);
  });
  it("with nothing placed, only reads services and writes its unit states", () => {
    expect(nodeAccess(id, []).grants).toEqual([
      { permission: "Read", key: "/services/", prefix: true },
      { permission: "Readwrite", key: `/machines/${id}/units`, prefix: false },
    ]);
  });
  it.each([
    ["a forged instance id", "i-1;x", []],
    ["a service name with a slash", id, [{ service: "a/b", instance: "1" }]],
    ["an instance with a slash", id, [{ service: "a", instance: "1/.." }]],
  ])("refuses %s", (_w, node, announced) => {
    expect(() => nodeAccess(node, announced)).toThrow(InvariantError);
  });
});

describe("planGrants", () => {
  it("grants what is missing and revokes what moved away; equal sets change nothing", () => {
    const before = nodeAccess(id, [{ service: "hello", instance: "1" }]).grants;
    const after = nodeAccess(id, [{ service: "hello", instance: "2" }]).grants;
    const p = planGrants(before, after);
    expect(p.grant.map((g) => g.key)).toEqual([
      "/services/hello/instances/2",
      "/services/hello/instances/2/",
    ]);
    expect(p.revoke.map((g) => g.key)).toEqual([
      "/services/hello/instances/1",
      "/services/hello/instances/1/",
    ]);
    expect(planGrants(after, after)).toEqual({ grant: [], revoke: [] });
  });
});
