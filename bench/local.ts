// The local cluster on this machine: 3 main + 2 workers.
// - `up`: from the command to a healthy cluster with every node registered (goal <= 30 s);
// - total loss: from `kill --all-main` to a healthy restored cluster (restore latest, every key
//   verified), with the restore function's own step timings, against the same done by hand on the
//   same nodes (download the snapshot, `etcdctl snapshot restore` on each node in parallel, start the
//   members, wait healthy, verify every key);
// - the whole demo (goal <= 3 min).
//   npx tsx bench/local.ts [--runs 3] [--keys 1000]
import { execFile } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import type { Readable } from "node:stream";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Etcd3 } from "etcd3";
import { parseEnvFile } from "../functions/domain/etcdEnv.ts";
import { etcdClientUrl, etcdPeerUrl } from "../functions/domain/model.ts";
import { RESTORE_CODES } from "../functions/domain/reportCodes.ts";
import { attach, down, killAllMain, status, up } from "../local/cluster/cluster.ts";
import { runDemo } from "../local/cluster/demo.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { nodeDir, stopNodeProcessesUnder } from "../local/node.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { waitUntil } from "../local/processes.ts";
import type { RestoreSummary } from "../functions/operations/restore.ts";
import { median, out, quiet, sec } from "./lib.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const sh = promisify(execFile);
const { values } = parseArgs({ options: { runs: { type: "string" }, keys: { type: "string" } } });
const RUNS = Number(values.runs ?? 3);
const KEYS = Number(values.keys ?? 1000);
const key = (i: number) => `/bench/key-${String(i).padStart(6, "0")}`;

async function mains(dir: string) {
  return (await status(dir)).nodes.filter((n) => n.role === "main");
}

async function writeKeys(endpoints: string[]) {
  const c = new Etcd3({ hosts: endpoints });
  try {
    for (let i = 0; i < KEYS; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, KEYS - i) }, (_, j) => c.put(key(i + j)).value(`value-${i + j}`)),
      );
    }
  } finally {
    c.close();
  }
}

async function verifyKeys(endpoints: string[]) {
  const c = new Etcd3({ hosts: endpoints, dialTimeout: 2000 });
  try {
    const got = await c.getAll().prefix("/bench/").strings();
    for (let i = 0; i < KEYS; i++)
      if (got[key(i)] !== `value-${i}`) throw new Error(`key ${key(i)} is missing or wrong after restore`);
  } finally {
    c.close();
  }
}

async function waitMembersHealthy(endpoints: string[]) {
  await waitUntil(
    "every member healthy",
    async () => {
      const ok = await Promise.all(
        endpoints.map(async (e) => {
          const res = await fetch(`${e}/health`, { signal: AbortSignal.timeout(1000) });
          return res.ok && ((await res.json()) as { health?: string }).health === "true";
        }),
      );
      return ok.every(Boolean);
    },
    60_000,
    50,
  );
}

/** The baseline: what an operator would type on each main node, run on all three at once. */
async function restoreByHand(
  dir: string,
  bucket: string,
  dataKey: string,
  nodes: { id: string; address: string }[],
) {
  const file = join(dir, "by-hand.db");
  const obj = await new S3Client({ forcePathStyle: true }).send(
    new GetObjectCommand({ Bucket: bucket, Key: dataKey }),
  );
  await pipeline(obj.Body as Readable, createWriteStream(file));
  const token = `by-hand-${Date.now()}`;
  await Promise.all(
    nodes.map(async (n) => {
      const root = nodeDir(dir, n.id);
      const env = parseEnvFile(readFileSync(join(root, "etc/etcd/etcd.env"), "utf8"));
      const dataDir = env.ETCD_DATA_DIR!;
      const script = `set -euo pipefail
systemctl stop etcd-member.service
rm -rf "${dataDir}.by-hand"; mv "${dataDir}" "${dataDir}.by-hand"
etcdctl snapshot restore "${file}" --name ${env.ETCD_NAME} --initial-cluster "${env.ETCD_INITIAL_CLUSTER}" \\
  --initial-cluster-token ${token} --initial-advertise-peer-urls ${etcdPeerUrl(n.address)} --data-dir "${dataDir}" >/dev/null 2>&1
sed -i 's/^ETCD_INITIAL_CLUSTER_TOKEN=.*/ETCD_INITIAL_CLUSTER_TOKEN="${token}"/' "$ROOT/etc/etcd/etcd.env"
systemctl start etcd-member.service`;
      await sh("bash", ["-c", script], {
        cwd: root,
        env: {
          ...process.env,
          ROOT: root,
          ETCDCTL_API: "3",
          PATH: `${join(PROJECT_ROOT, "local/bin")}:${join(root, "opt/bin")}:${process.env.PATH}`,
        },
      });
    }),
  );
}

interface Run {
  up: number;
  kill: number; // kill --all-main returns (every member dead)
  restore: number; // kill --all-main -> restore returns
  restoreTotal: number; // kill --all-main -> healthy + every key verified
  hand: number;
  demo: number;
  steps: RestoreSummary["steps"];
}

const block = reserveLocalClusterPrefix();
const base = mkdtempSync(join(tmpdir(), "devcluster-bench-local-"));
const runs: Run[] = [];
try {
  out(
    `local cluster bench: 3 main + 2 workers, ${KEYS} keys, ${RUNS} run(s), loopback ${block.prefix}.0.0/16`,
  );
  for (let r = 0; r < RUNS; r++) {
    const dir = join(base, `run-${r}`);
    let t = performance.now();
    await up(dir, { main: 3, workers: 2, data: 0, prefix: block.prefix }, quiet);
    const upMs = performance.now() - t;

    const endpoints = (await mains(dir)).map((n) => etcdClientUrl(n.address));
    await writeKeys(endpoints);
    const { state, fns } = await attach(dir);
    const snap = (await fns.snapshot()) as { dataKey: string };

    // devcluster: kill --all-main, then restore latest until healthy with every key back.
    t = performance.now();
    await killAllMain(dir, quiet);
    const killMs = performance.now() - t;
    const summary = (await fns.restore({ snapshot: "latest", confirm: state.clusterName })) as RestoreSummary;
    const restoreMs = performance.now() - t; // includes the kill
    const after = (await mains(dir)).map((n) => etcdClientUrl(n.address));
    await waitMembersHealthy(after);
    await verifyKeys(after);
    const restoreTotal = performance.now() - t;

    // By hand, on the same nodes: kill --all-main, download, etcdctl snapshot restore x3, start, verify.
    const nodes = await mains(dir);
    t = performance.now();
    await killAllMain(dir, quiet);
    await restoreByHand(dir, state.bucket, snap.dataKey, nodes);
    await waitMembersHealthy(after);
    await verifyKeys(after);
    const hand = performance.now() - t;
    await down(dir, quiet);

    t = performance.now();
    const code = await runDemo(join(base, `demo-${r}`), quiet, quiet, { prefix: block.prefix });
    const demo = performance.now() - t;
    if (code !== 0) throw new Error(`demo failed in run ${r + 1}`);

    runs.push({ up: upMs, kill: killMs, restore: restoreMs, restoreTotal, hand, demo, steps: summary.steps });
    out(
      `run ${r + 1}: up ${sec(upMs)} s; kill --all-main -> restored+verified ${sec(restoreTotal)} s (kill ${sec(killMs)} s, restore ${sec(restoreMs - killMs)} s); by hand ${sec(hand)} s; demo ${sec(demo)} s`,
    );
  }

  const row = (what: string, xs: number[], goal: string) =>
    `| ${what} | ${sec(median(xs))} s | ${xs.map(sec).join(", ")} | ${goal} |`;
  out("");
  out("| measure (3 main + 2 workers) | median | runs (s) | goal |");
  out("|---|---|---|---|");
  out(
    row(
      "`up` to a healthy cluster",
      runs.map((x) => x.up),
      "<= 30 s",
    ),
  );
  out(
    row(
      "`kill --all-main` -> restored, every key verified",
      runs.map((x) => x.restoreTotal),
      "-",
    ),
  );
  out(
    row(
      "  of which `kill --all-main` itself (SIGKILL, wait for exit)",
      runs.map((x) => x.kill),
      "-",
    ),
  );
  out(
    row(
      "  of which the restore function",
      runs.map((x) => x.restore - x.kill),
      "-",
    ),
  );
  out(
    row(
      "same by hand (download, etcdctl snapshot restore x3, start, verify)",
      runs.map((x) => x.hand),
      "baseline",
    ),
  );
  out(
    row(
      "whole demo (up ... down)",
      runs.map((x) => x.demo),
      "<= 180 s",
    ),
  );
  out("");
  out(
    `restore / by hand: ${(median(runs.map((x) => x.restoreTotal)) / median(runs.map((x) => x.hand))).toFixed(2)}x`,
  );
  out("");
  out("restore function steps (median ms over runs):");
  const codes = runs[0]!.steps.map((s) => s.code);
  for (const c of codes) {
    const ms = runs.map((x) => x.steps.find((s) => s.code === c)?.ms ?? 0);
    out(
      `  ${c.padEnd(22)} ${RESTORE_CODES[c].padEnd(68)} ${String(Math.round(median(ms))).padStart(6)}  (${ms.join(", ")})`,
    );
  }
} finally {
  for (let r = 0; r < RUNS; r++) {
    await down(join(base, `run-${r}`), quiet).catch(() => {});
    await down(join(base, `demo-${r}`), quiet).catch(() => {});
  }
  await stopNodeProcessesUnder(base);
  block.release();
  rmSync(base, { recursive: true, force: true });
}
process.exit(0);
