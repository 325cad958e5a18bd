// Losing a second main node right after the first one's replacement, end to end (real etcd members on
// local nodes, moto's groups, the local command runner): the cluster either keeps quorum or is
// recovered from its most up-to-date survivor, and every write a client was told succeeded is still
// there. Also: two main launches right after a snapshot restore both join.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { TerminateInstanceInAutoScalingGroupCommand } from "@aws-sdk/client-auto-scaling";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEtcdSnapshotApi } from "../../../functions/adapters/etcd/snapshots.ts";
import { s3SnapshotStore } from "../../../functions/adapters/aws/s3Snapshots.ts";
import type { SnapshotStore } from "../../../functions/ports/snapshots.ts";
import { formatStep } from "../../../functions/domain/reportCodes.ts";
import { LearnerNotReadyError } from "../../../functions/domain/errors.ts";
import { etcdClientUrl } from "../../../functions/domain/model.ts";
import { layoutOf } from "../../../functions/domain/snapshots.ts";
import { handleLifecycle } from "../../../functions/operations/lifecycle.ts";
import { handleReconcile } from "../../../functions/operations/reconcile.ts";
import { rejoinMainNodes } from "../../../functions/operations/rejoin.ts";
import { restore } from "../../../functions/operations/restore.ts";
import { takeSnapshot } from "../../../functions/operations/snapshot.ts";
import {
  recoverFromSurvivor,
  recoverIfNoQuorum,
  type SurvivorDeps,
} from "../../../functions/operations/survivor.ts";
import type { LifecycleDeps } from "../../../functions/operations/deps.ts";
import { killLocalNode, nodeDir, nodePids, writeNodeAwsEnv } from "../../../local/node.ts";
import { awsEnvFor } from "../../../local/moto.ts";
import { useRig } from "../../rig/index.ts";
import { createWorld, type World } from "./lifecycleWorld.ts";
import { createBucket, testConfig } from "./snapshotCluster.ts";

const rig = useRig({ moto: true, etcdMembers: 0 });
let w: World;
let sdeps: SurvivorDeps & { store: SnapshotStore };
/** Every key a put returned for, with its value: what must survive. */
const acked = new Map<string, string>();
let seq = 0;

const launch = (id: string, deps: LifecycleDeps = w.deps) =>
  handleLifecycle(w.event("launch", "main", id), deps, w.log);

async function endpoints() {
  return Promise.all((await w.ids("main")).map(async (id) => etcdClientUrl(await w.ipOf(id))));
}

/** Write `n` keys; only those etcd acknowledged are recorded. */
async function write(n: number) {
  const c = new Etcd3({ hosts: await endpoints(), dialTimeout: 1500 });
  try {
    for (let i = 0; i < n; i++) {
      const key = `/test/acked/${String(++seq).padStart(5, "0")}`;
      const value = `v${seq}-${Date.now()}`;
      await c.put(key).value(value);
      acked.set(key, value);
    }
  } finally {
    c.close();
  }
}

async function expectEveryAckedKey() {
  const c = new Etcd3({ hosts: await endpoints(), dialTimeout: 1500 });
  try {
    const got = await c.getAll().prefix("/test/acked/").strings();
    const missing = [...acked].filter(([k, v]) => got[k] !== v).map(([k]) => k);
    expect(missing).toEqual([]);
    expect(Object.keys(got).length).toBe(acked.size);
  } finally {
    c.close();
  }
}

/** The machine dies and the group replaces it (no decrement): returns the replacement's id. */
async function replace(id: string): Promise<string> {
  await killLocalNode(w.root, id, "SIGKILL");
  await w.aws.autoscaling.send(
    new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: id, ShouldDecrementDesiredCapacity: false }),
  );
  const terminated = await handleLifecycle(w.event("terminate", "main", id), w.deps, w.log);
  expect(terminated.result).toBe("CONTINUE");
  const [fresh] = await w.scaleTo("main", (await w.ids("main")).length);
  expect(fresh).toBeDefined();
  return fresh!;
}

async function expectAllVoters(n: number) {
  const ms = await w.members();
  expect(
    ms
      .filter((m) => !m.isLearner)
      .map((m) => m.name)
      .sort(),
  ).toEqual((await w.ids("main")).sort());
  expect(ms).toHaveLength(n);
}

beforeAll(async () => {
  w = await createWorld({ prefix: rig.block.prefix, root: rig.dir, name: rig.unique("df") });
  const bucket = rig.unique("df-snap").toLowerCase();
  await createBucket(w.aws, bucket);
  const cfg = testConfig({
    SNAPSHOT_BUCKET: bucket,
    GROUP_MAIN: w.groups.main,
    CLUSTER_NAME: w.deps.clusterName,
    AUTO_RESTORE: true,
  });
  sdeps = {
    cfg,
    log: w.log,
    groups: w.deps.groups,
    etcd: createEtcdSnapshotApi(),
    store: s3SnapshotStore(w.aws.s3, bucket, layoutOf(cfg)),
    commands: w.deps.commands,
    healthTimeoutMs: 30_000,
    rejoin: async (log, opts) => {
      const r = await rejoinMainNodes(w.deps, log, { ...opts, deadlineMs: 60_000 });
      const rec = await handleReconcile(w.deps, log, { recover: false });
      return { members: r.members, failed: [...r.failed, ...rec.failed.map(formatStep)] };
    },
  };
  w.deps.recoverNoQuorum = async (log) => {
    const out = await recoverIfNoQuorum({ ...sdeps, log });
    return out.action === "recovered"
      ? { action: out.action, survivor: out.summary.survivor?.instanceId }
      : { action: out.action, reason: out.reason };
  };
  w.deps.timing = { ...w.deps.timing, noQuorumGraceMs: 1000 };
  const mains = await w.scaleTo("main", 3);
  await Promise.all(mains.map((id) => launch(id)));
  await expectAllVoters(3);
}, 120_000);
afterAll(() => w?.close());

// One scenario, in order: each step starts from the cluster the one before left (3 main nodes, the
// keys written so far); the restore comes last because it grows the group to 5.
describe(
  "a second main node dies right after the first one's replacement launched",
  { shuffle: false },
  () => {
    it("with the replacement promoted by its own launch, the cluster keeps quorum and every key", async () => {
      await write(40);
      const [a, b] = await w.ids("main");
      const r = await replace(a!);
      await write(10);
      const report = await launch(r);
      expect(report.result).toBe("CONTINUE");
      await killLocalNode(w.root, b!, "SIGKILL");
      // No reconcile, no promotion check: 2 of 3 voters are left and they serve.
      await write(10);
      await expectEveryAckedKey();
      const b2 = await replace(b!);
      expect((await launch(b2)).result).toBe("CONTINUE");
      await expectAllVoters(3);
      await expectEveryAckedKey();
    }, 120_000);

    it("with the replacement still a learner, reconcile recovers from the survivor (AUTO_RESTORE) with every key", async () => {
      await write(30);
      const [a, b, c] = await w.ids("main");
      const r = await replace(a!);
      await write(10);
      // The replacement has not caught up within its launch's budget (etcd refuses its promotion),
      // so it is still a learner when the second voter dies: 1 of 2 voters left, no quorum.
      const slow: LifecycleDeps = {
        ...w.deps,
        timing: { ...w.deps.timing, ownPromoteWaitMs: 300 },
        store: (e) => {
          const s = w.deps.store(e);
          return Object.assign(Object.create(s) as typeof s, {
            promote: async () => {
              throw new LearnerNotReadyError("test: the learner is behind");
            },
          });
        },
      };
      expect((await launch(r, slow)).result).toBe("CONTINUE");
      expect((await w.members()).find((m) => m.name === r)?.isLearner).toBe(true);
      await killLocalNode(w.root, b!, "SIGKILL");

      const report = await handleReconcile(w.deps, w.log);
      expect(report.code).toBe("ETCD_NO_QUORUM");
      expect(report.repairs).toContainEqual({ code: "RC_SURVIVOR_RECOVERED", detail: c });
      // The survivor and the re-added replacement are voters; the dead node is still in the group.
      const ms = await w.members();
      expect(ms.map((m) => [m.name, m.isLearner]).sort()).toEqual(
        [
          [c, false],
          [r, false],
        ].sort(),
      );
      await expectEveryAckedKey();
      // Nothing was deleted: the survivor kept a copy, the replacement's data was moved aside.
      expect(
        readdirSync(join(nodeDir(w.root, c!), "var/lib")).some((d) => d.startsWith("etcd.before-recovery-")),
      ).toBe(true);
      expect(
        readdirSync(join(nodeDir(w.root, r), "var/lib")).some((d) => d.startsWith("etcd.before-recovery-")),
      ).toBe(true);
      await write(5);

      // The group replaces the dead node; the cluster is whole again.
      const b2 = await replace(b!);
      expect((await launch(b2)).result).toBe("CONTINUE");
      await expectAllVoters(3);
      await expectEveryAckedKey();
    }, 180_000);

    it("recovery from the survivor by hand is refused with a healthy quorum, changes nothing, and is safe twice at once", async () => {
      const before = await w.members();
      const [one, two] = await Promise.all([
        recoverFromSurvivor(sdeps, { mode: "survivor", confirm: w.deps.clusterName }),
        recoverFromSurvivor(sdeps, { mode: "survivor", confirm: w.deps.clusterName }),
      ]);
      expect([one.code, two.code]).toEqual(["HAS_QUORUM", "HAS_QUORUM"]);
      expect(await w.members()).toEqual(before);
      await expect(recoverFromSurvivor(sdeps, { mode: "survivor", confirm: "other" })).rejects.toThrow(
        /does not match the cluster name/,
      );
      await expect(
        recoverFromSurvivor(sdeps, { mode: "survivor", confirm: w.deps.clusterName, x: 1 }),
      ).rejects.toThrow(/invalid recovery input/);
    }, 60_000);

    it("two recoveries started together: one recovers, the other finds the lock or quorum; every key is there", async () => {
      await write(20);
      const [a, b] = await w.ids("main");
      await killLocalNode(w.root, a!, "SIGKILL");
      await killLocalNode(w.root, b!, "SIGKILL");
      const runs = await Promise.allSettled([
        recoverFromSurvivor(sdeps, { mode: "survivor", confirm: w.deps.clusterName }),
        recoverFromSurvivor(sdeps, { mode: "survivor", confirm: w.deps.clusterName }),
      ]);
      const codes = runs.map((x) =>
        x.status === "fulfilled" ? x.value.code : (x.reason as Error).constructor.name,
      );
      expect(codes.filter((x) => x === "RECOVERED")).toHaveLength(1);
      expect(codes.filter((x) => x !== "RECOVERED")[0]).toMatch(/^(HAS_QUORUM|LockBusyError)$/);
      await expectEveryAckedKey();
      for (const id of [a!, b!]) expect((await launch(await replace(id))).result).toBe("CONTINUE");
      await expectAllVoters(3);
      await expectEveryAckedKey();
    }, 180_000);

    it("two main launches within a second of a snapshot restore both join (no ABANDON)", async () => {
      await write(10);
      const snap = await takeSnapshot({ ...sdeps, metrics: { put: async () => {} } });
      expect(snap.keyCount).toBeGreaterThan(0);
      for (const id of await w.ids("main"))
        for (const pid of nodePids(nodeDir(w.root, id))) process.kill(pid, "SIGKILL");
      for (const e of await endpoints())
        await expect.poll(() => sdeps.etcd.alive(e, 300), { timeout: 5000 }).toBe(false);
      // The nodes fetch the snapshot as the node role, which reads the cluster's snapshot data only.
      const nodeRole = await rig.roleCredentials([
        {
          Effect: "Allow",
          Action: ["s3:GetObject"],
          Resource: `arn:aws:s3:::${sdeps.store.bucket}/etcd-snapshots/${w.deps.clusterName}/data/*`,
        },
      ]);
      for (const id of await w.ids("main"))
        writeNodeAwsEnv(w.root, id, awsEnvFor(rig.moto!.endpoint, nodeRole));
      await restore({ ...sdeps }, { snapshot: "latest", confirm: w.deps.clusterName });
      const t = Date.now();
      const fresh = await w.scaleTo("main", 5);
      expect(fresh).toHaveLength(2);
      const reports = await Promise.all(fresh.map((id) => launch(id)));
      expect(Date.now() - t).toBeLessThan(120_000);
      expect(reports.map((r) => r.result)).toEqual(["CONTINUE", "CONTINUE"]);
      // Both are members (the second may have waited for the first's promotion).
      await expect
        .poll(async () => (await w.members()).map((m) => m.name).filter((n) => fresh.includes(n)).length, {
          timeout: 30_000,
        })
        .toBe(2);
      expect(existsSync(join(nodeDir(w.root, fresh[0]!), "var/lib/etcd/member"))).toBe(true);
    }, 180_000);
  },
);
