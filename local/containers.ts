// The local nodes' containers, through rootful podman: what runs on which node, killing a node's
// containers with it, and removing every container of a cluster (or test) directory.
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { pollUntil } from "../functions/domain/poll.ts";

const run = promisify(execFile);
const PROJECT_ROOT = resolve(import.meta.dirname, "..");
/** The project's podman settings (runc, ulimits); every podman call of the project uses them. */
export const CONTAINERS_CONF =
  process.env.CONTAINERS_CONF ?? join(PROJECT_ROOT, "containers", "podman", "containers.conf");
const env = () => ({ ...process.env, CONTAINERS_CONF });

export interface NodeContainer {
  /** podman's name: `dc-<node hash>-<name the unit gave>` (local/bin/docker). */
  id: string;
  /** The name the unit gave (`--name`), e.g. `hello-1`. */
  name: string;
  /** The node directory it belongs to (label `devcluster.root`). */
  root: string;
  /** The instance id of its node. */
  node: string;
  /** The unit that started it. */
  unit: string;
  image: string;
  /** podman's state: running, exited, created, ... */
  state: string;
  /** podman's status line, e.g. "Up 3 seconds" or "Exited (1) 2 seconds ago". */
  status: string;
}

interface PodmanPs {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Status: string;
  Labels: Record<string, string> | null;
}

/** Every container the local nodes started (those carrying the `devcluster.root` label). */
export async function listNodeContainers(): Promise<NodeContainer[]> {
  let stdout: string;
  try {
    ({ stdout } = await run("podman", ["ps", "-a", "--filter", "label=devcluster.root", "--format", "json"], {
      env: env(),
      maxBuffer: 32 << 20,
    }));
  } catch (e) {
    // No podman on this machine: no node can have started a container.
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const rows = JSON.parse(stdout || "[]") as PodmanPs[];
  return rows
    .map((r) => ({
      id: r.Names[0] ?? r.Id,
      name: r.Labels?.["devcluster.name"] ?? "",
      root: r.Labels?.["devcluster.root"] ?? "",
      node: r.Labels?.["devcluster.node"] ?? "",
      unit: r.Labels?.["devcluster.unit"] ?? "",
      image: r.Image,
      state: r.State,
      status: r.Status,
    }))
    .sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name));
}

const under = (root: string, dir: string) => {
  const d = resolve(dir);
  return root === d || root.startsWith(`${d}/`);
};

/** Containers of the node directories below `dir` (any depth). */
export async function containersUnder(dir: string): Promise<NodeContainer[]> {
  return (await listNodeContainers()).filter((c) => under(c.root, dir));
}

async function removeAll(ids: string[]): Promise<void> {
  if (!ids.length) return;
  // A container podman catches as it stops by itself (its supervisor just killed) refuses the kill
  // ("container state improper: stopped") and is removable a moment later: try again for a while.
  let failure: unknown;
  const removed = await pollUntil(
    async () => {
      try {
        // -t 0: SIGKILL at once, as a machine losing power would; --ignore: one gone meanwhile is fine.
        await run("podman", ["rm", "-f", "--ignore", "-t", "0", ...ids], { env: env() });
        return true;
      } catch (e) {
        failure = e;
        return undefined;
      }
    },
    { timeoutMs: 30_000, intervalMs: 1000 },
  );
  if (!removed) throw failure;
}

/**
 * The machine at `nodeDir` died: its running containers get SIGKILL. They are left exited (as on a
 * dead machine's disk) and removed by `down`: removing them here would hold podman's lock while the
 * surviving nodes start the replacements.
 */
export async function killNodeContainers(nodeDir: string): Promise<number> {
  const mine = (await listNodeContainers()).filter(
    (c) => c.root === resolve(nodeDir) && c.state === "running",
  );
  if (mine.length)
    await run("podman", ["kill", "-s", "KILL", ...mine.map((c) => c.id)], { env: env() }).catch(() => {});
  return mine.length;
}

/** Remove every container of the node directories below `dir`: `down`, and cleanup after tests. */
export async function removeContainersUnder(dir: string): Promise<number> {
  const mine = await containersUnder(dir);
  await removeAll(mine.map((c) => c.id));
  return mine.length;
}
