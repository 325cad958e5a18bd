// Containers in the local cluster, on this machine:
// - every image built cold (empty podman storage: the Debian base by mmdebstrap, bundling, every
//   Containerfile; goal <= 10 min) and warm (nothing changed; goal <= 30 s), in a private storage so
//   the machine's images are neither used nor touched; the warm/cold ratio;
// - failover: the worker running the sample service killed -> first good answer through the front
//   door on another node (goal <= 15 s), against the lease TTL presence uses (the time a dead
//   instance stays announced), with the kill -> re-placed -> container up -> announced breakdown;
// - the demo with containers, from the command to its end (goal <= 90 s).
//   npx tsx bench/containers.ts [--runs 2] [--no-cold]
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { down, kill, status, up } from "../local/cluster/cluster.ts";
import { runDemo } from "../local/cluster/demo.ts";
import { waitForAnswer } from "../local/cluster/frontdoor.ts";
import { readState } from "../local/cluster/state.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { stopNodeProcessesUnder } from "../local/node.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { out, sec } from "./lib.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { runs: { type: "string" }, "no-cold": { type: "boolean" } } });
const RUNS = Number(values.runs ?? 2);
const LEASE_TTL_S = 6; // presence's default LEASE_TTL (containers/README.md)

/** containers/build.sh with `env`; resolves with the seconds it took. */
function buildAll(env: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const child = spawn("bash", [join(PROJECT_ROOT, "containers", "build.sh")], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CONTAINERS_CONF, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.on("close", (code) =>
      code === 0 ? done((performance.now() - t0) / 1000) : fail(new Error(`build failed (${code}): ${err}`)),
    );
  });
}

async function images() {
  const storage = mkdtempSync(join(tmpdir(), "devcluster-bench-storage-"));
  try {
    mkdirSync(join(storage, "graph"));
    writeFileSync(
      join(storage, "storage.conf"),
      `[storage]\ndriver = "overlay"\ngraphroot = "${storage}/graph"\nrunroot = "${storage}/run"\n`,
    );
    const env = { CONTAINERS_STORAGE_CONF: join(storage, "storage.conf") };
    // Cold: nothing in this storage, and the bundles made again.
    rmSync(join(PROJECT_ROOT, ".build", "containers", ".bundled"), { force: true });
    const cold = await buildAll(env);
    const warm = await buildAll(env);
    out(`images cold (base + bundles + 6 images): ${cold.toFixed(1)} s (goal <= 600 s)`);
    out(
      `images warm (nothing changed):           ${warm.toFixed(1)} s (goal <= 30 s); warm/cold = ${(warm / cold).toFixed(3)}`,
    );
  } finally {
    // The private storage's layers belong to root; podman removes what it made.
    await new Promise((r) =>
      spawn("podman", ["rmi", "-a", "-f"], {
        env: { ...process.env, CONTAINERS_CONF, CONTAINERS_STORAGE_CONF: join(storage, "storage.conf") },
        stdio: "ignore",
      }).on("close", r),
    );
    rmSync(storage, { recursive: true, force: true });
  }
}

/** Milliseconds from the kill to the first good answer from another node, with the breakdown. */
async function failover(dir: string): Promise<number> {
  const state = readState(dir)!;
  const host = `hello.${state.domain}`;
  let servedBy = "";
  let door = "";
  await waitForAnswer(
    async () => {
      const s = await status(dir);
      const on = s.services.find((x) => x.name === "hello")?.instances.find((i) => i.healthy)?.node;
      const fd = s.nodes.find(
        (n) =>
          n.role === "worker" &&
          n.up &&
          n.id !== on &&
          n.units.some((u) => u.name.startsWith("nginx@") && u.state === "active"),
      );
      if (!on || !fd) return undefined;
      servedBy = on;
      door = fd.address;
      return { address: fd.address, avoid: "" };
    },
    host,
    120_000,
  );
  const t0 = Date.now();
  const killing = kill(dir, servedBy, () => {});
  await waitForAnswer(async () => ({ address: door, avoid: servedBy }), host, 120_000);
  const ms = Date.now() - t0;
  await killing;
  // Where the time went: the surviving node's logs (unit start, presence start, announce).
  const nodes = join(dir, "nodes");
  const s = await status(dir);
  const now = s.services.find((x) => x.name === "hello")!.instances[0]!.node;
  const log = readFileSync(join(nodes, now, "var/log/presence@hello@1.service.log"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"));
  const at = (code: string) => {
    const l = log.reverse().find((x) => x.includes(`"msg":"${code}"`));
    log.reverse();
    return l ? Date.parse((JSON.parse(l) as { time: string }).time) - t0 : NaN;
  };
  out(
    `  kill -> presence starting on ${now}: ${sec(at("starting"))} s, -> announced: ${sec(at("announced"))} s, -> answer: ${sec(ms)} s`,
  );
  return ms;
}

if (!values["no-cold"]) await images();
const block = reserveLocalClusterPrefix();
const base = mkdtempSync(join(tmpdir(), "devcluster-bench-containers-"));
try {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = join(base, `cluster-${i}`);
    await up(dir, { main: 3, workers: 2, data: 0, prefix: block.prefix }, () => {});
    try {
      times.push(await failover(dir));
    } finally {
      await down(dir, () => {});
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  out(
    `failover (worker killed -> first good answer through the front door), ${RUNS} runs: ${sorted.map(sec).join(", ")} s; median ${sec(sorted[Math.floor(sorted.length / 2)]!)} s (goal <= 15 s); vs the lease TTL ${LEASE_TTL_S} s: ${(sorted[Math.floor(sorted.length / 2)]! / 1000 / LEASE_TTL_S).toFixed(2)}x`,
  );
  const demoDir = join(base, "demo");
  const t0 = Date.now();
  const lines: string[] = [];
  const code = await runDemo(
    demoDir,
    (l) => lines.push(l),
    () => {},
    { prefix: block.prefix },
  );
  out(
    `demo with containers: ${sec(Date.now() - t0)} s (exit ${code}; goal <= 90 s); ${lines.find((l) => l.includes("failover:"))?.trim() ?? ""}`,
  );
} finally {
  await stopNodeProcessesUnder(base);
  block.release();
  rmSync(base, { recursive: true, force: true });
}
