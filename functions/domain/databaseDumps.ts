// Where database services keep their logical dumps in the snapshot bucket, and what makes one fit to
// restore: named once, for the program that writes and restores them (containers/postgres), the
// template that grants and expires them, and the operator's commands that list and choose them. Pure.
import { z } from "zod";
import { RefusedError } from "./errors.ts";

/** Every dump lives below this prefix of the snapshot bucket. */
export const DUMP_KEY_PREFIX = "db-dumps/";

/** A database service's dumps: `db-dumps/<cluster>/<service>/<database>/<time>.dump`. */
export const dumpPrefix = (cluster: string, service: string) => `${DUMP_KEY_PREFIX}${cluster}/${service}/`;

/** A dump's key: its database's folder and the time it started (`:` and `.` made `-`, so it sorts). */
export const dumpKey = (prefix: string, database: string, at: Date) =>
  `${prefix}${database}/${at.toISOString().replace(/[:.]/g, "-")}.dump`;

/** The manifest beside a dump: what makes it valid. */
export const manifestKey = (key: string) => `${key}.manifest.json`;

/** A database (and role) name as the building block makes them: a client service's name with `_`. */
const DATABASE = /^[a-z][a-z0-9_]{0,62}$/;
const STAMP = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/;

export const DumpManifest = z.object({
  database: z.string(),
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  startedAt: z.string(),
  finishedAt: z.string(),
  format: z.literal("pg_dump custom"),
});
export type DumpManifest = z.infer<typeof DumpManifest>;

/**
 * The database a key is a dump of, when it is one of this service's dumps; else a refusal that
 * says why (another service's or cluster's dump, another database's, or not a dump key at all).
 */
export function checkDumpKey(prefix: string, database: string, key: string): void {
  if (!key.startsWith(prefix))
    throw new RefusedError(
      `${key} is not a dump of this service (its dumps are below ${prefix}); nothing was changed`,
    );
  const [db, file, ...rest] = key.slice(prefix.length).split("/");
  if (rest.length || !db || !file?.endsWith(".dump") || !STAMP.test(file.slice(0, -".dump".length)))
    throw new RefusedError(`${key} is not a dump key (${prefix}<database>/<time>.dump); nothing was changed`);
  if (db !== database)
    throw new RefusedError(`${key} is a dump of database ${db}, not of ${database}; nothing was changed`);
}

/** A manifest read beside `key`: it must describe that very object of that database. */
export function checkManifest(raw: string, key: string, database: string): DumpManifest {
  let parsed;
  try {
    parsed = DumpManifest.safeParse(JSON.parse(raw));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success)
    throw new RefusedError(`the manifest of ${key} is not a dump manifest; nothing was changed`);
  const m = parsed.data;
  if (m.key !== key || m.database !== database)
    throw new RefusedError(
      `the manifest beside ${key} describes ${m.key} (database ${m.database}): a copied or foreign dump; nothing was changed`,
    );
  return m;
}

/** One valid dump, as listed for the operator. */
export interface DumpEntry {
  database: string;
  key: string;
  bytes: number;
  finishedAt: string;
}

/**
 * A service's dumps from a listing of its prefix: each `.dump` with its manifest beside it, newest
 * first; a dump without one (failed, or still being written) is counted, never offered.
 */
export function pairDumps(
  prefix: string,
  keys: string[],
): { dumps: { database: string; key: string }[]; partial: number } {
  const all = new Set(keys);
  const dumps: { database: string; key: string }[] = [];
  let partial = 0;
  for (const key of keys) {
    if (!key.endsWith(".dump")) continue;
    const db = key.slice(prefix.length).split("/")[0]!;
    try {
      checkDumpKey(prefix, db, key);
    } catch {
      continue;
    }
    if (all.has(manifestKey(key))) dumps.push({ database: db, key });
    else partial++;
  }
  dumps.sort(
    (a, b) =>
      b.key.slice(b.key.lastIndexOf("/")).localeCompare(a.key.slice(a.key.lastIndexOf("/"))) ||
      a.database.localeCompare(b.database),
  );
  return { dumps, partial };
}

/** The names a restore of `database` uses: the fresh database it builds, and where the current one goes. */
export function restoreNames(database: string, at: Date): { staging: string; aside: string } {
  if (!DATABASE.test(database)) throw new RefusedError(`'${database}' is not a client database name`);
  // To the millisecond: two restores never pick the same aside name.
  const stamp = at.toISOString().replace(/[-:.]/g, "");
  const names = { staging: `${database}__restoring`, aside: `${database}__before_${stamp}` };
  // Postgres cuts longer names silently, which could make two names one.
  if (names.aside.length > 63)
    throw new RefusedError(
      `database ${database}: its restore names would pass Postgres's 63 characters (${names.aside}); nothing was changed`,
    );
  return names;
}

/** A restore request's id (it makes a retried command a no-op): letters, digits and '-'. */
export const RESTORE_ID = /^[a-z0-9][a-z0-9-]{5,63}$/;
