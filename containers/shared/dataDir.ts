// A database's files on its service's volume (Postgres, MariaDB): existing files are used as they
// are, an empty volume gets new ones, anything else is refused. New files are made beside the final
// place and renamed into it once complete, so a crash part-way never leaves a half-made data dir in use.
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";

export type DataDirState =
  { kind: "existing"; version: string } | { kind: "empty" } | { kind: "foreign"; entries: string[] };

/**
 * What is at `dir`: the server's data (recognised by `marker`, an entry only it makes; `readVersion`
 * describes it), nothing, or files that are not ours.
 */
export function inspectDataDir(
  dir: string,
  marker: string,
  readVersion: (markerPath: string) => string,
): DataDirState {
  if (!existsSync(dir)) return { kind: "empty" };
  const entries = readdirSync(dir);
  if (entries.includes(marker)) return { kind: "existing", version: readVersion(join(dir, marker)).trim() };
  if (entries.length === 0) return { kind: "empty" };
  return { kind: "foreign", entries: entries.slice(0, 5) };
}

/** Make new data with `init(tmp)` and move it to `dir` only once it is whole. */
export async function initInto(dir: string, init: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.init`;
  // A leftover of a crashed initialisation was never used: it holds no data.
  rmSync(tmp, { recursive: true, force: true });
  await init(tmp);
  // Only an empty directory is replaced (rmdir refuses anything else).
  if (existsSync(dir)) rmdirSync(dir);
  renameSync(tmp, dir);
}
