// A seeded random walk over the cluster's life (scale main 3 <-> 5, kill worker and main nodes and let
// the group replace them, write keys, take snapshots), each step through the real handlers against
// real etcd members, moto and node directories. After every step: etcd's members are exactly the main
// group's instances, all voters and healthy; the registry and Route 53 match the groups; every key a
// client was told was written is there with its value. The seed is printed; DEVCLUSTER_RANDOM_SEED
// replays a run, DEVCLUSTER_RANDOM_STEPS makes a longer one (npm test runs a few).
import { TerminateInstanceInAutoScalingGroupCommand } from "@aws-sdk/client-auto-scaling";
import { Etcd3 } from "etcd3";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEtcdSnapshotApi } from "../../../functions/adapters/etcd/snapshots.ts";
import { s3SnapshotStore } from "../../../functions/adapters/aws/s3Snapshots.ts";
import { etcdClientUrl, type NodeRecord, type Role } from "../../../functions/domain/model.ts";
import { layoutOf } from "../../../functions/domain/snapshots.ts";
import { handleLifecycle } from "../../../functions/operations/lifecycle.ts";
import { takeSnapshot, type SnapshotDeps } from "../../../functions/operations/snapshot.ts";
import { killLocalNode } from "../../../local/node.ts";
import { useRig } from "../../rig/index.ts";
import { createWorld, type World } from "./lifecycleWorld.ts";
import { createBucket, testConfig } from "./snapshotCluster.ts";

const SEED = process.env.DEVCLUSTER_RANDOM_SEED
  ? Number(process.env.DEVCLUSTER_RANDOM_SEED)
  : Math.floor(Math.random() * 2 ** 31);
const STEPS = Number(process.env.DEVCLUSTER_RANDOM_STEPS ?? 20);

const KINDS = ["write", "snapshot", "scale-main", "kill-main", "kill-worker"] as const;
type Kind = (typeof KINDS)[number];

const rig = useRig({ moto: true, etcdMembers: 0 });
let w: World;
let snapshots: SnapshotDeps;
const acked = new Map<string, string>();
let seq = 0;

const launch = async (role: Role, id: string) => {
  const r = await handleLifecycle(w.event("launch", role, id), w.deps, w.log);
  expect(r.result, `launch ${role} ${id}: ${JSON.stringify(r.steps)}`).toBe("CONTINUE");
};
const terminate = async (role: Role, id: string) => {
  const r = await handleLifecycle(w.event("terminate", role, id), w.deps, w.log);
  expect(r.result).toBe("CONTINUE");
};

async function endpoints() {
  return Promise.all((await w.ids("main")).map(async (id) => etcdClientUrl(await w.ipOf(id))));
}

async function withClient<T>(fn: (c: Etcd3) => Promise<T>): Promise<T> {
  const c = new Etcd3({ hosts: await endpoints(), dialTimeout: 1500 });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** The machine dies (SIGKILL) and its group replaces it, each event through the handler. */
async function replace(role: Role, id: string) {
  await killLocalNode(w.root, id, "SIGKILL");
  await w.aws.autoscaling.send(
    new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: id, ShouldDecrementDesiredCapacity: false }),
  );
  await terminate(role, id);
  const fresh = await w.scaleTo(role, (await w.ids(role)).length);
  for (const f of fresh) await launch(role, f);
}

async function step(kind: Kind, pick: number) {
  switch (kind) {
    case "write":
      await withClient(async (c) => {
        for (let i = 0; i < 5 + (pick % 20); i++) {
          const key = `/test/random/${String(++seq).padStart(6, "0")}`;
          const value = `${SEED}-${seq}`;
          await c.put(key).value(value);
          acked.set(key, value);
        }
      });
      return;
    case "snapshot": {
      const s = await takeSnapshot(snapshots);
      expect(s.keyCount).toBeGreaterThanOrEqual(acked.size);
      return;
    }
    case "scale-main": {
      const now = await w.ids("main");
      if (now.length === 3) {
        const fresh = await w.scaleTo("main", 5);
        // Launch events arrive together, as they do from a group that grew by two.
        await Promise.all(fresh.map((id) => launch("main", id)));
      } else {
        for (const id of now.filter((_, i) => (i + pick) % now.length < 2)) {
          await w.terminate("main", id);
          await terminate("main", id);
        }
      }
      return;
    }
    case "kill-main": {
      const ids = await w.ids("main");
      await replace("main", ids[pick % ids.length]!);
      return;
    }
    case "kill-worker": {
      const ids = await w.ids("worker");
      await replace("worker", ids[pick % ids.length]!);
      return;
    }
  }
}

async function expectInvariants(where: string) {
  const main = await w.ids("main");
  const workers = await w.ids("worker");
  const members = await w.members();
  expect(members.map((m) => m.name).sort(), `${where}: members = main group`).toEqual(main);
  expect(
    members.filter((m) => m.isLearner),
    `${where}: no learner left`,
  ).toEqual([]);
  for (const e of await endpoints())
    expect(await snapshots.etcd.healthy(e, 3000), `${where}: ${e} healthy`).toBe(true);

  const registry = await withClient(async (c) =>
    Object.values(await c.getAll().prefix("/cluster/nodes/").strings()).map(
      (v) => JSON.parse(v) as NodeRecord,
    ),
  );
  const live = [...main, ...workers].sort();
  expect(
    registry
      .filter((r) => r.state !== "gone")
      .map((r) => r.instanceId)
      .sort(),
    `${where}: registry = groups`,
  ).toEqual(live);
  expect(registry.filter((r) => r.state !== "gone" && r.state !== "active")).toEqual([]);

  const recs = await w.records();
  const a = recs.filter((r) => r.type === "A");
  expect(a.map((r) => r.name).sort(), `${where}: A records = registry`).toEqual(
    live.map((id) => `${id}.${w.domain}.`).sort(),
  );
  for (const r of registry.filter((x) => x.state !== "gone"))
    expect(a.find((x) => x.name === `${r.instanceId}.${w.domain}.`)?.values).toEqual([r.privateIp]);
  const client = recs.find((r) => r.type === "SRV" && r.name.startsWith("_etcd-client._tcp."));
  expect(client?.values, `${where}: client discovery = members`).toEqual(
    main.map((id) => `0 0 2379 ${id}.${w.domain}.`).sort(),
  );

  const got = await withClient((c) => c.getAll().prefix("/test/random/").strings());
  const missing = [...acked].filter(([k, v]) => got[k] !== v).map(([k]) => k);
  expect(missing, `${where}: acknowledged keys`).toEqual([]);
}

beforeAll(async () => {
  console.log(
    `randomized cluster test: seed ${SEED}, ${STEPS} steps (DEVCLUSTER_RANDOM_SEED=${SEED} replays it)`,
  );
  w = await createWorld({ prefix: rig.block.prefix, root: rig.dir, name: rig.unique("rnd") });
  const bucket = rig.unique("rnd-snap").toLowerCase();
  await createBucket(w.aws, bucket);
  const cfg = testConfig({
    SNAPSHOT_BUCKET: bucket,
    GROUP_MAIN: w.groups.main,
    CLUSTER_NAME: w.deps.clusterName,
  });
  snapshots = {
    cfg,
    log: w.log,
    groups: w.deps.groups,
    etcd: createEtcdSnapshotApi(),
    store: s3SnapshotStore(w.aws.s3, bucket, layoutOf(cfg)),
    metrics: { put: async () => {} },
  };
  const mains = await w.scaleTo("main", 3);
  await Promise.all(mains.map((id) => launch("main", id)));
  for (const id of await w.scaleTo("worker", 2)) await launch("worker", id);
}, 120_000);
afterAll(() => w?.close());

describe(`randomized cluster life (seed ${SEED})`, () => {
  it(
    `keeps its invariants over ${STEPS} random steps`,
    async () => {
      const plan = fc.sample(fc.tuple(fc.constantFrom(...KINDS), fc.nat()), { seed: SEED, numRuns: STEPS });
      await expectInvariants("start");
      for (const [i, [kind, pick]] of plan.entries()) {
        const where = `seed ${SEED} step ${i + 1}/${STEPS} ${kind}`;
        const t = Date.now();
        await step(kind, pick);
        await expectInvariants(where);
        console.log(`${where}: ok (${Date.now() - t} ms; ${acked.size} keys)`);
      }
    },
    60_000 + STEPS * 30_000,
  );
});
