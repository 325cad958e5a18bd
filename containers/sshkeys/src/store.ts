// The service's keys in its own Postgres database (named in postgres's CLIENTS), reached through its
// ambassador with the password the database service keeps in SSM. Each statement runs through
// Debian's psql with values passed as psql variables (quoted by psql), as the notes client does.
import { spawn } from "node:child_process";
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";

/** The database is away or not made yet: the request may be tried again (503). */
export class Unavailable extends Error {}

export interface StoredKey {
  id: string;
  user: string;
  fingerprint: string;
  line: string;
  added: string;
}

export interface DbSettings {
  host: string;
  port: number;
  /** The database and its role: the client's name, as the database service makes both. */
  name: string;
  passwordParam: string;
}

const STATEMENT_TIMEOUT_MS = 15_000;

/**
 * Made at every start (and again after a failure): safe to repeat, never drops anything. Both units
 * of the service make it, often at once on a new cluster, and two concurrent CREATE TABLE IF NOT
 * EXISTS collide in Postgres's catalog (a unique violation on pg_type): a transaction-scoped
 * advisory lock lets one make it while the other waits and then finds it.
 */
const SCHEMA = `
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('devcluster sshkeys schema'));
CREATE TABLE IF NOT EXISTS ssh_keys (
  id bigserial PRIMARY KEY,
  username text NOT NULL,
  fingerprint text NOT NULL,
  line text NOT NULL,
  added timestamptz NOT NULL DEFAULT now(),
  UNIQUE (username, fingerprint)
);
COMMIT;`;

const KEY_JSON = `json_build_object('id', id::text, 'user', username, 'fingerprint', fingerprint, 'line', line, 'added', added)`;

export function keyStore(ssm: SSMClient, db: DbSettings, appName: string) {
  let password: string | undefined;
  let schemaReady = false;

  // The database service writes the password on its first start, which may come after ours.
  const readPassword = async () => {
    try {
      const r = await ssm.send(new GetParameterCommand({ Name: db.passwordParam, WithDecryption: true }));
      if (!r.Parameter?.Value) throw new Unavailable(`${db.passwordParam} is empty`);
      return r.Parameter.Value;
    } catch (e) {
      if ((e as Error).name === "ParameterNotFound")
        throw new Unavailable(`${db.passwordParam} not made yet (the database service makes it)`);
      throw e;
    }
  };

  const psql = async (sql: string, vars: Record<string, string> = {}): Promise<string> => {
    password ??= await readPassword();
    const args = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"];
    for (const [k, v] of Object.entries(vars)) args.push("-v", `${k}=${v}`);
    const child = spawn("psql", args, {
      env: {
        PATH: process.env.PATH,
        PGHOST: db.host,
        PGPORT: String(db.port),
        PGDATABASE: db.name,
        PGUSER: db.name,
        PGPASSWORD: password,
        PGCONNECT_TIMEOUT: "5",
        PGOPTIONS: `-c statement_timeout=${STATEMENT_TIMEOUT_MS}`,
        PGAPPNAME: appName,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    child.stdin.end(sql);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", resolve);
    });
    if (code === 0) return out.trim();
    // A refused password is read again next time (the database service sets the stored one at each start).
    if (/password authentication failed/.test(err)) password = undefined;
    if (code === 2) throw new Unavailable(`database not reachable: ${err.trim().split("\n")[0] ?? ""}`);
    throw new Error(`psql exit ${code}: ${err.trim()}`);
  };

  const ready = async () => {
    if (schemaReady) return;
    await psql(SCHEMA);
    schemaReady = true;
  };
  const rows = (text: string) => JSON.parse(text || "[]") as StoredKey[];

  return {
    ensureSchema: ready,
    async keysOf(user: string): Promise<StoredKey[]> {
      await ready();
      return rows(
        await psql(
          `SELECT coalesce(json_agg(${KEY_JSON} ORDER BY id), '[]') FROM ssh_keys WHERE username = :'user';`,
          { user },
        ),
      );
    },
    async allKeys(): Promise<StoredKey[]> {
      await ready();
      return rows(
        await psql(`SELECT coalesce(json_agg(${KEY_JSON} ORDER BY username, id), '[]') FROM ssh_keys;`),
      );
    },
    /**
     * Adds a key (already validated) unless the user has it: "added", "kept" (the same key again)
     * or "full" (at `max` keys already), in one statement so two adds at once cannot pass the limit.
     */
    async add(user: string, fingerprint: string, line: string, max: number) {
      await ready();
      const out = await psql(
        `BEGIN;
LOCK TABLE ssh_keys IN SHARE ROW EXCLUSIVE MODE;
WITH have AS (SELECT id FROM ssh_keys WHERE username = :'user' AND fingerprint = :'fp'),
     n AS (SELECT count(*) AS c FROM ssh_keys WHERE username = :'user'),
     ins AS (
       INSERT INTO ssh_keys (username, fingerprint, line)
       SELECT :'user', :'fp', :'line' WHERE NOT EXISTS (SELECT 1 FROM have) AND (SELECT c FROM n) < :max
       RETURNING id)
SELECT CASE WHEN EXISTS (SELECT 1 FROM ins) THEN 'added ' || (SELECT id FROM ins)
            WHEN EXISTS (SELECT 1 FROM have) THEN 'kept ' || (SELECT id FROM have)
            ELSE 'full' END;
COMMIT;`,
        { user, fp: fingerprint, line, max: String(max) },
      );
      const [result, id] = out.split(/\s+/).filter(Boolean);
      return { result: result as "added" | "kept" | "full", id };
    },
    /** Removes `user`'s key `id`: "removed", "other" (another user's: nothing done) or "none". */
    async remove(user: string, id: string) {
      await ready();
      const out = await psql(
        `WITH d AS (DELETE FROM ssh_keys WHERE id = :'id'::bigint AND username = :'user' RETURNING id)
SELECT CASE WHEN EXISTS (SELECT 1 FROM d) THEN 'removed'
            WHEN EXISTS (SELECT 1 FROM ssh_keys WHERE id = :'id'::bigint) THEN 'other'
            ELSE 'none' END;`,
        { user, id },
      );
      return out as "removed" | "other" | "none";
    },
  };
}

export type KeyStore = ReturnType<typeof keyStore>;
