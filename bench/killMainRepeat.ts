// The local cluster's kill-main check, repeated: N times `kill <main-id>` (a non-leader), and right
// after each kill returns (no reconcile, no waiting) the same checks as the end-to-end test: the
// replacement is a healthy voter among three, and the discovery records (`_etcd-server._tcp`,
// `_etcd-client._tcp`) name exactly the members and the voters. Prints each run and the pass count.
//   npx tsx bench/killMainRepeat.ts [--kills 20]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { down, kill, status, up } from "../local/cluster/cluster.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { kills: { type: "string" } } });
const KILLS = Number(values.kills ?? 20);
const MAINS = 3;
const out = (l: string) => process.stdout.write(l + "\n");
const quiet = () => {};

/** What is wrong right after the kill of `old` returned (empty: the run passes). */
async function problemsAfterKill(dir: string, old: string): Promise<string[]> {
  const s = await status(dir);
  const problems: string[] = [];
  const mains = s.nodes
    .filter((n) => n.role === "main")
    .map((n) => n.id)
    .sort();
  if (mains.includes(old)) problems.push(`${old} still in the main group`);
  const members = s.etcd.members;
  const names = members.map((m) => m.name).sort();
  if (names.join() !== mains.join()) problems.push(`members ${names.join(",")} != mains ${mains.join(",")}`);
  const voters = members.filter((m) => !m.learner && m.healthy);
  if (voters.length !== MAINS) problems.push(`${voters.length} healthy voters`);
  const domain = s.dns
    .find((r) => r.name.startsWith("_etcd-server._tcp."))
    ?.name.slice("_etcd-server._tcp.".length);
  const srv = (n: string) =>
    [...(s.dns.find((r) => r.type === "SRV" && r.name === `${n}.${domain}`)?.values ?? [])].sort();
  const want = (port: number, ids: string[]) => ids.map((id) => `0 0 ${port} ${id}.${domain}`).sort();
  if (srv("_etcd-server._tcp").join() !== want(2380, names).join())
    problems.push(`_etcd-server._tcp: ${srv("_etcd-server._tcp").join(", ")}`);
  const voterNames = members.filter((m) => !m.learner).map((m) => m.name);
  if (srv("_etcd-client._tcp").join() !== want(2379, voterNames).join())
    problems.push(`_etcd-client._tcp: ${srv("_etcd-client._tcp").join(", ")}`);
  return problems;
}

const block = reserveLocalClusterPrefix();
const base = mkdtempSync(join(tmpdir(), "devcluster-bench-killmain-"));
const dir = join(base, "cluster");
let passed = 0;
try {
  await up(dir, { main: MAINS, workers: 1, data: 0, prefix: block.prefix }, quiet);
  for (let i = 1; i <= KILLS; i++) {
    const s = await status(dir);
    const leader = s.etcd.members.find((m) => m.leader)?.name;
    const victim = s.nodes.find((n) => n.role === "main" && n.id !== leader)!;
    const t = performance.now();
    await kill(dir, victim.id, quiet);
    const ms = performance.now() - t;
    const problems = await problemsAfterKill(dir, victim.id);
    if (!problems.length) passed++;
    out(
      `kill ${i}/${KILLS} (${victim.id}, ${(ms / 1000).toFixed(1)} s): ${problems.length ? `FAIL ${problems.join("; ")}` : "pass"}`,
    );
  }
} finally {
  await down(dir, quiet).catch(() => {});
  rmSync(base, { recursive: true, force: true });
  block.release?.();
}
out(`kill <main-id>, checked right after each kill: ${passed}/${KILLS} passed`);
process.exitCode = passed === KILLS ? 0 : 1;
