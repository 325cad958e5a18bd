// The functions' etcd clients against a member serving TLS with required client certificates: the
// cluster store (gRPC and /health) and the snapshot API (JSON gateway, /health, /version and the
// snapshot stream) work with the control plane's certificate, and get nothing without it. The
// launch's start script starts a TLS member only on a node that holds its certificate.
import { existsSync } from "node:fs";
import { request as httpsRequest, type Agent } from "node:https";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdClusterStore } from "../../../functions/adapters/etcd/clusterStore.ts";
import { createEtcdSnapshotApi } from "../../../functions/adapters/etcd/snapshots.ts";
import type { EtcdClientTls } from "../../../functions/adapters/etcd/tls.ts";
import { etcdStartScript } from "../../../functions/domain/etcdStartScript.ts";
import { etcdHttp } from "../../../functions/adapters/etcd/http.ts";
import { httpsAgent } from "../../../functions/adapters/etcd/tls.ts";
import { etcdEnv } from "../../../functions/domain/etcdEnv.ts";
import { etcdTlsClientUrl } from "../../../functions/domain/model.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { spawnEtcd } from "../../../local/etcd.ts";
import { nodeDir, prepareLocalNode } from "../../../local/node.ts";
import { useRig } from "../../rig/index.ts";
import { startTlsMember, untilHealthy, type TlsMember } from "../../rig/tlsMember.ts";

const rig = useRig();
const MAIN = "i-0dd0000000000a001";
/** A main node whose member is started the way members were before they had an HTTP listener. */
const OLD = "i-0dd0000000000a003";
let member: TlsMember;
let tls: EtcdClientTls;

beforeAll(async () => {
  member = await startTlsMember({
    dir: rig.dir,
    token: rig.unique("t"),
    nodes: [
      { id: MAIN, ip: rig.block.address(41), role: "main" },
      { id: OLD, ip: rig.block.address(43), role: "main" },
    ],
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

  it("a TLS member answers HTTP on its own listener; its client port carries gRPC alone", async () => {
    const agent = httpsAgent(tls);
    try {
      // Asked by its client URL, as every caller names a member: the request goes to the listener.
      const http = etcdHttp(agent);
      expect(await http.healthy(member.endpoint, 2000)).toBe(true);
      expect(JSON.parse((await http.request(`${member.endpoint}/version`, 2000)).text)).toHaveProperty(
        "etcdserver",
      );
      // The client port itself no longer speaks HTTP/1.1 (gRPC's own server holds it).
      const direct = await fetchOver(agent, `${member.endpoint}/health`).catch((e: Error) => e);
      expect(direct).toBeInstanceOf(Error);
    } finally {
      agent.destroy();
    }
  });

  it("a TLS member started before it had an HTTP listener is still probed, on its client port", async () => {
    const ip = rig.block.address(43);
    const env = etcdEnv({
      name: OLD,
      ip,
      dataDir: join(rig.dir, "old-member", "data"),
      initialCluster: [{ name: OLD, ip }],
      state: "new",
      token: rig.unique("old"),
      tlsDir: dirname(member.pkiFiles(OLD).cert),
    });
    delete env.ETCD_LISTEN_CLIENT_HTTP_URLS; // the settings such a member was started with
    const proc = spawnEtcd(env, join(rig.dir, "old-member"));
    try {
      // Nothing listens on its HTTP port: the probe falls back to the client port, where it answers.
      expect(await untilHealthy(etcdTlsClientUrl(ip), tls)).toBe(true);
      const agent = httpsAgent(tls);
      try {
        expect((await etcdHttp(agent).request(`${etcdTlsClientUrl(ip)}/version`, 2000)).status).toBe(200);
      } finally {
        agent.destroy();
      }
    } finally {
      await proc.stop();
    }
  });
});

/** One GET with `agent`, to exactly this URL (no mapping): the body, or the request's error. */
function fetchOver(agent: Agent, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent, signal: AbortSignal.timeout(3000) }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(body));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
