// Fault tolerance after losing a main node, on the local cluster: from `kill <main-id>` to every main
// node a healthy voter again (no learner, no reconcile run), median and max over N kills, with 3 and
// 5 main nodes (goal <= 10 s). Baseline in the same run: `kill <worker-id>` (the same lifecycle path
// without etcd membership), so the ratio is what the etcd join and promotion add.
//   npx tsx bench/faultTolerance.ts [--kills 20] [--mains 3,5]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { down, kill, status, up } from "../local/cluster/cluster.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { sleep } from "../functions/domain/poll.ts";
import { median, out, quiet, sec } from "./lib.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { kills: { type: "string" }, mains: { type: "string" } } });
const KILLS = Number(values.kills ?? 20);
const MAINS = (values.mains ?? "3,5").split(",").map(Number);

/** Every main node is a started, healthy voter, and there are exactly as many members. */
async function faultTolerant(dir: string, mains: number): Promise<boolean> {
  const s = await status(dir);
  const nodes = s.nodes.filter((n) => n.role === "main");
  const voters = s.etcd.members.filter((m) => m.name && !m.learner && m.healthy);
  return (
    nodes.length === mains &&
    s.etcd.members.length === mains &&
    voters.length === mains &&
    nodes.every((n) => voters.some((v) => v.name === n.id))
  );
}

async function timeKill(dir: string, role: "main" | "worker", mains: number): Promise<number> {
  const s = await status(dir);
  const leader = s.etcd.members.find((m) => m.leader)?.name;
  // Alternate leader and follower kills: a leader kill includes an election.
  const candidates = s.nodes.filter((n) => n.role === role);
  const victim = candidates.find((n) => n.id !== leader) ?? candidates[0]!;
  const t = performance.now();
  await kill(dir, victim.id, quiet);
  for (;;) {
    if (role === "worker" || (await faultTolerant(dir, mains))) return performance.now() - t;
    if (performance.now() - t > 120_000)
      throw new Error(`no fault tolerance 120 s after killing ${victim.id}`);
    await sleep(100);
  }
}

const block = reserveLocalClusterPrefix();
const base = mkdtempSync(join(tmpdir(), "devcluster-bench-ft-"));
const rows: string[] = [];
try {
  for (const mains of MAINS) {
    const dir = join(base, `main-${mains}`);
    await up(dir, { main: mains, workers: 1, data: 0, prefix: block.prefix }, quiet);
    try {
      const worker: number[] = [];
      for (let i = 0; i < Math.min(5, KILLS); i++) worker.push(await timeKill(dir, "worker", mains));
      const main: number[] = [];
      for (let i = 0; i < KILLS; i++) {
        main.push(await timeKill(dir, "main", mains));
        out(`${mains} mains, kill ${i + 1}/${KILLS}: ${sec(main.at(-1)!)} s`);
      }
      rows.push(
        `| ${mains} | ${KILLS} | ${sec(median(main))} | ${sec(Math.max(...main))} | ${sec(median(worker))} | ${(median(main) / median(worker)).toFixed(2)} |`,
      );
    } finally {
      await down(dir, quiet).catch(() => {});
    }
  }
  out("");
  out(
    "| main nodes | kills | kill -> all voters healthy, median (s) | max (s) | baseline: worker kill -> replaced, median (s) | ratio |",
  );
  out("| --- | --- | --- | --- | --- | --- |");
  for (const r of rows) out(r);
} finally {
  rmSync(base, { recursive: true, force: true });
  block.release?.();
}
