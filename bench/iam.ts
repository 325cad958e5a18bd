// What enforcing IAM costs the local cluster: moto with IAM on (every request signed by a known
// principal and its policies evaluated; each function in its own worker with its own role) against
// moto with IAM off (the administrator's keys for everything), alternating in the same run.
// - `up`: 3 main + 1 worker, from the command to a healthy cluster;
// - a worker launch: `scale worker 1 -> 2`, the launch event handled and the node registered.
//   npx tsx bench/iam.ts [--runs 2]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { down, scale, up } from "../local/cluster/cluster.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { stopNodeProcessesUnder } from "../local/node.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { runs: { type: "string" } } });
const RUNS = Number(values.runs ?? 2);
const out = (l: string) => process.stdout.write(l + "\n");
const quiet = () => {};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const block = reserveLocalClusterPrefix();
const base = mkdtempSync(join(tmpdir(), "devcluster-bench-iam-"));
const times: Record<"on" | "off", { up: number[]; launch: number[] }> = {
  on: { up: [], launch: [] },
  off: { up: [], launch: [] },
};
const dirs: string[] = [];
try {
  out(`IAM on vs off, local cluster 3 main + 1 worker, ${RUNS} run(s) each, alternating`);
  for (let r = 0; r < RUNS; r++) {
    // Off first in one run, on first in the next: warm caches favour neither.
    for (const mode of r % 2 ? (["on", "off"] as const) : (["off", "on"] as const)) {
      const dir = join(base, `${mode}-${r}`);
      dirs.push(dir);
      let t = performance.now();
      await up(dir, { main: 3, workers: 1, data: 0, prefix: block.prefix, iam: mode === "on" }, quiet);
      times[mode].up.push(performance.now() - t);
      t = performance.now();
      await scale(dir, "worker", 2, quiet);
      times[mode].launch.push(performance.now() - t);
      await down(dir, quiet);
    }
  }
  const row = (what: string, on: number[], off: number[]) =>
    out(
      `  ${what.padEnd(22)} on ${String(Math.round(median(on))).padStart(6)} ms  off ${String(Math.round(median(off))).padStart(6)} ms  ratio ${(median(on) / median(off)).toFixed(2)}  (on ${on.map(Math.round).join(", ")}; off ${off.map(Math.round).join(", ")})`,
    );
  row("up", times.on.up, times.off.up);
  row("worker launch", times.on.launch, times.off.launch);
} finally {
  for (const d of dirs) await down(d, quiet).catch(() => {});
  await stopNodeProcessesUnder(base);
  block.release();
  rmSync(base, { recursive: true, force: true });
}
process.exit(0);
