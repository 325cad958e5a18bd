// The functions' etcd clients against a member serving TLS with required client certificates: the
// cluster store (gRPC and /health) and the snapshot API (JSON gateway, /health, /version and the
// snapshot stream) work with the control plane's certificate, and get nothing without it. The
// launch's start script starts a TLS member only on a node that holds its certificate.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdClusterStore } from "../../../functions/adapters/etcd/clusterStore.ts";
import { createEtcdSnapshotApi } from "../../../functions/adapters/etcd/snapshots.ts";
import type { EtcdClientTls } from "../../../functions/adapters/etcd/tls.ts";
import { etcdStartScript } from "../../../functions/domain/etcdStartScript.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { nodeDir, prepareLocalNode } from "../../../local/node.ts";
import { useRig } from "../../rig/index.ts";
import { startTlsMember, type TlsMember } from "../../rig/tlsMember.ts";

const rig = useRig();
const MAIN = "i-0dd0000000000a001";
let member: TlsMember;
let tls: EtcdClientTls;

beforeAll(async () => {
  member = await startTlsMember({
    dir: rig.dir,
    token: rig.unique("t"),
    nodes: [{ id: MAIN, ip: rig.block.address(41), role: "main" }],
  });
  tls = member.controlPlaneTls;
}, 90_000);
afterAll(async () => member?.stop());

describe("the functions' etcd clients over TLS", () => {
  it("the cluster store lists members, reads and writes, and sees the member healthy, with the certificate", async () => {
    const store = etcdClusterStore({ endpoints: [member.endpoint], tls });
    try {
      const members = await store.memberList();
      expect(members?.map((m) => [m.name, m.clientUrls])).toEqual([[MAIN, [member.endpoint]]]);
      expect([...(await store.healthyMembers(members!))]).toEqual([members![0]!.id]);
      await store.putKey("/cluster/tls-probe", "yes");
      expect(await store.getKey("/cluster/tls-probe")).toBe("yes");
    } finally {
      store.close();
    }
  });

  it("the cluster store without the certificate reaches nothing", async () => {
    const store = etcdClusterStore({ endpoints: [member.endpoint], probeTimeoutMs: 1000 });
    try {
      expect(await store.memberList()).toBeNull();
      const fake = [{ id: "1", name: MAIN, peerUrls: [], clientUrls: [member.endpoint], isLearner: false }];
      expect(await store.healthyMembers(fake)).toEqual(new Set());
    } finally {
      store.close();
    }
  });

  it("the snapshot API reads status and members, writes and reads keys, and streams a snapshot", async () => {
    const api = createEtcdSnapshotApi(tls);
    expect(await api.alive(member.endpoint)).toBe(true);
    const status = await api.status(member.endpoint);
    expect(status?.revision).toBeGreaterThan(0);
    expect((await api.members(member.endpoint)).map((m) => m.name)).toEqual([MAIN]);
    await api.put(member.endpoint, [{ key: "/cluster/restored/a", value: "1" }]);
    expect(await api.getPrefix(member.endpoint, "/cluster/restored/")).toEqual([
      { key: "/cluster/restored/a", value: "1" },
    ]);
    expect(await api.keyCount(member.endpoint)).toBeGreaterThan(0);
    const snap = await api.openSnapshot(member.endpoint);
    let bytes = 0;
    try {
      for await (const chunk of snap.stream) bytes += (chunk as Buffer).length;
    } finally {
      snap.close();
    }
    expect(bytes).toBeGreaterThan(1024);
  });

  it("the snapshot API without the certificate is refused: no status, not healthy, a clear error", async () => {
    const api = createEtcdSnapshotApi();
    expect(await api.status(member.endpoint)).toBeUndefined();
    expect(await api.healthy(member.endpoint)).toBe(false);
    await expect(api.members(member.endpoint)).rejects.toThrow(/https needs the control plane's certificate/);
  });

  it("the start script refuses to start a TLS member on a node that holds no certificate", async () => {
    const id = "i-0dd0000000000a002";
    prepareLocalNode(member.root, id, "main");
    const [r] = await createLocalCommands({ root: member.root }).run({
      instanceIds: [id],
      script: etcdStartScript({
        name: id,
        ip: rig.block.address(42),
        initialCluster: [{ name: id, ip: rig.block.address(42) }],
        state: "new",
        token: rig.unique("t"),
        tls: true,
      }),
      comment: "start etcd with TLS",
    });
    expect(r?.status).toBe("Failed");
    expect(r?.stderr).toMatch(/the node has no certificate yet/);
    expect(existsSync(join(nodeDir(member.root, id), "etc/etcd/etcd.env"))).toBe(false);
  });
});
