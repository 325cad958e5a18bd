// The service's keys in its own Postgres database (named in postgres's CLIENTS), reached through its
// ambassador with the password the database service keeps in SSM. Each statement runs through
// Debian's psql with values passed as psql variables (quoted by psql), as the notes client does.
import type { SSMClient } from "@aws-sdk/client-ssm";
import { psqlClient, type DbSettings } from "../../shared/psql.ts";

export { Unavailable } from "../../shared/psql.ts";

export interface StoredKey {
  id: string;
  user: string;
  fingerprint: string;
  line: string;
  added: string;
}

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
  const psql = psqlClient(ssm, db, appName);
  let schemaReady = false;

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
