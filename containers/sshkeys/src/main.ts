// sshkeys: the SSH-key self-service. ROLE=app (behind sign-in) is the page and JSON API where a user
// adds and removes their own keys and admins put users in and out of the pool's groups; it believes
// X-Remote-User/X-Remote-Groups only from the front doors announced in etcd. ROLE=lists (public) is
// what hosts call without an account: each user's keys and every account, as lists signed with the
// ed25519 key kept in SSM (made once), and that key's public half. Keys live in the service's own
// Postgres database; users and groups are the pool's.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { InvalidInputError, NotFoundError, UserError } from "../../../functions/domain/errors.ts";
import { SERVICE_NAME } from "../../../functions/domain/presence.ts";
import {
  MAX_KEYS_PER_USER,
  keyListFor,
  parseGroupChange,
  parseKeyId,
  type PoolUser,
} from "../../../functions/domain/sshKeyAccounts.ts";
import { KEY_LIST_TTL_S, signKeyList } from "../../../functions/domain/sshKeyList.ts";
import { parseSshPublicKey } from "../../../functions/domain/sshKeys.ts";
import { cognitoUserDirectory } from "../../../functions/adapters/aws/cognitoUsers.ts";
import { ensureListSigningKey } from "../../../functions/adapters/aws/ssmListSigningKey.ts";
import { setGroup } from "../../../functions/operations/users.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { followFrontDoors, type FrontDoors } from "../../shared/frontDoors.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { PAGE } from "./page.ts";
import { keyStore, Unavailable, type StoredKey } from "./store.ts";

const log = programLogger("sshkeys");

const Env = z.object({
  ROLE: z.enum(["app", "lists"], { error: "ROLE: app (the page, behind sign-in) or lists (public)" }),
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8099),
  CLUSTER: z
    .string({ error: "required: the cluster's name" })
    .regex(/^[a-z][a-z0-9-]{0,30}$/, "a cluster name"),
  USER_POOL_ID: z.string({ error: "required: the cluster's user pool" }).regex(/^[\w-]+_[0-9a-zA-Z]+$/),
  DB_HOST: z.string().default("127.0.0.1"),
  DB_PORT: int(1, 65535, 15433),
  DB_NAME: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,62}$/, "a database name")
    .default("sshkeys"),
  DB_PASSWORD_PARAM: z.string({ error: "required: the SSM parameter (SecureString) of the password" }),
  ETCD_ENDPOINTS: etcdEndpoints,
  FRONT_DOOR_SERVICE: z.string().regex(SERVICE_NAME, "a service name").default("nginx"),
  /** Where the lists role answers, shown on the page so users and admins find the public key. */
  LISTS_URL: z.string().optional(),
  /** How long the lists role keeps the pool's users: Cognito's read quotas are per account, and a login asks once. */
  DIRECTORY_CACHE_S: int(0, 300, 30),
  DEBOUNCE_MS: int(0, 60_000, 200),
});

const BODY_LIMIT = 32 * 1024;
const ADMINS = "admins";

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/.test(req.headers["content-type"] ?? ""))
    // A form from another site cannot send JSON without the browser asking first (CORS).
    return Promise.reject(new HttpError(415, "send application/json"));
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        reject(new HttpError(413, `a request holds at most ${BODY_LIMIT} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new HttpError(400, "the body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body) + "\n");
};

const describeKey = (k: StoredKey) => {
  const p = parseSshPublicKey(k.line);
  return {
    id: k.id,
    type: p.type,
    bits: p.bits,
    fingerprint: k.fingerprint,
    comment: p.comment,
    added: k.added,
  };
};

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const ssm = new SSMClient({ maxAttempts: 3 });
  const directory = cognitoUserDirectory(
    new CognitoIdentityProviderClient({ maxAttempts: 3 }),
    env.USER_POOL_ID,
  );
  const store = keyStore(
    ssm,
    { host: env.DB_HOST, port: env.DB_PORT, name: env.DB_NAME, passwordParam: env.DB_PASSWORD_PARAM },
    `sshkeys-${env.ROLE}`,
  );
  // The schema is made at start when the database answers; until it does, each request tries again.
  await store
    .ensureSchema()
    .catch((e: unknown) => log.warn("schema.deferred", { error: (e as Error).message }));

  const closers: (() => Promise<void>)[] = [];
  let handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;

  if (env.ROLE === "lists") {
    const signing = await ensureListSigningKey(ssm, env.CLUSTER, { kmsKeyId: clusterKeyAlias(env.CLUSTER) });
    log.info("signing_key", { code: "signing_key", action: signing.action });
    // The pool's users, read again once DIRECTORY_CACHE_S passed; meanwhile the last good read
    // answers, so no request waits for the pool except the first (a read is one call per user).
    let known: { at: number; users: PoolUser[] } | undefined;
    let reading: Promise<PoolUser[]> | undefined;
    const readPool = () =>
      (reading ??= directory
        .listUsers()
        .then((users) => {
          known = { at: Date.now(), users };
          return users;
        })
        .catch((e: unknown) => {
          log.warn("pool.read_failed", { code: "pool.read_failed", error: (e as Error).message });
          throw e;
        })
        .finally(() => (reading = undefined)));
    const poolUsers = async (): Promise<PoolUser[]> => {
      const age = known ? Date.now() - known.at : Infinity;
      // A read older than the list's own validity is not served while the pool cannot be read.
      if (age >= KEY_LIST_TTL_S * 1000) return readPool();
      if (age >= env.DIRECTORY_CACHE_S * 1000) readPool().catch(() => undefined);
      return known!.users;
    };
    const list = async (res: ServerResponse, subject: string) => {
      const [users, keys] = await Promise.all([
        poolUsers(),
        subject === "*" ? store.allKeys() : store.keysOf(subject),
      ]);
      const byUser = new Map<string, string[]>();
      for (const k of keys) byUser.set(k.user, [...(byUser.get(k.user) ?? []), k.line]);
      const text = signKeyList(
        keyListFor(subject, users, (u) => byUser.get(u) ?? [], Math.floor(Date.now() / 1000)),
        signing.privateKeyPem,
      );
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
      res.end(text);
    };
    handle = async (req, res) => {
      const path = (req.url ?? "/").split("?")[0]!;
      if (path === "/healthz") return send(res, 200, { ok: true });
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.setHeader("allow", "GET");
        return send(res, 405, { error: "method not allowed" });
      }
      if (path === "/v1/public-key") {
        res.writeHead(200, { "content-type": "application/x-pem-file" });
        return void res.end(signing.publicKeyPem);
      }
      if (path === "/v1/accounts") return list(res, "*");
      const m = /^\/v1\/keys\/([^/]+)$/.exec(path);
      if (m) return list(res, decodeURIComponent(m[1]!));
      return send(res, 404, { error: "not found" });
    };
  } else {
    const etcd = etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv());
    const doors: FrontDoors = followFrontDoors(etcd, env.FRONT_DOOR_SERVICE, {
      debounceMs: env.DEBOUNCE_MS,
      log,
    });
    closers.push(async () => {
      await doors.close();
      etcd.close();
    });
    handle = async (req, res) => {
      const path = (req.url ?? "/").split("?")[0]!;
      if (path === "/healthz") return send(res, 200, { ok: true });
      // Only a front door says who is asking (it replaces whatever a client sent); anyone else is
      // refused before a header is read.
      if (!doors.has(req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? ""))
        return send(res, 403, { error: "only through the front door" });
      const user = String(req.headers["x-remote-user"] ?? "");
      if (!user) return send(res, 401, { error: "sign in first" });
      const groups = String(req.headers["x-remote-groups"] ?? "")
        .split(/[ ,]+/)
        .filter(Boolean);
      const admin = groups.includes(ADMINS);
      const method = req.method ?? "GET";
      if (path === "/" && method === "GET") {
        res.writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "content-security-policy":
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
        });
        return void res.end(PAGE);
      }
      if (path === "/api/me" && method === "GET") {
        const keys = (await store.keysOf(user)).map(describeKey);
        return send(res, 200, { user, groups, admin, keys, listsUrl: env.LISTS_URL ?? null });
      }
      if (path === "/api/keys" && method === "POST") {
        const body = (await readJson(req)) as { key?: unknown };
        if (typeof body?.key !== "string") throw new InvalidInputError("key: the public key's one line");
        const key = parseSshPublicKey(body.key);
        const r = await store.add(user, key.fingerprint, key.line, MAX_KEYS_PER_USER);
        if (r.result === "full")
          throw new HttpError(409, `you have ${MAX_KEYS_PER_USER} keys already: remove one first`);
        log.info("key.added", {
          code: r.result === "added" ? "key.added" : "key.kept",
          user,
          fingerprint: key.fingerprint,
        });
        return send(res, r.result === "added" ? 201 : 200, {
          added: r.result === "added",
          key: {
            id: r.id,
            type: key.type,
            bits: key.bits,
            fingerprint: key.fingerprint,
            comment: key.comment,
          },
        });
      }
      const del = /^\/api\/keys\/([^/]+)$/.exec(path);
      if (del && method === "DELETE") {
        const id = parseKeyId(decodeURIComponent(del[1]!));
        const r = await store.remove(user, id);
        if (r === "other") {
          log.warn("key.remove_refused", { code: "key.remove_refused", user, id });
          throw new HttpError(403, `key ${id} is not yours: you may remove only your own keys`);
        }
        if (r === "none") throw new HttpError(404, `no key ${id}`);
        log.info("key.removed", { code: "key.removed", user, id });
        return send(res, 200, { removed: id });
      }
      if (path === "/api/users" || path === "/api/groups") {
        if (!admin) throw new HttpError(403, `only members of ${ADMINS} manage groups`);
        if (path === "/api/users" && method === "GET") {
          const [users, poolGroups] = await Promise.all([directory.listUsers(), directory.listGroups()]);
          return send(res, 200, {
            users: users.map((u) => ({
              name: u.name,
              enabled: u.enabled,
              status: u.status,
              groups: u.groups,
            })),
            groups: poolGroups,
          });
        }
        if (path === "/api/groups" && method === "POST") {
          const change = parseGroupChange(await readJson(req));
          const r = await setGroup(directory, change.action, change.user, change.group);
          log.info("group.changed", { code: "group.change", by: user, ...change, changed: r.changed });
          return send(res, 200, r);
        }
      }
      return send(res, 404, { error: "not found" });
    };
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = e as Error;
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      if (err instanceof URIError) return send(res, 400, { error: "a malformed path" });
      if (err instanceof NotFoundError) return send(res, 404, { error: err.message });
      if (err instanceof UserError) return send(res, 400, { error: err.message });
      const unavailable = err instanceof Unavailable;
      log[unavailable ? "warn" : "error"]("request.failed", { error: err.message });
      send(res, unavailable ? 503 : 500, { error: unavailable ? err.message : "internal error" });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.PORT, env.LISTEN_ADDRESS, () => resolve());
  });
  log.info("listening", { code: "listening", role: env.ROLE, address: env.LISTEN_ADDRESS, port: env.PORT });
  return {
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of closers) await c();
    },
  };
});
