// What a local cluster test says when something it waited for never came: each node's units that
// are not active (with the stand-in's error), its running containers, and the last lines of the
// logs named, so a failure on a CI machine nobody can log into still says where it stopped.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { status } from "../../local/cluster/cluster.ts";
import { nodeDir } from "../../local/node.ts";

/** The last `lines` lines of a file, each cut at 300 characters. */
const tail = (file: string, lines: number) =>
  readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .slice(-lines)
    .map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l));

/**
 * A compact account of the cluster in `dir`: per node its role, units not active, the containers
 * podman runs, and the last `lines` of each unit log in `logs` that the node has (e.g.
 * "etcd-amb.service").
 */
export async function clusterDiagnosis(
  dir: string,
  opts: { logs?: string[]; lines?: number } = {},
): Promise<string> {
  const out: string[] = [];
  try {
    const s = await status(dir);
    out.push(
      `etcd: ${s.etcd.members.map((m) => `${m.name}${m.healthy ? "" : " (unhealthy)"}`).join(", ") || "none"}`,
      `services: ${s.services.map((x) => `${x.name}[${x.instances.map((i) => `${i.id}@${i.node}${i.healthy ? "" : " down"}`).join(" ")}]`).join(" ") || "none"}`,
    );
    for (const n of s.nodes) {
      const bad = n.units.filter((u) => u.state !== "active");
      out.push(
        `${n.id} ${n.role} ${n.state}${n.up ? "" : " (down)"}: ${n.units.length} units, not active: ${bad.map((u) => `${u.name}=${u.state}${u.error ? ` (${u.error})` : ""}`).join(", ") || "none"}; containers: ${n.containers.map((c) => `${c.name}:${c.state}`).join(" ") || "none"}`,
      );
      for (const log of opts.logs ?? []) {
        const file = join(nodeDir(dir, n.id), "var/log", `${log}.log`);
        if (existsSync(file)) out.push(`  ${log}:`, ...tail(file, opts.lines ?? 6).map((l) => `    ${l}`));
      }
    }
  } catch (e) {
    out.push(`status failed: ${(e as Error).message}`);
  }
  return out.join("\n");
}
