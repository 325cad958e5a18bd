// Operating a local cluster as it grows: `devcluster machines` and `units` latency, and the
// dashboard's first paint (every node shown), on a small cluster (the baseline) and on a large one in
// the same run (the group scaled up), compared as a ratio. Two figures for the commands: in a warm
// process (the function containers and clients kept, as in the dashboard or a Lambda container), and
// the whole `npx devcluster` process (cold: tsx, a fresh worker per function).
//   npx tsx bench/ops.ts [--small 2] [--large 47] [--runs 5] [--screenshot docs/img/dashboard.png]
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { chromium } from "playwright-core";
import { down, scale, up } from "../local/cluster/cluster.ts";
import { localOpsTarget } from "../local/cluster/opsTarget.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { stopNodeProcessesUnder } from "../local/node.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { readView, unitRows } from "../bin/ops/operate.ts";
import { startDashboard } from "../bin/ops/dashboard.ts";
import { median, out, sec } from "./lib.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const sh = promisify(execFile);
const { values } = parseArgs({
  options: {
    small: { type: "string" },
    large: { type: "string" },
    runs: { type: "string" },
    screenshot: { type: "string" },
  },
});
const SMALL = Number(values.small ?? 2);
const LARGE = Number(values.large ?? 47);
const RUNS = Number(values.runs ?? 5);
const ms = (x: number) => `${Math.round(x)} ms`;

async function timed<T>(run: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await run();
  return [performance.now() - t0, v];
}

interface Figures {
  nodes: number;
  machines: number;
  units: number;
  machinesCli: number;
  unitsCli: number;
  paint: number;
}

async function measure(dir: string, shot?: string): Promise<Figures> {
  const t = await localOpsTarget(dir);
  await readView(t); // the status function's container starts (cold start), as the first call on AWS
  const machines: number[] = [];
  const units: number[] = [];
  let nodes = 0;
  for (let i = 0; i < RUNS; i++) {
    const [a, v] = await timed(() => readView(t));
    machines.push(a);
    nodes = v.machines.length;
    const [b] = await timed(async () => unitRows(t, await readView(t)));
    units.push(b);
  }
  const cli = async (cmd: string) => {
    const xs: number[] = [];
    for (let i = 0; i < Math.min(RUNS, 3); i++) {
      const [d] = await timed(() =>
        sh("node", ["bin/devcluster.js", cmd, "--dir", dir], {
          cwd: PROJECT_ROOT,
          env: { ...process.env, DEVCLUSTER_LOG: "silent" },
        }),
      );
      xs.push(d);
    }
    return median(xs);
  };
  const machinesCli = await cli("machines");
  const unitsCli = await cli("units");
  // First paint: from navigation until every node is on the page (the view is read for each load).
  const ui = await startDashboard(t, { host: "127.0.0.1", port: 0 });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  const paints: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const [d] = await timed(async () => {
        await page.goto(ui.url);
        // The page's CSP allows no eval: wait on a locator (the last node mark) instead of a predicate.
        await page
          .locator("div.node[data-node]")
          .nth(nodes - 1)
          .waitFor({ timeout: 60_000 });
      });
      paints.push(d);
      if (shot && i === RUNS - 1) {
        await page.locator("button[data-unit]").first().waitFor({ timeout: 60_000 });
        await page.locator("#events table").waitFor({ timeout: 60_000 });
        await page.screenshot({ path: shot, fullPage: false });
      }
      await page.close();
    }
  } finally {
    await browser.close();
    await ui.close();
  }
  return {
    nodes,
    machines: median(machines),
    units: median(units),
    machinesCli,
    unitsCli,
    paint: median(paints),
  };
}

const block = reserveLocalClusterPrefix();
const base = mkdtempSync(join(tmpdir(), "devcluster-bench-ops-"));
const dir = join(base, "cluster");
try {
  out(`up: 3 main + ${SMALL} workers`);
  const [upMs] = await timed(() =>
    up(dir, { main: 3, workers: SMALL, data: 0, prefix: block.prefix }, () => {}),
  );
  out(`  up in ${sec(upMs)} s`);
  const small = await measure(dir);
  out(`scale worker ${LARGE}`);
  const [scaleMs] = await timed(() => scale(dir, "worker", LARGE, () => {}));
  out(`  scaled in ${sec(scaleMs)} s`);
  const large = await measure(dir, values.screenshot);
  const { stdout: load } = await sh("cat", ["/proc/loadavg"]);
  out(
    `\nload average ${load.trim().split(" ").slice(0, 3).join(" ")}; median of ${RUNS} (CLI: of ${Math.min(RUNS, 3)})`,
  );
  out(`| figure | ${small.nodes} nodes (baseline) | ${large.nodes} nodes | ratio |`);
  out(`| --- | --- | --- | --- |`);
  const row = (name: string, k: keyof Figures) =>
    out(`| ${name} | ${ms(small[k])} | ${ms(large[k])} | ${(large[k] / small[k]).toFixed(2)}x |`);
  row("machines, warm (status function invoked)", "machines");
  row("units, warm (status + one node command on every node)", "units");
  row("`npx devcluster machines` (whole process)", "machinesCli");
  row("`npx devcluster units` (whole process)", "unitsCli");
  row("dashboard first paint (every node shown)", "paint");
} finally {
  await down(dir, () => {}).catch(() => {});
  await stopNodeProcessesUnder(base);
  block.release();
  rmSync(base, { recursive: true, force: true });
}
process.exit(0);
