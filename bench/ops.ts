// Operating a local cluster as it grows: `devcluster machines` and `units` latency, and the
// dashboard's first paint (every node shown), on a small cluster (the baseline) and on a large one in
// the same run (the group scaled up), compared as a ratio. Two figures for the commands: in a warm
// process (the dashboard's case: one target kept), and the whole `npx devcluster` process (the
// prebuilt command line, invoking the status function in the cluster's warm functions host). Also
// what one worker node costs on this machine (processes, containers, memory, time to join).
//   npx tsx bench/ops.ts [--small 2] [--large 47] [--runs 5] [--screenshot docs/img/dashboard.png]
// The screenshot is of the small cluster once every unit is active.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { chromium } from "playwright-core";
import { down, scale, up } from "../local/cluster/cluster.ts";
import { localOpsTarget } from "../local/cluster/opsTarget.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { nodeDir, nodePids, stopNodeProcessesUnder } from "../local/node.ts";
import { CONTAINERS_CONF, containersUnder } from "../local/containers.ts";
import { invokeWarm } from "../local/cluster/functionsHost.ts";
import { readState } from "../local/cluster/state.ts";
import { pollUntil } from "../functions/domain/poll.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { readView, unitRows } from "../bin/ops/operate.ts";
import type { OpsTarget } from "../bin/ops/target.ts";
import type { ClusterView } from "../functions/domain/clusterView.ts";
import { parseUnitStates, unitStatesScript } from "../functions/domain/operatorScripts.ts";
import { startDashboard } from "../bin/ops/dashboard.ts";
import { median, out, sec } from "./lib.ts";

// The handlers log to the cluster's functions.log (the dashboard's events), not to this output.
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

/**
 * The baseline: unit states the way `units` read them before nodes published them, one node command
 * (Run Command on AWS, the local runner here) on every machine with units, after the view.
 */
async function unitStatesByCommand(t: OpsTarget, view: ClusterView): Promise<number> {
  const machines = view.machines.filter((m) => m.units.length);
  const results = await t.commands.run({
    instanceIds: machines.map((m) => m.id),
    script: unitStatesScript(
      view.units.map((u) => u.name),
      false,
    ),
    comment: "bench: unit states by command",
    timeoutSeconds: 60,
  });
  return results.reduce((n, r) => n + parseUnitStates(r.stdout).size, 0);
}

interface Figures {
  nodes: number;
  machines: number;
  unitsByCommand: number;
  units: number;
  machinesCli: number;
  unitsCli: number;
  paint: number;
}

async function measure(dir: string, shot?: string): Promise<Figures> {
  // `up` started the functions host; wait until it answers (it warms the status function first).
  const createdAt = readState(dir)!.createdAt;
  const hosted = await pollUntil(async () => invokeWarm(dir, createdAt, "status", {}), {
    timeoutMs: 300_000,
    intervalMs: 1000,
  });
  if (!hosted) throw new Error("the cluster's functions host does not answer");
  const t = await localOpsTarget(dir);
  await readView(t);
  // The first command line after a source change builds the bundle: not a figure.
  await sh("node", ["bin/devcluster.js", "--help"], { cwd: PROJECT_ROOT });
  const machines: number[] = [];
  const units: number[] = [];
  const byCommand: number[] = [];
  let nodes = 0;
  for (let i = 0; i < RUNS; i++) {
    const [a, v] = await timed(() => readView(t));
    machines.push(a);
    nodes = v.machines.length;
    const [b] = await timed(async () => unitRows(await readView(t)));
    units.push(b);
    const [c] = await timed(async () => unitStatesByCommand(t, await readView(t)));
    byCommand.push(c);
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
  // First paint: from navigation until every node and the units are on the page (the view is read
  // for each load).
  const ui = await startDashboard(t, { host: "127.0.0.1", port: 0 });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  const paints: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const [d] = await timed(async () => {
        await page.goto(ui.url);
        // The page's CSP allows no eval: wait on locators (the last node mark, the units' table)
        // instead of a predicate.
        await page
          .locator("div.node[data-node]")
          .nth(nodes - 1)
          .waitFor({ timeout: 60_000 });
        await page.locator("#units table").first().waitFor({ timeout: 60_000 });
      });
      paints.push(d);
      if (shot && i === RUNS - 1) {
        // Settled: every placed unit active on its node (a sidecar may still be starting after up).
        await settled(dir);
        await page.reload();
        await page
          .locator("div.node[data-node]")
          .nth(nodes - 1)
          .waitFor({ timeout: 60_000 });
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
    unitsByCommand: median(byCommand),
    units: median(units),
    machinesCli,
    unitsCli,
    paint: median(paints),
  };
}

/** Until every placed unit is active on its node and its services announced (the steady state). */
async function settled(dir: string): Promise<void> {
  const t = await localOpsTarget(dir);
  const ok = await pollUntil(
    async () => {
      const v = await readView(t);
      const rows = unitRows(v);
      // Each presence sidecar's service is announced (what the dashboard's services panel shows).
      const announced = new Set(v.services.map((s) => s.name));
      const presence = rows.flatMap((r) => /^presence@([^@]+)@/.exec(r.unit)?.[1] ?? []);
      return rows.every((r) => r.state === "active") && presence.every((s) => announced.has(s))
        ? true
        : undefined;
    },
    { timeoutMs: 600_000, intervalMs: 2000 },
  );
  if (!ok) throw new Error("the units did not all become active within 10 minutes");
}

/** Resident memory of a process, in MiB (0 when it is gone). */
function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** What worker nodes hold: processes (each node's supervisors, its containers' main processes), containers, memory. */
async function workerCost(dir: string, workerIds: string[]) {
  const running = (await containersUnder(dir)).filter(
    (c) => workerIds.includes(c.node) && c.state === "running",
  );
  const supervisors = workerIds.flatMap((id) => nodePids(nodeDir(dir, id)));
  const { stdout } = running.length
    ? await sh("podman", ["inspect", "--format", "{{.State.Pid}}", ...running.map((c) => c.id)], {
        env: { ...process.env, CONTAINERS_CONF },
      })
    : { stdout: "" };
  const inContainers = stdout.split("\n").filter(Boolean).map(Number);
  const pids = [...supervisors, ...inContainers];
  return { procs: pids.length, ctrs: running.length, mem: pids.reduce((n, p) => n + rssMiB(p), 0) };
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
  const small = await measure(dir, values.screenshot);
  const workersOf = async () =>
    (await readView(await localOpsTarget(dir))).machines.filter((m) => m.role === "worker").map((m) => m.id);
  const costSmall = await workerCost(dir, await workersOf());
  out(`scale worker ${LARGE}`);
  const [scaleMs] = await timed(() => scale(dir, "worker", LARGE, () => {}));
  out(`  scaled in ${sec(scaleMs)} s`);
  // The new nodes start their containers after their launch events: measure the settled cluster.
  const [settleMs] = await timed(() => settled(dir));
  out(`  every unit active ${sec(settleMs)} s later`);
  const large = await measure(dir);
  const costLarge = await workerCost(dir, await workersOf());
  const added = LARGE - SMALL;
  const { stdout: load } = await sh("cat", ["/proc/loadavg"]);
  out(
    `\nload average ${load.trim().split(" ").slice(0, 3).join(" ")}; median of ${RUNS} (CLI: of ${Math.min(RUNS, 3)})`,
  );
  out(`| figure | ${small.nodes} nodes (baseline) | ${large.nodes} nodes | ratio |`);
  out(`| --- | --- | --- | --- |`);
  const row = (name: string, k: keyof Figures) =>
    out(`| ${name} | ${ms(small[k])} | ${ms(large[k])} | ${(large[k] / small[k]).toFixed(2)}x |`);
  row("machines, warm (status function invoked)", "machines");
  row("units, warm, before: status + one node command on every node", "unitsByCommand");
  row("units, warm, after: status with the states nodes publish", "units");
  row("`npx devcluster machines` (whole process)", "machinesCli");
  row("`npx devcluster units` (whole process)", "unitsCli");
  row("dashboard first paint (every node and the units shown)", "paint");
  const per = (x: number) => (x / added).toFixed(1);
  out(
    `\nper added worker node: ${per(costLarge.procs - costSmall.procs)} processes, ` +
      `${per(costLarge.ctrs - costSmall.ctrs)} containers, ${per(costLarge.mem - costSmall.mem)} MiB resident, ` +
      `${sec(scaleMs / added)} s of the scale (${added} nodes in ${sec(scaleMs)} s)`,
  );
} finally {
  await down(dir, () => {}).catch(() => {});
  await stopNodeProcessesUnder(base);
  block.release();
  rmSync(base, { recursive: true, force: true });
}
process.exit(0);
