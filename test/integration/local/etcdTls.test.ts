// A whole local cluster with etcd on TLS (`up --etcd-tls`): the members serve TLS with client
// certificates and authentication on; the operator's status reads them with the control plane's
// certificate; every node program reaches etcd through its node's etcd-amb, which presents the
// node's certificate, so the services are announced and answer through the front door as without
// TLS. From a worker, what any of its containers can do: read /services/, and nothing of /cluster/
// or of another node's presence; a client without a certificate is refused by every member.
import { Etcd3 } from "etcd3";
import { describe, expect, it } from "vitest";
import { grpcTlsOptions } from "../../../functions/adapters/etcd/tls.ts";
import { unitStatesKey } from "../../../functions/domain/etcdKeys.ts";
import { etcdClientUrl, etcdTlsClientUrl } from "../../../functions/domain/model.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { instanceKey } from "../../../functions/domain/presence.ts";
import { attach } from "../../../local/cluster/attach.ts";
import { status } from "../../../local/cluster/cluster.ts";
import { localEtcdTls } from "../../../local/cluster/etcdTls.ts";
import { clusterDiagnosis } from "../../rig/clusterDiagnosis.ts";
import { httpAsk } from "../../rig/http.ts";
import { useLocalCluster } from "../../rig/localCluster.ts";

const lc = useLocalCluster({ name: "etcdtls", etcdTls: true });
/** Where the cluster stands, for a failure's message: the node programs' way to etcd and the services. */
const diagnosis = () =>
  clusterDiagnosis(lc.dir, {
    logs: ["etcd-amb.service", "presence@hello@1.service", "devcluster-unit-states.service"],
  });

/** The control plane's client (CN root), as the functions and the operator's tools hold it. */
async function admin(): Promise<Etcd3> {
  const s = await status(lc.dir);
  const tls = await localEtcdTls(lc.state);
  expect(tls, "the control plane's certificate in SSM").toBeDefined();
  const hosts = s.nodes.filter((n) => n.role === "main").map((n) => etcdTlsClientUrl(n.address));
  return new Etcd3({ hosts, dialTimeout: 3000, ...grpcTlsOptions(tls) });
}

describe("a local cluster with etcd on TLS", () => {
  it("has three healthy voters on https, found through the -ssl discovery records", async () => {
    const s = await status(lc.dir);
    expect(s.etcd.members).toHaveLength(3);
    expect(s.etcd.members.every((m) => m.healthy && !m.learner && m.peerUrl.startsWith("https://"))).toBe(
      true,
    );
    expect(s.etcd.members.filter((m) => m.leader)).toHaveLength(1);
    expect(s.dns.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        `_etcd-client-ssl._tcp.${lc.state.domain}.`,
        `_etcd-server-ssl._tcp.${lc.state.domain}.`,
      ]),
    );
    expect(s.dns.some((r) => r.name === `_etcd-client._tcp.${lc.state.domain}.`)).toBe(false);
  });

  it("announces the services through etcd-amb, and hello answers through the front door", async () => {
    const answer = await pollUntil(
      async () => {
        const s = await status(lc.dir);
        const door = s.services.find((x) => x.name === "nginx")?.instances.find((i) => i.healthy);
        if (!door || !s.services.some((x) => x.name === "hello" && x.instances.some((i) => i.healthy)))
          return;
        const a = await httpAsk({ address: door.address, port: 80 }, "/", {
          host: `hello.${lc.state.domain}`,
          signal: AbortSignal.timeout(10_000),
        }).catch(() => undefined);
        return a?.status === 200 ? a : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    expect(answer, answer ? "" : await diagnosis()).toBeDefined();
    expect(answer!.body).toMatch(/^hello from hello@1 on i-[0-9a-f]+/);
  }, 240_000);

  it("lets a worker's programs read /services/ and refuses them /cluster/ and another node's presence", async () => {
    const s = await status(lc.dir);
    const worker = s.nodes.find((n) => n.role === "worker" && n.up)!;
    // An instance some other node announces (the front door on the other worker, or any service there).
    const other = s.services
      .flatMap((x) => x.instances.map((i) => ({ service: x.name, ...i })))
      .find((i) => i.node && i.node !== worker.id);
    expect(other, other ? "" : `an instance announced by another node\n${await diagnosis()}`).toBeDefined();
    const root = await admin();
    // What any container on the worker reaches: its node's etcd-amb on the node's 127.0.0.1.
    const local = new Etcd3({ hosts: [etcdClientUrl(worker.address)], dialTimeout: 3000 });
    try {
      expect(await local.getAll().prefix("/services/").keys()).toContain(
        instanceKey(other!.service, other!.id),
      );
      await expect(local.getAll().prefix("/cluster/").keys()).rejects.toThrow(/permission denied/i);
      const key = `${instanceKey(other!.service, other!.id)}/port`;
      const before = await root.get(key).string();
      await expect(local.put(key).value("1")).rejects.toThrow(/permission denied/i);
      expect(await root.get(key).string()).toBe(before);
    } finally {
      local.close();
      root.close();
    }
  }, 120_000);

  it("refuses a client without a certificate on every member", async () => {
    const s = await status(lc.dir);
    const tls = (await localEtcdTls(lc.state))!;
    for (const n of s.nodes.filter((x) => x.role === "main")) {
      const plain = new Etcd3({ hosts: [etcdClientUrl(n.address)], dialTimeout: 1500 });
      const noCert = new Etcd3({
        hosts: [etcdTlsClientUrl(n.address)],
        dialTimeout: 1500,
        credentials: { rootCertificate: Buffer.from(tls.caPem) },
      });
      try {
        await expect(plain.get("/services/").string()).rejects.toThrow();
        await expect(noCert.get("/services/").string()).rejects.toThrow();
      } finally {
        plain.close();
        noCert.close();
      }
    }
  }, 120_000);

  it("takes a snapshot with the control plane's certificate (the snapshot function, its role's credentials)", async () => {
    const { fns } = await attach(lc.dir);
    const snap = (await fns.snapshot()) as { id?: string; keyCount?: number; source?: string };
    expect(snap.source).toMatch(/^https:\/\//);
    expect(snap.keyCount).toBeGreaterThan(0);
    expect((await status(lc.dir)).snapshots.map((x) => x.key)).toEqual(
      expect.arrayContaining([expect.stringContaining(snap.id!)]),
    );
  }, 120_000);

  it("publishes every node's unit states (etcdctl: the member on main nodes, etcd-amb elsewhere)", async () => {
    const s = await status(lc.dir);
    const root = await admin();
    try {
      const missing = await pollUntil(
        async () => {
          const left: string[] = [];
          for (const n of s.nodes)
            if ((await root.get(unitStatesKey(n.id)).string()) === null) left.push(n.id);
          return left.length ? undefined : left;
        },
        { timeoutMs: 90_000, intervalMs: 2000 },
      );
      expect(missing, missing ? "" : await diagnosis()).toEqual([]);
    } finally {
      root.close();
    }
  }, 120_000);
});
