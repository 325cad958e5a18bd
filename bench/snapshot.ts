// Snapshot and restore bench, each against the bare etcd tools, in one run on the same data:
// - snapshot: devcluster's snapshot -> S3 (moto) vs `etcdctl snapshot save` + upload of the file;
//   throughput ratio, and the peak RSS of the process taking the snapshot (a child process);
// - total-loss restore of 3 members, from the command to a healthy cluster with every key verified,
//   vs the same steps by hand (`etcdctl snapshot restore` on each node, start etcd, wait, verify).
//   npx tsx bench/snapshot.ts [--keys 100000] [--value 1000] [--rounds 2]
import { execFile, spawn } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { Upload } from "@aws-sdk/lib-storage";
import { Etcd3 } from "etcd3";
import { createAwsClients } from "../functions/adapters/aws/clients.ts";
import { awsGroups } from "../functions/adapters/aws/groups.ts";
import { cloudwatchMetrics } from "../functions/adapters/aws/cloudwatchMetrics.ts";
import { createEtcdSnapshotApi } from "../functions/adapters/etcd/snapshots.ts";
import { createLocalCommands } from "../local/commands.ts";
import { DEFAULT_UPLOAD_TUNING, s3SnapshotStore } from "../functions/adapters/aws/s3Snapshots.ts";
import { createLogger } from "../functions/runtime/log.ts";
import { etcdClientUrl, etcdPeerUrl } from "../functions/domain/model.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { nodeDir, nodePids, stopNodeProcessesUnder } from "../local/node.ts";
import { ETCDCTL_BIN, PROJECT_ROOT } from "../local/paths.ts";
import { waitUntil } from "../local/processes.ts";
import { restore, type RestoreDeps } from "../functions/operations/restore.ts";
import { layoutOf } from "../functions/operations/snapshot.ts";
import {
  createBucket,
  createMainGroup,
  loopbackSubnet,
  startClusterOnNodes,
  testConfig,
  valueFor,
} from "../test/integration/operations/snapshotCluster.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
const sh = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const sec = (ms: number) => (ms / 1000).toFixed(2);

const KEYS = arg("keys", 100_000);
const VALUE = arg("value", 1000);
const ROUNDS = arg("rounds", 2);
const self = fileURLToPath(import.meta.url);

const block = reserveLoopbackBlock();
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-snap-"));
const root = join(dir, "cluster");
const lines: string[] = [];
const out = (l: string) => {
  lines.push(l);
  console.log(l);
};

async function loadData(endpoints: string[]) {
  const client = new Etcd3({ hosts: endpoints });
  try {
    for (let i = 0; i < KEYS; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, KEYS - i) }, (_, j) =>
          client.put(`/data/${String(i + j).padStart(7, "0")}`).value(valueFor(i + j, VALUE)),
        ),
      );
    }
  } finally {
    client.close();
  }
}

/** Every key back with its value: paged reads, compared with what was loaded. */
async function verifyAll(endpoints: string[]) {
  const client = new Etcd3({
    hosts: endpoints,
    grpcOptions: { "grpc.max_receive_message_length": 64 * 1024 * 1024 },
  });
  try {
    let n = 0;
    let from = "/data/";
    // Page by key range: [from, "/data0") in batches of 10,000.
    for (;;) {
      const res = await client.kv.range({
        key: Buffer.from(from),
        range_end: Buffer.from("/data0"),
        limit: "10000",
      });
      for (const kv of res.kvs) {
        const k = kv.key.toString();
        const expected = valueFor(Number(k.slice(6)), VALUE);
        if (kv.value.toString() !== expected) throw new Error(`key ${k}: wrong value`);
        n++;
      }
      if (!res.more || res.kvs.length === 0) break;
      from = res.kvs[res.kvs.length - 1]!.key.toString() + "\0";
    }
    if (n !== KEYS) throw new Error(`verified ${n} keys, expected ${KEYS}`);
    return n;
  } finally {
    client.close();
  }
}

async function killAll(ids: string[], endpoints: string[]) {
  for (const id of ids)
    for (const pid of nodePids(nodeDir(root, id))) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  const api = createEtcdSnapshotApi();
  for (const e of endpoints) await waitUntil(`${e} down`, async () => !(await api.alive(e, 300)), 10_000, 50);
}

async function waitHealthy(endpoints: string[]) {
  const api = createEtcdSnapshotApi();
  await Promise.all(endpoints.map((e) => waitUntil(`${e} healthy`, () => api.healthy(e, 1000), 120_000, 50)));
}

/**
 * The snapshot child runs from an esbuild bundle, as the Lambda does (tsx's in-process compiler would
 * add ~100 MB). ESM with code splitting, so the EC2 client (only for the group fallback) stays in a
 * chunk loaded on demand: in one flat file V8 still pre-parses it, which costs ~16 MB at start.
 */
async function bundleChild(): Promise<string> {
  // Under the project so that `etcd3` (external: a Lambda layer in production) resolves from node_modules.
  childDir = join(PROJECT_ROOT, ".build", "bench", `snapshot-child-${process.pid}`);
  const { build } = await import("esbuild");
  await build({
    entryPoints: [join(dirname(self), "snapshotChild.ts")],
    bundle: true,
    splitting: true,
    platform: "node",
    target: "node20",
    format: "esm",
    outdir: childDir,
    outExtension: { ".js": ".mjs" },
    logLevel: "error",
    external: ["etcd3"],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return join(childDir, "snapshotChild.mjs");
}
let childFile = "";
let childDir = "";

function childSnapshot(
  env: Record<string, string>,
  endpoint: string,
): Promise<{ ms: number; size: number; maxRss: number; rssBefore: number; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [childFile, endpoint], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`child exited ${code}: ${stdout}`));
      resolve({ ...JSON.parse(stdout.trim().split("\n").pop()!), wallMs: performance.now() - t0 });
    });
  });
}

try {
  const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
  Object.assign(process.env, moto.env);
  const aws = createAwsClients();
  const cluster = "benchsnap";
  const bucket = "bench-snapshots";
  const group = "bench-main";
  await createBucket(aws, bucket);
  const subnetId = await loopbackSubnet(aws, block.prefix, 64);
  const nodes = await createMainGroup(aws, { name: group, cluster, subnetId, size: 3 });
  const ids = nodes.map((n) => n.instanceId);
  const endpoints = nodes.map((n) => etcdClientUrl(n.privateIp));
  await startClusterOnNodes(root, nodes, "bench-token");
  let t = performance.now();
  await loadData(endpoints);
  const api = createEtcdSnapshotApi();
  const st = (await api.status(endpoints[0]!))!;
  out(
    `data: ${KEYS} keys of ${VALUE} B loaded in ${sec(performance.now() - t)} s; etcd database ${mb(st.dbSize)} MiB; 3 members on loopback`,
  );
  // Snapshot from a follower in both cases (devcluster picks one; the baseline is told the same one).
  const statuses = await Promise.all(endpoints.map((e) => api.status(e)));
  const follower = statuses.find((s) => s && s.memberId !== s.leader)!.endpoint;

  const cfg = testConfig({
    SNAPSHOT_BUCKET: bucket,
    GROUP_MAIN: group,
    CLUSTER_NAME: cluster,
    RETAIN_LAST: 50,
  });
  const childEnv = {
    CLUSTER_NAME: cluster,
    CLUSTER_DOMAIN: cfg.CLUSTER_DOMAIN,
    PRIVATE_ZONE_ID: cfg.PRIVATE_ZONE_ID,
    SNAPSHOT_BUCKET: bucket,
    GROUP_MAIN: group,
    GROUP_WORKER: "w",
    GROUP_DATA: "d",
    DEVCLUSTER_LOG: "silent",
    // As the snapshot function's environment should set it: a small young generation makes V8 collect
    // the stream's short-lived buffers sooner (measured: ~35 MB less peak RSS on this data).
    NODE_OPTIONS: "--max-semi-space-size=1",
  };

  // ---- snapshot ----
  childFile = await bundleChild();
  const base: { ms: number; save: number; up: number; size: number }[] = [];
  const ours: Awaited<ReturnType<typeof childSnapshot>>[] = [];
  const file = join(dir, "etcdctl.db");
  for (let r = 0; r < ROUNDS; r++) {
    rmSync(file, { force: true });
    t = performance.now();
    await sh(ETCDCTL_BIN, ["--endpoints", follower, "snapshot", "save", file], {
      env: { ...process.env, ETCDCTL_API: "3" },
    });
    const save = performance.now() - t;
    const t2 = performance.now();
    await new Upload({
      client: aws.s3,
      params: { Bucket: bucket, Key: `baseline/etcdctl-${r}.db`, Body: createReadStream(file) }, // lib-storage, as a by-hand upload would
      partSize: DEFAULT_UPLOAD_TUNING.partSize,
      queueSize: DEFAULT_UPLOAD_TUNING.queueSize,
    }).done();
    const up = performance.now() - t2;
    base.push({ ms: save + up, save, up, size: statSync(file).size });
    ours.push(await childSnapshot(childEnv, follower));
  }
  const best = <T>(xs: T[], f: (x: T) => number) => xs.reduce((a, b) => (f(b) < f(a) ? b : a));
  const b = best(base, (x) => x.ms);
  const o = best(ours, (x) => x.ms);
  const bThr = b.size / (b.ms / 1000);
  const oThr = o.size / (o.ms / 1000);
  out(`snapshot size: ${mb(o.size)} MiB (etcdctl file ${mb(b.size)} MiB)`);
  out(
    `baseline etcdctl snapshot save + upload: ${sec(b.ms)} s (save ${sec(b.save)} s + upload ${sec(b.up)} s) = ${mb(bThr)} MiB/s; runs: ${base.map((x) => sec(x.ms)).join(", ")} s`,
  );
  out(
    `devcluster snapshot -> S3 (stream, SHA-256, manifest): ${sec(o.ms)} s = ${mb(oThr)} MiB/s; runs: ${ours.map((x) => sec(x.ms)).join(", ")} s`,
  );
  out(`throughput ratio devcluster / baseline: ${(oThr / bThr).toFixed(2)}x (goal >= 0.8x)`);
  out(
    `peak RSS of the snapshot process (members from the discovery record): ${mb(Math.max(...ours.map((x) => x.maxRss)))} MiB (goal <= 150 MB); RSS after loading modules, before the snapshot: ${mb(ours[0]!.rssBefore)} MiB`,
  );
  const defaultGc = await childSnapshot({ ...childEnv, NODE_OPTIONS: "" }, follower);
  out(
    `peak RSS without NODE_OPTIONS=--max-semi-space-size=1: ${mb(defaultGc.maxRss)} MiB; ${sec(defaultGc.ms)} s`,
  );
  const viaGroup = await childSnapshot(childEnv, "group");
  out(
    `peak RSS when the members come from the main group instead (loads the EC2 client): ${mb(viaGroup.maxRss)} MiB; ${sec(viaGroup.ms)} s`,
  );

  // ---- total-loss restore ----
  const deps: RestoreDeps = {
    cfg,
    log: createLogger(),
    groups: awsGroups(aws),
    etcd: api,
    store: s3SnapshotStore(aws.s3, bucket, layoutOf(cfg)),
    commands: createLocalCommands({ root }),
    metrics: cloudwatchMetrics(aws.cloudwatch, cfg.METRIC_NAMESPACE, cluster),
    quorumTimeoutMs: 120_000,
  };
  const handTimes: number[] = [];
  const ourTimes: { total: number; restore: number; verify: number; steps: string }[] = [];
  const initialCluster = nodes.map((n) => `${n.instanceId}=${etcdPeerUrl(n.privateIp)}`).join(",");
  for (let r = 0; r < ROUNDS; r++) {
    // By hand: on each node (in parallel, as three shells would), stop etcd, move the data aside,
    // `etcdctl snapshot restore` the file saved above, point the settings at the new token, start etcd;
    // then wait for health and verify every key.
    await killAll(ids, endpoints);
    t = performance.now();
    const token = `hand-${r}-${Date.now()}`;
    const cmds = createLocalCommands({ root });
    const res = await Promise.all(
      nodes.map((n) =>
        cmds
          .run({
            instanceIds: [n.instanceId],
            comment: "by hand",
            script: `set -euo pipefail
systemctl stop etcd-member.service
mv "$ROOT/var/lib/etcd" "$ROOT/var/lib/etcd.hand-${r}-${Date.now()}"
etcdctl snapshot restore ${file} --name ${n.instanceId} --initial-cluster ${initialCluster} --initial-cluster-token ${token} --initial-advertise-peer-urls ${etcdPeerUrl(n.privateIp)} --data-dir "$ROOT/var/lib/etcd" >/dev/null 2>&1
sed -i 's/^ETCD_INITIAL_CLUSTER_TOKEN=.*/ETCD_INITIAL_CLUSTER_TOKEN="${token}"/' "$ROOT/etc/etcd/etcd.env"
systemctl start etcd-member.service`,
          })
          .then((x) => x[0]!),
      ),
    );
    for (const x of res)
      if (x.status !== "Success") throw new Error(`by hand on ${x.instanceId}: ${x.stderr}`);
    await waitHealthy(endpoints);
    await verifyAll(endpoints);
    handTimes.push(performance.now() - t);

    await killAll(ids, endpoints);
    t = performance.now();
    const s = await restore(deps, { snapshot: "latest", confirm: cluster });
    const tr = performance.now() - t;
    await verifyAll(endpoints);
    const total = performance.now() - t;
    ourTimes.push({
      total,
      restore: tr,
      verify: total - tr,
      steps: s.steps.map((x) => `${x.code} ${x.ms}`).join("; "),
    });
  }
  const h = Math.min(...handTimes);
  const d = best(ourTimes, (x) => x.total);
  out(
    `total-loss restore by hand (etcdctl snapshot restore x3 in parallel, start, wait healthy, verify ${KEYS} keys): ${sec(h)} s; runs: ${handTimes.map(sec).join(", ")} s`,
  );
  out(
    `total-loss restore by devcluster (command -> healthy cluster, every key verified): ${sec(d.total)} s (restore ${sec(d.restore)} s + verify ${sec(d.verify)} s); runs: ${ourTimes.map((x) => sec(x.total)).join(", ")} s`,
  );
  out(`  steps (ms): ${d.steps}`);
  out(`restore time ratio devcluster / by hand: ${(d.total / h).toFixed(2)}x (goal <= 1.5x)`);
  await moto.stop();
} finally {
  await stopNodeProcessesUnder(dir);
  if (childDir) rmSync(childDir, { recursive: true, force: true });
  block.release();
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
