// The double failure's recovery from the survivor: 3 main nodes, keys written, a main node killed and
// replaced, its replacement still a learner when a second voter dies (no quorum). Measured from the
// second kill: (1) `restore {"mode":"survivor"}` until it returns (the survivor serves alone, the
// replacement re-added and promoted: 2 healthy voters, quorum), (2) until the group has replaced the
// dead node too and all 3 main nodes are healthy voters (fault tolerance back). Every acknowledged
// key is checked after each run. Baseline in the same run: a snapshot restore after total loss of
// the same cluster (the path that loses what was written after the snapshot).
//   npx tsx bench/doubleFailure.ts [--runs 5] [--keys 200]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { TerminateInstanceInAutoScalingGroupCommand } from "@aws-sdk/client-auto-scaling";
import { Etcd3 } from "etcd3";
import { createEtcdSnapshotApi } from "../functions/adapters/etcd/snapshots.ts";
import { s3SnapshotStore } from "../functions/adapters/aws/s3Snapshots.ts";
import { parseConfig } from "../functions/domain/config.ts";
import { LearnerNotReadyError } from "../functions/domain/errors.ts";
import { etcdClientUrl } from "../functions/domain/model.ts";
import { formatStep } from "../functions/domain/reportCodes.ts";
import { layoutOf } from "../functions/domain/snapshots.ts";
import type { LifecycleDeps } from "../functions/operations/deps.ts";
import { handleLifecycle } from "../functions/operations/lifecycle.ts";
import { handleReconcile } from "../functions/operations/reconcile.ts";
import { rejoinMainNodes } from "../functions/operations/rejoin.ts";
import { restore } from "../functions/operations/restore.ts";
import { takeSnapshot } from "../functions/operations/snapshot.ts";
import { recoverFromSurvivor, type SurvivorDeps } from "../functions/operations/survivor.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { LOCAL_REGION, startMoto } from "../local/moto.ts";
import { killLocalNode, nodeDir, nodePids, stopNodeProcessesUnder } from "../local/node.ts";
import { createWorld } from "../test/integration/operations/lifecycleWorld.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { runs: { type: "string" }, keys: { type: "string" } } });
const RUNS = Number(values.runs ?? 5);
const KEYS = Number(values.keys ?? 200);
const out = (l: string) => process.stdout.write(l + "\n");
const sec = (ms: number) => (ms / 1000).toFixed(1);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const block = reserveLoopbackBlock();
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-df-"));
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
Object.assign(process.env, moto.env);
const w = await createWorld({ prefix: block.prefix, root: dir, name: `bdf${process.pid}` });
try {
  const bucket = `bench-df-${process.pid}`;
  await w.aws.s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      CreateBucketConfiguration: { LocationConstraint: LOCAL_REGION },
    }),
  );
  const cfg = parseConfig({
    CLUSTER_NAME: w.deps.clusterName,
    CLUSTER_DOMAIN: w.domain,
    PRIVATE_ZONE_ID: w.zoneId,
    SNAPSHOT_BUCKET: bucket,
    GROUP_MAIN: w.groups.main,
    GROUP_WORKER: w.groups.worker,
    GROUP_DATA: w.groups.data,
  });
  const base = {
    cfg,
    log: w.log,
    groups: w.deps.groups,
    etcd: createEtcdSnapshotApi(),
    store: s3SnapshotStore(w.aws.s3, bucket, layoutOf(cfg)),
    commands: w.deps.commands,
  };
  const survivor: SurvivorDeps = {
    ...base,
    rejoin: async (log, opts) => {
      const r = await rejoinMainNodes(w.deps, log, opts);
      const rec = await handleReconcile(w.deps, log, { recover: false });
      return { members: r.members, failed: [...r.failed, ...rec.failed.map(formatStep)] };
    },
  };
  const launch = async (id: string, deps: LifecycleDeps = w.deps) => {
    const r = await handleLifecycle(w.event("launch", "main", id), deps, w.log);
    if (r.result !== "CONTINUE") throw new Error(`launch ${id}: ${r.result}`);
  };
  const endpoints = async () =>
    Promise.all((await w.ids("main")).map(async (id) => etcdClientUrl(await w.ipOf(id))));
  const acked = new Map<string, string>();
  let seq = 0;
  const client = async () => new Etcd3({ hosts: await endpoints(), dialTimeout: 1500 });
  const write = async (n: number) => {
    const c = await client();
    try {
      for (let i = 0; i < n; i++) {
        const k = `/bench/acked/${String(++seq).padStart(6, "0")}`;
        await c.put(k).value(`v${seq}`);
        acked.set(k, `v${seq}`);
      }
    } finally {
      c.close();
    }
  };
  const checkKeys = async () => {
    const c = await client();
    try {
      const got = await c.getAll().prefix("/bench/acked/").strings();
      const missing = [...acked].filter(([k, v]) => got[k] !== v).length;
      if (missing) throw new Error(`${missing} acknowledged keys missing`);
    } finally {
      c.close();
    }
  };
  const replace = async (id: string) => {
    await killLocalNode(dir, id, "SIGKILL");
    await w.aws.autoscaling.send(
      new TerminateInstanceInAutoScalingGroupCommand({
        InstanceId: id,
        ShouldDecrementDesiredCapacity: false,
      }),
    );
    await handleLifecycle(w.event("terminate", "main", id), w.deps, w.log);
    const [fresh] = await w.scaleTo("main", 3);
    return fresh!;
  };
  const allVoters = async () => {
    const ms = await w.members();
    const ids = await w.ids("main");
    const healthy = await Promise.all((await endpoints()).map((e) => base.etcd.healthy(e, 2000)));
    return ms.length === 3 && ms.every((m) => !m.isLearner && ids.includes(m.name)) && healthy.every(Boolean);
  };
  // A learner that stays behind within its launch's budget (etcd refuses its promotion).
  const slow: LifecycleDeps = {
    ...w.deps,
    timing: { ...w.deps.timing, ownPromoteWaitMs: 300 },
    store: (e) => {
      const s = w.deps.store(e);
      return Object.assign(Object.create(s) as typeof s, {
        promote: async () => {
          throw new LearnerNotReadyError("bench: the learner is behind");
        },
      });
    },
  };

  await Promise.all((await w.scaleTo("main", 3)).map((id) => launch(id)));
  const recovered: number[] = [];
  const stepMs = new Map<string, number[]>();
  const whole: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    await write(KEYS);
    const [a, b] = await w.ids("main");
    const r = await replace(a!);
    await launch(r, slow);
    await write(10);
    await killLocalNode(dir, b!, "SIGKILL");
    const t = performance.now();
    const s = await recoverFromSurvivor(survivor, { mode: "survivor", confirm: cfg.CLUSTER_NAME });
    recovered.push(performance.now() - t);
    if (s.code !== "RECOVERED" || s.members.some((m) => m.isLearner) || s.members.length !== 2)
      throw new Error(`run ${run}: ${JSON.stringify(s)}`);
    for (const x of s.steps) stepMs.set(x.step, [...(stepMs.get(x.step) ?? []), x.ms]);
    await checkKeys();
    await launch(await replace(b!));
    while (!(await allVoters())) await new Promise((x) => setTimeout(x, 100));
    whole.push(performance.now() - t);
    await checkKeys();
    out(
      `run ${run}/${RUNS}: survivor recovery ${sec(recovered.at(-1)!)} s, all 3 voters ${sec(whole.at(-1)!)} s, ${acked.size} keys checked`,
    );
  }

  // Baseline: a snapshot restore after total loss of the same cluster, same machine, same run.
  const restores: number[] = [];
  for (let i = 0; i < Math.min(3, RUNS); i++) {
    await takeSnapshot({ ...base, metrics: { put: async () => {} } });
    for (const id of await w.ids("main"))
      for (const pid of nodePids(nodeDir(dir, id))) process.kill(pid, "SIGKILL");
    for (const e of await endpoints())
      while (await base.etcd.alive(e, 300)) await new Promise((x) => setTimeout(x, 50));
    const t = performance.now();
    await restore({ ...base, quorumTimeoutMs: 60_000 }, { snapshot: "latest", confirm: cfg.CLUSTER_NAME });
    restores.push(performance.now() - t);
    await checkKeys();
  }
  out("");
  out("| recovery step | median (s) |");
  out("| --- | --- |");
  for (const [step, ms] of stepMs) out(`| ${step} | ${sec(median(ms))} |`);
  out("");
  out(
    "| runs | keys | no quorum -> survivor recovered (2 voters), median / max (s) | -> all 3 voters (dead node replaced), median / max (s) | baseline: snapshot restore after total loss, median (s) | ratio (recovery / restore) |",
  );
  out("| --- | --- | --- | --- | --- | --- |");
  out(
    `| ${RUNS} | ${acked.size} | ${sec(median(recovered))} / ${sec(Math.max(...recovered))} | ${sec(median(whole))} / ${sec(Math.max(...whole))} | ${sec(median(restores))} | ${(median(recovered) / median(restores)).toFixed(2)} |`,
  );
} finally {
  w.close();
  await stopNodeProcessesUnder(dir);
  await moto.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
