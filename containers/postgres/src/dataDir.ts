// The database's files on the service's volume: an existing cluster is used as it is, an empty
// volume gets a new one, anything else is refused. A new cluster is made beside the final place
// and renamed into it once complete, so a crash part-way never leaves a half-made cluster in use.
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";

export type DataDirState =
  { kind: "existing"; version: string } | { kind: "empty" } | { kind: "foreign"; entries: string[] };

/** What is at `dir`: a Postgres cluster (its PG_VERSION), nothing, or files that are not ours. */
export function inspectDataDir(dir: string, readVersion: (file: string) => string): DataDirState {
  if (!existsSync(dir)) return { kind: "empty" };
  const entries = readdirSync(dir);
  if (entries.includes("PG_VERSION"))
    return { kind: "existing", version: readVersion(join(dir, "PG_VERSION")).trim() };
  if (entries.length === 0) return { kind: "empty" };
  return { kind: "foreign", entries: entries.slice(0, 5) };
}

/** Make a new cluster with `init(tmp)` and move it to `dir` only once it is whole. */
export async function initInto(dir: string, init: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.init`;
  // A leftover of a crashed initialisation was never used: it holds no data.
  rmSync(tmp, { recursive: true, force: true });
  await init(tmp);
  // Only an empty directory is replaced (rmdir refuses anything else).
  if (existsSync(dir)) rmdirSync(dir);
  renameSync(tmp, dir);
}
