// The whole team cluster on this machine: `up --services all` (every team service of
// functions/catalog/team/ as well as the default catalog) timed until every service answers its
// health check as presence announces it, against `up` of the default catalog alone in the same run
// (the baseline); then, per team service, when it was first healthy (seconds after up returned) and
// its container's memory at idle (podman stats). Images are built before the timed runs (warm).
//   npx tsx bench/teamServices.ts [--services all|NAME,...]
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { readCatalogDir, readTeamDir } from "../functions/catalog/index.ts";
import { imagesOf } from "../functions/domain/images.ts";
import { pollUntil } from "../functions/domain/poll.ts";
import { parseServiceSelection, selectedServiceNames } from "../functions/domain/units/services.ts";
import { down, status, up } from "../local/cluster/cluster.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { buildImages } from "../local/images.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { out, quiet, sec } from "./lib.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { services: { type: "string" } } });
const SELECTION = values.services ?? "all";
const run = promisify(execFile);
const team = selectedServiceNames(readTeamDir(), parseServiceSelection(SELECTION));
/** Data services run one per data node (their units conflict): as many data nodes as are selected. */
const dataNodes = team.filter((s) =>
  Object.entries(readTeamDir()).some(
    ([f, t]) => f.startsWith(`${s}@`) && /^MachineMetadata=role=data$/m.test(t),
  ),
).length;
const GOAL_MS = 5 * 60_000;
/** The name presence announces a team unit under: its `Service=` line, else the unit's own name (mediawiki is `wiki`). */
const announcedAs = (unit: string): string => {
  const text = Object.entries(readTeamDir()).find(
    ([f]) => f.startsWith(`${unit}@`) || f === `${unit}.service`,
  )?.[1];
  return (text && /^Service=([a-z0-9-]+)$/m.exec(text)?.[1]) ?? unit;
};

/** Healthy service names now (presence's view, through status), with each one's node. */
async function healthy(dir: string): Promise<Map<string, string>> {
  const s = await status(dir);
  return new Map(
    s.services.flatMap((x) => {
      const i = x.instances.find((n) => n.healthy);
      return i ? [[x.name, i.node] as const] : [];
    }),
  );
}

/** RSS of a cluster's running containers by unit-style name (`gerrit-1`), from podman stats. */
async function memory(dir: string): Promise<Map<string, string>> {
  const ps = await run(
    "podman",
    [
      "ps",
      "--filter",
      "label=devcluster.root",
      "--format",
      '{{.ID}} {{index .Labels "devcluster.name"}} {{index .Labels "devcluster.root"}}',
    ],
    { env: { ...process.env, CONTAINERS_CONF } },
  );
  const ours = ps.stdout
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f.length === 3 && f[2]!.startsWith(`${dir}/`));
  const out = new Map<string, string>();
  for (const [id, name] of ours) {
    const st = await run("podman", ["stats", "--no-stream", "--format", "{{.MemUsage}}", id!], {
      env: { ...process.env, CONTAINERS_CONF },
    }).catch(() => ({ stdout: "?" }));
    out.set(name!, st.stdout.trim().split(" / ")[0]!);
  }
  return out;
}

/** One cluster: up (with `services`), then until every wanted service is healthy; the times in ms. */
async function once(services: string, wanted: string[], data = 0) {
  const base = mkdtempSync(join(tmpdir(), "devcluster-bench-team-"));
  const dir = join(base, "cluster");
  const block = reserveLocalClusterPrefix();
  const t0 = performance.now();
  try {
    await up(dir, { main: 3, workers: 2, data, prefix: block.prefix, services }, quiet);
    const upMs = performance.now() - t0;
    const first = new Map<string, number>();
    await pollUntil(
      async () => {
        const h = await healthy(dir);
        for (const w of wanted) if (h.has(w) && !first.has(w)) first.set(w, performance.now() - t0);
        return wanted.every((w) => first.has(w)) || undefined;
      },
      { timeoutMs: 15 * 60_000, intervalMs: 1000 },
    );
    const allMs = performance.now() - t0;
    // Idle: a few seconds after the last one came up.
    await new Promise((r) => setTimeout(r, 10_000));
    return { upMs, allMs, first, mem: await memory(dir) };
  } finally {
    await down(dir, quiet).catch(() => {});
    rmSync(base, { recursive: true, force: true });
    block.release();
  }
}

/** Services of the default catalog every cluster runs, waited for in both runs. */
const baseServices = ["auth", "hello", "notes", "postgres"];
out(`team services: ${team.join(", ")}; warming images`);
const built = await buildImages(quiet, imagesOf(readCatalogDir(undefined, parseServiceSelection(SELECTION))));
out(
  `images ready in ${built.seconds.toFixed(1)} s${built.failed.length ? ` (not built: ${built.failed.join(", ")})` : ""}`,
);
const plain = await once("none", baseServices);
const all = await once(SELECTION, [...baseServices, ...team.map(announcedAs)], dataNodes);
out(`uptime: ${(await run("uptime")).stdout.trim()}`);
out(`| run | up returned | every service healthy |`);
out(`| --- | --- | --- |`);
out(`| default catalog (baseline) | ${sec(plain.upMs)} s | ${sec(plain.allMs)} s |`);
out(
  `| --services ${SELECTION} | ${sec(all.upMs)} s | ${sec(all.allMs)} s (${(all.allMs / plain.allMs).toFixed(2)}x; goal <= 5 min: ${all.allMs <= GOAL_MS ? "met" : "not met"}) |`,
);
out("");
out("| team service | first healthy (s after up began) | memory at idle (RSS of its container) |");
out("| --- | --- | --- |");
for (const s of team)
  out(`| ${s} | ${sec(all.first.get(announcedAs(s)) ?? NaN)} | ${all.mem.get(`${s}-1`) ?? "?"} |`);
