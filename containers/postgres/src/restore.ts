// Listing a database service's dumps and restoring a client database from one: what `main.mjs
// dumps|restore` does inside the service's container (the operator's `devcluster db` commands run it
// on the node with docker exec), as the node role, with the superuser on the container's socket.
// Nothing live changes until the dump is whole: it is restored into a fresh database while its
// bytes are hashed, and the fresh one takes the name (the current one renamed aside, kept) only
// once pg_restore succeeded and the bytes matched the manifest.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { z } from "zod";
import {
  checkDumpKey,
  checkManifest,
  dumpKey,
  dumpPrefix,
  manifestKey,
  pairDumps,
  RESTORE_ID,
  restoreNames,
  type DumpEntry,
} from "../../../functions/domain/databaseDumps.ts";
import { ConfigError, RefusedError, UserError } from "../../../functions/domain/errors.ts";
import { int, loadEnv } from "../../shared/config.ts";
import { parseClients } from "./clients.ts";
import { dumpDatabase, dumpS3Client } from "./dumps.ts";
import { run, userIds } from "../../shared/proc.ts";

/** The server, as a restore uses it. */
export interface Pg {
  /** A psql script as the superuser, connected to `postgres`; rejects at the first error. */
  sql(script: string): Promise<string>;
  /** pg_restore reading a custom-format dump on stdin into `database`, its objects made as `role`. */
  restore(database: string, role: string): ChildProcess;
  /** pg_dump of `database` in the custom format, on stdout. */
  dump(database: string): ChildProcess;
}

const notFound = (e: unknown) => ["NoSuchKey", "NotFound"].includes((e as { name?: string }).name ?? "");

async function text(s3: S3Client, bucket: string, key: string): Promise<string> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return r.Body!.transformToString();
}

/** The valid dumps below `prefix` (of one database, or all), newest first, at most `limit`. */
export async function listDumps(opts: {
  s3: S3Client;
  bucket: string;
  prefix: string;
  database?: string | undefined;
  limit: number;
}): Promise<{ dumps: DumpEntry[]; partial: number; more: number }> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await opts.s3.send(
      new ListObjectsV2Command({
        Bucket: opts.bucket,
        Prefix: opts.prefix + (opts.database ? `${opts.database}/` : ""),
        ContinuationToken: token,
      }),
    );
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  const { dumps, partial } = pairDumps(opts.prefix, keys);
  const shown = dumps.slice(0, opts.limit);
  const entries = await Promise.all(
    shown.map(async (d): Promise<DumpEntry | undefined> => {
      try {
        const m = checkManifest(await text(opts.s3, opts.bucket, manifestKey(d.key)), d.key, d.database);
        return { database: m.database, key: m.key, bytes: m.bytes, finishedAt: m.finishedAt };
      } catch (e) {
        // A manifest that does not describe its dump makes it no valid dump: counted, not offered.
        if (e instanceof RefusedError) return undefined;
        throw e;
      }
    }),
  );
  const valid = entries.filter((e): e is DumpEntry => e !== undefined);
  return { dumps: valid, partial: partial + shown.length - valid.length, more: dumps.length - shown.length };
}

export interface RestoreResult {
  database: string;
  key: string;
  /** Where the database that was replaced now is (null when there was none). */
  aside: string | null;
  bytes: number;
  ms: number;
  /** Where the time went: checks (manifest, state), the fresh database, pg_restore, the swap. */
  phases?: { checkMs: number; createMs: number; restoreMs: number; swapMs: number };
  /** A retry of a restore that already finished: nothing was done again. */
  already: boolean;
}

const q = (name: string) => `"${name}"`;

/** Feed `body` to pg_restore's stdin while hashing it; the hash covers every byte even if pg_restore stops early. */
function restoreStream(body: Readable, child: ChildProcess) {
  const hash = createHash("sha256");
  let bytes = 0;
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  // pg_restore may exit before reading everything (it failed): the rest is still read and hashed.
  child.stdin!.on("error", () => {});
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
  const read = new Promise<void>((resolve, reject) => {
    body.on("data", (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
      if (!child.stdin!.writableEnded && !child.stdin!.destroyed && !child.stdin!.write(d)) {
        body.pause();
        child.stdin!.once("drain", () => body.resume());
      }
    });
    // A stopped pg_restore never drains: reading goes on without it.
    void exited.then(() => body.resume());
    body.on("end", () => {
      child.stdin!.end();
      resolve();
    });
    body.on("error", reject);
  });
  return Promise.all([read, exited]).then(([, code]) => ({
    code,
    bytes,
    sha256: hash.digest("hex"),
    stderr: stderr.trim(),
  }));
}

/**
 * Restore `database` from the dump at `key`. Refused, with nothing changed: a key that is not one
 * of this service's dumps of that database, a dump with no manifest or a manifest that describes
 * another object, bytes that do not match the manifest, a dump pg_restore cannot restore whole.
 * A retry with the same `id` after the restore finished does nothing.
 */
export async function restoreDatabase(opts: {
  s3: S3Client;
  bucket: string;
  prefix: string;
  database: string;
  key: string;
  id: string;
  pg: Pg;
  now: Date;
}): Promise<RestoreResult> {
  const t0 = Date.now();
  const { database: db, key, pg } = opts;
  if (!RESTORE_ID.test(opts.id)) throw new ConfigError(`restore id '${opts.id}': 6-64 of a-z 0-9 '-'`);
  checkDumpKey(opts.prefix, db, key);
  const names = restoreNames(db, opts.now);
  // The manifest and the server's state are read at once (two round trips in the time of one).
  const [raw, stateText] = await Promise.all([
    text(opts.s3, opts.bucket, manifestKey(key)).catch((e: unknown) => {
      if (!notFound(e)) throw e;
      throw new RefusedError(`${key} has no manifest: it is not a complete dump; nothing was changed`);
    }),
    pg.sql(
      `SELECT json_build_object('exists', EXISTS (SELECT FROM pg_database WHERE datname = '${db}'), ` +
        `'role', EXISTS (SELECT FROM pg_roles WHERE rolname = '${db}'), ` +
        `'comment', (SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '${db}'))`,
    ),
  ]);
  const manifest = checkManifest(raw, key, db);
  const mark = `devcluster restore ${opts.id} of ${key}`;
  const state = z
    .object({ exists: z.boolean(), role: z.boolean(), comment: z.string().nullable() })
    .parse(JSON.parse(stateText));
  if (state.comment === mark)
    return { database: db, key, aside: null, bytes: manifest.bytes, ms: Date.now() - t0, already: true };
  if (!state.role)
    throw new RefusedError(
      `no role ${db}: this database service has not made client ${db} (CLIENTS); nothing was changed`,
    );

  const t1 = Date.now();
  // A fresh database owned by the client; one left by an interrupted restore was never in use.
  const dropStaging = () => pg.sql(`DROP DATABASE IF EXISTS ${q(names.staging)} WITH (FORCE);`);
  let t2: number;
  try {
    // One psql for both: DROP and CREATE DATABASE each run on their own, outside a transaction.
    await pg.sql(
      `DROP DATABASE IF EXISTS ${q(names.staging)} WITH (FORCE);\n` +
        `CREATE DATABASE ${q(names.staging)} OWNER ${q(db)} TEMPLATE template0;\n` +
        `REVOKE ALL ON DATABASE ${q(names.staging)} FROM PUBLIC;`,
    );
    t2 = Date.now();
    // Asked for only now: a response left unread while the database is made could be closed by S3.
    const obj = await opts.s3.send(new GetObjectCommand({ Bucket: opts.bucket, Key: key }));
    const r = await restoreStream(obj.Body as Readable, pg.restore(names.staging, db));
    if (r.bytes !== manifest.bytes || r.sha256 !== manifest.sha256)
      throw new RefusedError(
        `${key} does not match its manifest (${r.bytes} bytes, SHA-256 ${r.sha256.slice(0, 12)}..., ` +
          `expected ${manifest.bytes} bytes, ${manifest.sha256.slice(0, 12)}...): corrupt or changed; nothing was changed`,
      );
    if (r.code !== 0)
      throw new RefusedError(
        `pg_restore of ${key} exited ${r.code}: ${r.stderr.slice(-1500)}; nothing was changed`,
      );
  } catch (e) {
    await dropStaging().catch(() => {});
    if (notFound(e)) throw new RefusedError(`${key} is gone (expired?); nothing was changed`);
    throw e;
  }

  const t3 = Date.now();
  // The swap: the current database closed to new sessions and emptied of old ones, then both
  // renames in one transaction (all or nothing), so the name never points at a partial restore.
  const swap = [
    "\\set ON_ERROR_STOP on",
    ...(state.exists
      ? [
          `ALTER DATABASE ${q(db)} ALLOW_CONNECTIONS false;`,
          `SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid();`,
        ]
      : []),
    "BEGIN;",
    ...(state.exists
      ? [
          `ALTER DATABASE ${q(db)} RENAME TO ${q(names.aside)};`,
          `ALTER DATABASE ${q(names.aside)} ALLOW_CONNECTIONS true;`,
        ]
      : []),
    `ALTER DATABASE ${q(names.staging)} RENAME TO ${q(db)};`,
    `COMMENT ON DATABASE ${q(db)} IS '${mark}';`,
    "COMMIT;",
  ].join("\n");
  try {
    await pg.sql(swap);
  } catch (e) {
    if (state.exists) await pg.sql(`ALTER DATABASE ${q(db)} ALLOW_CONNECTIONS true;`).catch(() => {});
    await dropStaging().catch(() => {});
    throw new Error(
      `restore of ${db}: the swap failed, the current database is in place: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return {
    database: db,
    key,
    aside: state.exists ? names.aside : null,
    bytes: manifest.bytes,
    ms: Date.now() - t0,
    phases: { checkMs: t1 - t0, createMs: t2 - t1, restoreMs: t3 - t2, swapMs: Date.now() - t3 },
    already: false,
  };
}

const ToolEnv = z.object({
  CLUSTER: z.string().regex(/^[a-z][a-z0-9-]*$/),
  SERVICE: z.string().regex(/^[a-z][a-z0-9-]*$/),
  DUMP_BUCKET: z.string({ error: "required: the snapshot bucket (DUMP_BUCKET)" }).min(3),
  PORT: int(1, 65535, 5432),
  PG_BIN: z.string().default("/usr/lib/postgresql/17/bin"),
  SOCKET_DIR: z.string().default("/run/postgresql"),
  PG_USER: z.string().default("postgres"),
  S3_FORCE_PATH_STYLE: z.string().optional(),
});

/** The server on its socket, as the superuser (peer: the server's Unix user). */
export function socketPg(env: { PG_BIN: string; SOCKET_DIR: string; PORT: number; PG_USER: string }): Pg {
  const ids = userIds(env.PG_USER);
  const conn = ["-h", env.SOCKET_DIR, "-p", String(env.PORT), "-U", "postgres"];
  return {
    sql: (script) =>
      run(
        `${env.PG_BIN}/psql`,
        ["-X", "-q", "-tA", ...conn, "-d", "postgres", "-v", "ON_ERROR_STOP=1"],
        ids,
        script,
      ),
    restore: (database, role) =>
      spawn(
        `${env.PG_BIN}/pg_restore`,
        [...conn, "-d", database, "--no-owner", `--role=${role}`, "--single-transaction", "--exit-on-error"],
        { ...ids, stdio: ["pipe", "ignore", "pipe"], env: { PATH: process.env.PATH, LANG: "C.UTF-8" } },
      ),
    dump: (database) =>
      spawn(`${env.PG_BIN}/pg_dump`, ["-Fc", ...conn, "-d", database], {
        ...ids,
        stdio: ["ignore", "pipe", "pipe"],
      }),
  };
}

const TOOL_USAGE =
  "main.mjs dumps [<client>] [--limit N] | dump <client> | restore <client> <key> --id <id>: one JSON line on stdout";

/**
 * `main.mjs dumps|restore ...`, or the same arguments through the running program's control socket:
 * one JSON line (the answer, or `{"error", "refused"}`) on stdout or to `write`; exit 0, 3 when
 * refused (bad input or an unfit dump: nothing changed), 1 when it failed.
 */
export async function dumpTool(
  argv: string[],
  write: (line: string) => void = (line) => process.stdout.write(line + "\n"),
  client?: S3Client,
): Promise<number> {
  const say = (x: unknown) => write(JSON.stringify(x));
  try {
    const env = loadEnv(ToolEnv);
    const s3 = client ?? dumpS3Client(env.S3_FORCE_PATH_STYLE === "true");
    const prefix = dumpPrefix(env.CLUSTER, env.SERVICE);
    const [verb, ...rest] = argv;
    const flag = (name: string) => {
      const i = rest.indexOf(name);
      if (i < 0) return undefined;
      const v = rest[i + 1];
      if (v === undefined) throw new ConfigError(`${name} needs a value; ${TOOL_USAGE}`);
      rest.splice(i, 2);
      return v;
    };
    const clientDb = (service: string | undefined) => {
      const [c, ...more] = parseClients(service);
      if (!c || more.length) throw new ConfigError(`name one client service; ${TOOL_USAGE}`);
      return c.name;
    };
    if (verb === "dumps") {
      const limit = Number(flag("--limit") ?? 100);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ConfigError("--limit: 1 to 500");
      if (rest.length > 1) throw new ConfigError(TOOL_USAGE);
      const database = rest[0] === undefined ? undefined : clientDb(rest[0]);
      say({
        service: env.SERVICE,
        ...(await listDumps({ s3, bucket: env.DUMP_BUCKET, prefix, database, limit })),
      });
      return 0;
    }
    if (verb === "dump") {
      // A dump now (before a risky change, say), the same as the scheduled one.
      if (rest.length !== 1) throw new ConfigError(TOOL_USAGE);
      const database = clientDb(rest[0]);
      const t0 = Date.now();
      const m = await dumpDatabase({
        s3,
        bucket: env.DUMP_BUCKET,
        key: dumpKey(prefix, database, new Date()),
        database,
        start: () => socketPg(env).dump(database),
      });
      say({ ...m, ms: Date.now() - t0 });
      return 0;
    }
    if (verb === "restore") {
      const id = flag("--id");
      if (!id || rest.length !== 2) throw new ConfigError(TOOL_USAGE);
      say(
        await restoreDatabase({
          s3,
          bucket: env.DUMP_BUCKET,
          prefix,
          database: clientDb(rest[0]),
          key: rest[1]!,
          id,
          pg: socketPg(env),
          now: new Date(),
        }),
      );
      return 0;
    }
    throw new ConfigError(TOOL_USAGE);
  } catch (e) {
    const refused = e instanceof UserError || e instanceof ConfigError;
    say({ error: e instanceof Error ? e.message : String(e), refused });
    return refused ? 3 : 1;
  }
}
