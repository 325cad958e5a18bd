// The lifecycle and reconcile handlers against real etcd members (started through the local command
// runner, on loopback addresses moto gave the instances) and moto (groups, instances, Route 53).
import { nodeKey } from "../../../functions/domain/etcdKeys.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "@aws-sdk/client-route-53";
import { Etcd3 } from "etcd3";
import { handleLifecycle } from "../../../functions/operations/lifecycle.ts";
import { handleReconcile } from "../../../functions/operations/reconcile.ts";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import { etcdClientUrl, type NodeRecord, type Role } from "../../../functions/domain/model.ts";
import { useRig } from "../../rig/index.ts";
import { createWorld, type World } from "./lifecycleWorld.ts";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { nodeDir } from "../../../local/node.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import {
  CONTROL_PLANE_USER,
  createClientCertificate,
  createClusterCa,
} from "../../../functions/domain/pki.ts";
import { NODE_PKI_DIR } from "../../../functions/domain/nodeTls.ts";
import type { ClusterPki } from "../../../functions/ports/pki.ts";
import type { Commands } from "../../../functions/ports/index.ts";
import type { UnitsHook } from "../../../functions/operations/deps.ts";
import { cachedStores } from "../../../functions/runtime/wiring.ts";
import { etcdClusterStore } from "../../../functions/adapters/etcd/clusterStore.ts";

const rig = useRig({ moto: true, etcdMembers: 0 });
let w: World;

const launch = (role: Role, id: string) => handleLifecycle(w.event("launch", role, id), w.deps, w.log);
const terminate = (role: Role, id: string) => handleLifecycle(w.event("terminate", role, id), w.deps, w.log);

async function registry(): Promise<Map<string, NodeRecord>> {
  const ips = await Promise.all((await w.ids("main")).map(w.ipOf));
  const c = new Etcd3({ hosts: ips.map(etcdClientUrl) });
  try {
    const all = await c.getAll().prefix("/cluster/nodes/").strings();
    return new Map(
      Object.values(all).map((v) => [(JSON.parse(v) as NodeRecord).instanceId, JSON.parse(v) as NodeRecord]),
    );
  } finally {
    c.close();
  }
}

/** etcd members, the registry and Route 53 match the groups. */
async function expectConsistent(opts: { learnersOk?: boolean } = {}) {
  const main = await w.ids("main");
  const workers = await w.ids("worker");
  const members = await w.members();
  expect(members.map((m) => m.name || "(unstarted)").sort()).toEqual(main);
  if (!opts.learnersOk) expect(members.filter((m) => m.isLearner)).toEqual([]);
  const reg = await registry();
  const liveIds = [...main, ...workers].sort();
  expect(
    [...reg.values()]
      .filter((r) => r.state !== "gone")
      .map((r) => r.instanceId)
      .sort(),
  ).toEqual(liveIds);
  for (const id of main) expect(reg.get(id)?.role).toBe("main");
  const recs = await w.records();
  const aNames = recs
    .filter((r) => r.type === "A")
    .map((r) => r.name)
    .sort();
  expect(aNames).toEqual(liveIds.map((id) => `${id}.${w.domain}.`).sort());
  for (const id of liveIds) {
    const a = recs.find((r) => r.name === `${id}.${w.domain}.`)!;
    expect(a.values).toEqual([await w.ipOf(id)]);
  }
  const voters = members
    .filter((m) => !m.isLearner)
    .map((m) => m.name)
    .sort();
  const client = recs.find((r) => r.type === "SRV" && r.name.startsWith("_etcd-client._tcp."));
  expect(client?.values).toEqual(voters.map((id) => `0 0 2379 ${id}.${w.domain}.`).sort());
  const server = recs.find((r) => r.type === "SRV" && r.name.startsWith("_etcd-server._tcp."));
  expect(server?.values.length).toBe(members.filter((m) => m.name).length);
}

beforeAll(async () => {
  w = await createWorld({ prefix: rig.block.prefix, root: rig.dir, name: rig.unique("lc") });
}, 60_000);
afterAll(() => w?.close());

// One scenario (no quorum last: it kills two voters): each test starts from the state the one before it left (kept in order under --sequence.shuffle).
describe("lifecycle", { shuffle: false }, () => {
  it("gives instances loopback addresses inside the rig's block", async () => {
    const [id] = await w.scaleTo("worker", 1);
    expect(await w.ipOf(id!)).toMatch(new RegExp(`^${rig.block.prefix.replace(/\./g, "\\.")}\\.\\d+$`));
  });

  it("bootstraps one cluster from 3 main launches in any order", async () => {
    const ids = await w.scaleTo("main", 3);
    expect(ids).toHaveLength(3);
    // Reverse order, the last two at the same time.
    const r1 = await launch("main", ids[2]!);
    const [r2, r3] = await Promise.all([launch("main", ids[0]!), launch("main", ids[1]!)]);
    for (const r of [r1, r2, r3]) expect(r.result, JSON.stringify(r)).toBe("CONTINUE");
    // Worker launched in the first test before a cluster existed: its launch now registers it.
    const [worker] = await w.ids("worker");
    expect((await launch("worker", worker!)).result).toBe("CONTINUE");
    const members = await w.members();
    expect(members).toHaveLength(3);
    await expectConsistent();
  }, 90_000);

  it("a worker's certificate is issued beside its registration and units push, and is on the node when the launch answers; a failed certificate fails the launch", async () => {
    const ca = await createClusterCa("lc", new Date());
    const pki: ClusterPki = {
      ca: async () => ca,
      controlPlaneClient: async () => ({
        ...(await createClientCertificate(ca, CONTROL_PLANE_USER, new Date())),
        caPem: ca.certPem,
      }),
    };
    const pushed: string[] = [];
    const certOnNode = (id: string) => existsSync(join(nodeDir(w.root, id), NODE_PKI_DIR, "node.crt"));
    const units = {
      onLaunch: async (rec: NodeRecord) => {
        pushed.push(rec.instanceId);
      },
    } as unknown as UnitsHook;
    // One worker exists already: these two are new.
    const [ok, failing] = await w.scaleTo("worker", 3);
    const r = await handleLifecycle(w.event("launch", "worker", ok!), { ...w.deps, pki, units }, w.log);
    expect(r.result, JSON.stringify(r)).toBe("CONTINUE");
    expect(r.steps.map((x) => x.code)).toEqual(
      expect.arrayContaining(["LC_NODE_CERTIFICATE", "LC_UNITS_PUSHED"]),
    );
    expect(pushed).toEqual([ok]);
    expect(certOnNode(ok!)).toBe(true);

    // The node cannot make its key: the launch is abandoned (the push beside it ran; terminating
    // the abandoned instance moves its units elsewhere).
    const commands: Commands = {
      ...w.deps.commands,
      run: async (req) =>
        req.comment === "devcluster etcd key and CSR"
          ? req.instanceIds.map((instanceId) => ({
              instanceId,
              status: "Failed",
              exitCode: 1,
              stdout: "",
              stderr: "openssl: no entropy",
            }))
          : w.deps.commands.run(req),
    };
    const bad = await handleLifecycle(
      w.event("launch", "worker", failing!),
      { ...w.deps, pki, units, commands },
      w.log,
    );
    expect(bad.result, JSON.stringify(bad)).toBe("ABANDON");
    expect(JSON.stringify(bad)).toMatch(/openssl: no entropy/);
    expect(certOnNode(failing!)).toBe(false);
    // Terminating the abandoned instance (what Auto Scaling does next) leaves the cluster consistent.
    // The next tests start from one worker, as before this one.
    for (const id of [failing!, ok!]) {
      await w.terminate("worker", id);
      expect((await terminate("worker", id)).result).toBe("CONTINUE");
    }
    await expectConsistent();
  }, 90_000);

  it("grows 3 -> 5 and shrinks 5 -> 3 through launch and terminate events", async () => {
    const fresh = await w.scaleTo("main", 5);
    expect(fresh).toHaveLength(2);
    for (const id of fresh) {
      const r = await launch("main", id);
      expect(r.result, JSON.stringify(r)).toBe("CONTINUE");
      // Each launch promotes its own learner: no reconcile runs here.
      expect(
        r.steps.map((s) => s.code),
        JSON.stringify(r),
      ).toContain("LC_LEARNER_PROMOTED");
      expect((await w.members()).filter((m) => m.isLearner)).toEqual([]);
    }
    await expectConsistent();
    expect(await w.members()).toHaveLength(5);

    for (const id of (await w.ids("main")).slice(0, 2)) {
      await w.terminate("main", id);
      const r = await terminate("main", id);
      expect(r.result).toBe("CONTINUE");
      expect(r.leftovers, JSON.stringify(r)).toEqual([]);
      await expectConsistent();
    }
    expect(await w.members()).toHaveLength(3);
  }, 180_000);

  it("treats duplicate, late and reordered events like a clean run", async () => {
    const [a, b] = await w.scaleTo("worker", 3);
    // Duplicates, concurrently.
    await Promise.all([launch("worker", a!), launch("worker", a!), launch("worker", b!)]);
    await expectConsistent();
    // Terminate arrives, then a late duplicate launch for the same instance: it stays gone.
    await w.terminate("worker", b!);
    expect((await terminate("worker", b!)).result).toBe("CONTINUE");
    // The group lists it no more: refused, nothing changed, the (long gone) action not completed.
    const late = await launch("worker", b!);
    expect(late.result, JSON.stringify(late)).toBe("REFUSED");
    expect(late.error).toMatch(/is not in group/);
    expect(late.steps.map((s) => s.code)).toEqual(["LC_REFUSED"]);
    expect((await terminate("worker", b!)).result).toBe("CONTINUE");
    await expectConsistent();
    // Two main launches at once (one learner at a time), then the duplicate terminate of one of them.
    const [m1, m2] = await w.scaleTo("main", 5);
    const rs = await Promise.all([launch("main", m1!), launch("main", m2!)]);
    for (const r of rs) expect(r.result, JSON.stringify(r)).toBe("CONTINUE");
    await eventually(async () => {
      await handleReconcile(w.deps, w.log);
      await expectConsistent();
    });
    expect(await w.members()).toHaveLength(5);
    for (const id of [m1!, m2!]) {
      await w.terminate("main", id);
      const rs = await Promise.all([terminate("main", id), terminate("main", id)]);
      for (const r of rs) expect(r.leftovers, JSON.stringify(r)).toEqual([]);
    }
    await expectConsistent();
    expect(await w.members()).toHaveLength(3);
  }, 180_000);

  it("kills a member's process, then terminates its node", async () => {
    const [victim] = await w.ids("main");
    const { killLocalNode } = await import("../../../local/node.ts");
    await killLocalNode(w.root, victim!, "SIGKILL");
    await w.terminate("main", victim!);
    const r = await terminate("main", victim!);
    expect(r.result).toBe("CONTINUE");
    // 3 voters, one dead: removing the dead one leaves 2 of 2 healthy.
    expect(r.steps.find((s) => s.code === "LC_MEMBER_REMOVED")?.detail, JSON.stringify(r)).toMatch(/^\d+$/);
    await expectConsistent();
    // Back to 3: the replacement's launch alone restores fault tolerance (3 healthy voters), no reconcile.
    const [fresh] = await w.scaleTo("main", 3);
    const l = await launch("main", fresh!);
    expect(l.result, JSON.stringify(l)).toBe("CONTINUE");
    const members = await w.members();
    expect(
      members
        .filter((m) => !m.isLearner)
        .map((m) => m.name)
        .sort(),
    ).toEqual(await w.ids("main"));
    await expectConsistent();
  }, 120_000);

  it("refuses forged events against real etcd and moto: nothing changed, nothing completed", async () => {
    // Runs on whatever cluster the file's earlier tests left, or forms one.
    if ((await w.ids("main")).length < 3)
      for (const id of await w.scaleTo("main", 3)) await launch("main", id);
    if ((await w.ids("worker")).length < 1)
      for (const id of await w.scaleTo("worker", 1)) await launch("worker", id);
    const mains = await w.ids("main");
    const [worker] = await w.ids("worker");
    const state = async () =>
      JSON.stringify({
        members: (await w.members()).sort((a, b) => a.id.localeCompare(b.id)),
        registry: [...(await registry()).entries()].sort(),
        records: await w.records(),
        completions: w.actions.completions.length,
      });
    const before = await state();
    const forged = [
      // A healthy voter's terminate, named in the worker group (it removed a voter before).
      handleLifecycle(w.event("terminate", "worker", mains[0]!), w.deps, w.log),
      // The same voter's terminate in its own group while it is InService.
      handleLifecycle(w.event("terminate", "main", mains[1]!), w.deps, w.log),
      // A main node's launch named in the worker group (it turned a main node into a worker before).
      handleLifecycle(w.event("launch", "worker", mains[2]!), w.deps, w.log),
      // A worker's launch named in another cluster's group.
      handleLifecycle(
        {
          ...w.event("launch", "worker", worker!),
          detail: {
            ...w.event("launch", "worker", worker!).detail,
            AutoScalingGroupName: "another-cluster-worker",
          },
        },
        w.deps,
        w.log,
      ),
    ];
    const reports = await Promise.all(forged);
    for (const r of reports) {
      expect(r.result, JSON.stringify(r)).toBe("REFUSED");
      expect(r.steps.map((s) => s.code)).toEqual(["LC_REFUSED"]);
    }
    expect(reports.map((r) => r.error)).toEqual([
      expect.stringMatching(/is in group .*-main, not .*-worker/),
      expect.stringMatching(/is InService in .*-main: no termination is under way/),
      expect.stringMatching(/is in group .*-main, not .*-worker/),
      expect.stringMatching(/group another-cluster-worker is not one of this cluster's groups/),
    ]);
    expect(await state()).toBe(before);
    await expectConsistent();
  }, 60_000);

  it("answers a terminate for a node etcd never knew, a launch for a missing instance, a malformed event", async () => {
    const r = await terminate("worker", "i-0123456789abcdef0");
    expect(r.result).toBe("CONTINUE");
    expect(r.steps.map((s) => s.code)).toContain("LC_NOT_MEMBER");
    // An instance no group of the cluster lists: refused, nothing registered, nothing completed.
    const completed = w.actions.completions.length;
    const l = await launch("worker", "i-0fedcba9876543210");
    expect(l.result).toBe("REFUSED");
    expect(l.error).toMatch(/instance i-0fedcba9876543210 is not in group/);
    expect(w.actions.completions.length).toBe(completed);
    await expect(
      handleLifecycle({ "detail-type": "EC2 Instance-launch Lifecycle Action", detail: {} }, w.deps, w.log),
    ).rejects.toBeInstanceOf(InvalidInputError);
    const bad = w.event("launch", "worker", "i-0fedcba9876543210");
    (bad.detail as Record<string, unknown>).EC2InstanceId = "not-an-id";
    await expect(handleLifecycle(bad, w.deps, w.log)).rejects.toThrow(/EC2InstanceId/);
    await expectConsistent();
  }, 60_000);

  it("reconcile repairs a corrupted state: extra member, missing record, stale learner, stale registry", async () => {
    const ips = await Promise.all((await w.ids("main")).map(w.ipOf));
    const c = new Etcd3({ hosts: ips.map(etcdClientUrl) });
    try {
      // An extra member for an address no instance has (a stale learner that never started)...
      // (etcd refuses changes for 5 s after a member joined: retry.)
      await eventually(async () => {
        await c.cluster.memberAdd({ peerURLs: [`http://${rig.block.prefix}.250:2380`], isLearner: true });
      });
      // ...a registry entry for a node that does not exist, and a dropped registry entry.
      await c.put(nodeKey("i-00000000000000bad")).value(
        JSON.stringify({
          instanceId: "i-00000000000000bad",
          role: "worker",
          group: w.groups.worker,
          zone: "",
          privateIp: `${rig.block.prefix}.251`,
          state: "active",
          updatedAt: "",
        }),
      );
    } finally {
      c.close();
    }
    // A missing A record and a stale one.
    await dropWorkerARecord([
      {
        Action: "UPSERT",
        ResourceRecordSet: {
          Name: `i-0000000000000dead.${w.domain}.`,
          Type: "A",
          TTL: 60,
          ResourceRecords: [{ Value: "127.0.0.9" }],
        },
      },
    ]);
    const report = await handleReconcile(w.deps, w.log);
    expect(report.failed).toEqual([]);
    expect(report.repairs.map((r) => r.code)).toContain("RC_MEMBER_REMOVED");
    expect(report.repairs).toContainEqual({ code: "RC_MARKED_GONE", detail: "i-00000000000000bad" });
    expect(report.dnsChanges).toBeGreaterThanOrEqual(2);
    await expectConsistent();
    // Converged: a second run has nothing to do.
    const again = await handleReconcile(w.deps, w.log);
    expect(again.repairs).toEqual([]);
  }, 90_000);

  it("reconcile brings back a main node whose member was removed while it lived on: its old data dir is moved aside, not deleted", async () => {
    // What a forged terminate used to do: remove a healthy voter's member and leave its node running.
    const id = (await w.ids("main")).at(-1)!;
    const ips = await Promise.all((await w.ids("main")).map(w.ipOf));
    const c = new Etcd3({ hosts: ips.map(etcdClientUrl) });
    try {
      const member = (await w.members()).find((m) => m.name === id)!;
      // A removal retried after one that was applied but answered late finds no member: done.
      await eventually(async () => {
        await c.cluster.memberRemove({ ID: member.id }).catch((e: unknown) => {
          if (!/member not found/i.test(String(e))) throw e;
        });
        expect((await w.members()).some((m) => m.name === id)).toBe(false);
      });
    } finally {
      c.close();
    }
    const dir = nodeDir(w.root, id);
    const moved = () => readdirSync(join(dir, "var/lib")).filter((f) => f.startsWith("etcd.removed-"));
    expect(moved()).toEqual([]);
    // Each run adds it as a learner and starts it, or promotes it once it caught up. Before the data
    // dir was moved aside, etcd started from it as the removed member and exited, every run. Polled:
    // a learner's catch-up and promotion take a few runs under load, so the bound is generous.
    const back = await pollUntil(
      async () => {
        await handleReconcile(w.deps, w.log);
        const m = (await w.members()).find((x) => x.name === id);
        return m && !m.isLearner ? m : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(back, `${id} is a voter again`).toBeDefined();
    expect(moved()).toHaveLength(1);
    // The old data is kept whole, beside the new member's.
    expect(existsSync(join(dir, "var/lib", moved()[0]!, "member/snap/db"))).toBe(true);
    expect(existsSync(join(dir, "var/lib/etcd/member/snap/db"))).toBe(true);
    await eventually(() => expectConsistent());
  }, 150_000);

  describe("reconcile with a step that fails", () => {
    it("when the catalog is invalid, it still reports the repairs done before the units step, reports the failure and logs it", async () => {
      // Drift for the rounds and the DNS sync to repair: a registry entry for a node that does not exist,
      // and a worker's A record gone.
      const ips = await Promise.all((await w.ids("main")).map(w.ipOf));
      const c = new Etcd3({ hosts: ips.map(etcdClientUrl) });
      const ghost = "i-0000000000000bad2";
      try {
        await c.put(nodeKey(ghost)).value(
          JSON.stringify({
            instanceId: ghost,
            role: "worker",
            group: w.groups.worker,
            zone: "",
            privateIp: `${rig.block.prefix}.252`,
            state: "active",
            updatedAt: "",
          }),
        );
      } finally {
        c.close();
      }
      await dropWorkerARecord();
      // The units step reads a catalog with two problems in one file.
      const { unitsHook } = await import("../../../functions/operations/unitsHook.ts");
      const { etcdPlacementStore } = await import("../../../functions/adapters/etcd/placementStore.ts");
      const placementClient = new Etcd3({ hosts: ips.map(etcdClientUrl) });
      const logged: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
      const recording = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
        logged.push({ level, msg, ...(fields ? { fields } : {}) });
      const log = {
        info: recording("info"),
        warn: recording("warn"),
        error: recording("error"),
        child: () => log,
      };
      const deps = {
        ...w.deps,
        units: unitsHook({
          commands: w.deps.commands,
          placements: () => etcdPlacementStore(placementClient),
          catalog: () => ({ "web.service": "[Unit]\nnonsense\n[Service]\nExecStart=/bin/web %z\n" }),
        }),
      };
      try {
        const report = await handleReconcile(deps, log);
        // What was repaired before the failure is reported...
        expect(report.repairs).toContainEqual({ code: "RC_MARKED_GONE", detail: ghost });
        expect(report.repairs).toContainEqual({ code: "RC_DNS_SYNCED", detail: "1" });
        expect(report.dnsChanges).toBe(1);
        // ...and the failure, coded, with every problem of the catalog.
        expect(report.failed).toEqual([
          {
            code: "RC_UNITS_PUSHED",
            detail:
              "invalid unit catalog: web.service:2: missing '=' in 'nonsense'; web.service:4: unknown specifier %z in ExecStart= (write %% for a literal %)",
          },
        ]);
        const error = logged.find((l) => l.level === "error" && l.msg === "reconcile: step failed");
        expect(error?.fields).toMatchObject({ step: "RC_UNITS_PUSHED" });
        expect(error?.fields?.error).toBeInstanceOf(InvalidInputError);
        const done = logged.find((l) => l.msg === "reconcile done");
        expect(done?.fields).toMatchObject({ failed: report.failed, repairs: report.repairs });
      } finally {
        placementClient.close();
      }
      // The repairs stuck: the state is consistent again.
      await expectConsistent();
    }, 90_000);
    it("when the re-push changes a node's units, reconcile lists what each node changed, and nothing once converged", async () => {
      const { unitsHook } = await import("../../../functions/operations/unitsHook.ts");
      const { etcdPlacementStore } = await import("../../../functions/adapters/etcd/placementStore.ts");
      const ips = await Promise.all((await w.ids("main")).map(w.ipOf));
      const placementClient = new Etcd3({ hosts: ips.map(etcdClientUrl) });
      const deps = {
        ...w.deps,
        units: unitsHook({
          commands: w.deps.commands,
          placements: () => etcdPlacementStore(placementClient),
          catalog: () => ({
            "tick.service":
              "[Unit]\nDescription=tick\n[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineMetadata=role=worker\n",
          }),
        }),
      };
      try {
        const workers = await w.ids("worker");
        expect(workers.length).toBeGreaterThan(0);
        const report = await handleReconcile(deps, w.log);
        expect(report.failed).toEqual([]);
        expect(report.repairs.filter((r) => r.code === "RC_UNITS_PUSHED")).toEqual(
          workers.map((id) => ({
            code: "RC_UNITS_PUSHED",
            detail: `${id}: wrote tick.service; started tick.service`,
          })),
        );
        const again = await handleReconcile(deps, w.log);
        expect(again.repairs).toEqual([]);
      } finally {
        placementClient.close();
      }
    }, 60_000);
  });

  describe("no quorum", () => {
    it("members answer but no leader: reconcile exits cleanly with ETCD_NO_QUORUM and raises the alarm", async () => {
      const mains = await w.ids("main");
      expect(mains).toHaveLength(3);
      const { killLocalNode } = await import("../../../local/node.ts");
      // Two of three voters die: the survivor answers the member list but has no leader.
      for (const id of mains.slice(0, 2)) await killLocalNode(w.root, id, "SIGKILL");
      // The state under test: the survivor answers but reports no leader (it may take an election
      // timeout to notice, longer on a loaded machine).
      const survivorUrl = etcdClientUrl(await w.ipOf(mains[2]!));
      const leaderless = await pollUntil(
        async () => {
          const res = await fetch(`${survivorUrl}/health`, { signal: AbortSignal.timeout(5000) }).catch(
            () => null,
          );
          if (!res) return undefined; // not answering is not the state under test
          const body = (await res.json().catch(() => ({}))) as { health?: unknown };
          return String(body.health) === "true" ? undefined : true;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(leaderless, "the survivor still reports a leader 20 s after the kill").toBe(true);
      // Probes given time to answer on a loaded machine (1.5 s by default): a member list that times
      // out reads as "no member answers", another case (total loss: totalLoss.test.ts).
      const stores = cachedStores(undefined, (e) =>
        etcdClusterStore({ endpoints: e, probeTimeoutMs: 10_000 }),
      );
      const alarms: unknown[] = [];
      const deps = {
        ...w.deps,
        store: stores,
        timing: { ...w.deps.timing, noQuorumGraceMs: 1000 },
        noQuorum: async (_log: unknown, detail: unknown) => {
          alarms.push(detail);
        },
      };
      const report = await handleReconcile(deps, w.log).finally(() => stores.closeAll());
      expect(report.code).toBe("ETCD_NO_QUORUM");
      expect(report.blocked.find((b) => b.code === "RC_NO_QUORUM")?.detail).toMatch(
        /^0 of 3 voters healthy, need 2/,
      );
      expect(report.repairs).toEqual([]);
      expect(report.failed).toEqual([]);
      expect(alarms).toEqual([{ members: expect.arrayContaining(mains), healthy: [], need: 2 }]);
    }, 60_000);
  });

  /** DNS drift for reconcile to repair: one worker's A record deleted, plus `also` in the same batch. */
  async function dropWorkerARecord(also: Change[] = []) {
    const { ChangeResourceRecordSetsCommand } = await import("@aws-sdk/client-route-53");
    const [anyWorker] = await w.ids("worker");
    const a = (await w.records()).find((r) => r.name === `${anyWorker}.${w.domain}.`)!;
    await w.route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: w.zoneId,
        ChangeBatch: {
          Changes: [
            {
              Action: "DELETE",
              ResourceRecordSet: {
                Name: a.name,
                Type: "A",
                TTL: 60,
                ResourceRecords: a.values.map((Value) => ({ Value })),
              },
            },
            ...also,
          ],
        },
      }),
    );
  }

  async function eventually(fn: () => Promise<void>, timeoutMs = 30_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
});
