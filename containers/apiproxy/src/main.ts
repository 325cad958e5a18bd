// apiproxy: calls paid third-party APIs for signed-in users with the team's purchased keys. Routes
// come from the catalog (`ApiRoute=`), keys from SSM SecureStrings, answers to GET are cached and
// calls counted per user in the cluster's Redis (through the ambassador), every call is audited.
// Listens on the node's private address and serves only the front doors announced in etcd, whose
// X-Remote-User/X-Remote-Groups headers it trusts.
import { createServer } from "node:http";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Redis } from "ioredis";
import { z } from "zod";
import { apiKeyParameterName, decodeApiRoutes, type ApiRoute } from "../../../functions/domain/apiRoutes.ts";
import { ConfigError } from "../../../functions/domain/errors.ts";
import { SERVICE_NAME } from "../../../functions/domain/presence.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { followFrontDoors } from "../../shared/frontDoors.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { createProxy, type KeyStore, type ProxyStore } from "./proxy.ts";

const log = programLogger("apiproxy");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8097),
  CLUSTER: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "the cluster's name"),
  /** The unit's ApiRoute= lines, one per line, base64url (none: the service runs with no route). */
  API_ROUTES: z.string().default(""),
  REDIS_HOST: z.string().default("127.0.0.1"),
  REDIS_PORT: int(1, 65535, 16379),
  REDIS_PASSWORD_PARAM: z.string({ error: "required: the SSM parameter of the cache's password" }),
  /** How long a read key (or its absence) is trusted before SSM is asked again. */
  KEY_CACHE_SECONDS: int(0, 3600, 60),
  ETCD_ENDPOINTS: etcdEndpoints,
  /** The service whose announced instances are the front doors. */
  FRONT_DOOR_SERVICE: z.string().regex(SERVICE_NAME, "a service name").default("nginx"),
  MISSING_KEY_CACHE_SECONDS: int(0, 3600, 5),
});

/** Keys from SSM, kept in memory a short while so a call does not wait on SSM each time. */
function ssmKeys(ssm: SSMClient, cluster: string, hitMs: number, missMs: number): KeyStore {
  const memo = new Map<string, { value: string | undefined; until: number }>();
  return {
    async keyOf(route) {
      const m = memo.get(route);
      if (m && m.until > Date.now()) return m.value;
      let value: string | undefined;
      try {
        const r = await ssm.send(
          new GetParameterCommand({ Name: apiKeyParameterName(cluster, route), WithDecryption: true }),
        );
        value = r.Parameter?.Value || undefined;
      } catch (e) {
        if ((e as { name?: string }).name !== "ParameterNotFound") throw e;
      }
      memo.set(route, { value, until: Date.now() + (value ? hitMs : missMs) });
      return value;
    },
  };
}

function redisStore(redis: Redis): ProxyStore {
  return {
    async getAnswer(key) {
      return (await redis.getBuffer(key)) ?? undefined;
    },
    async putAnswer(key, value, ttl) {
      await redis.set(key, value, "EX", ttl);
    },
    async countCall(bucket, ttl) {
      // One round trip: the count and its expiry are set together, so no counter outlives its window.
      const r = await redis.multi().incr(bucket).expire(bucket, ttl, "NX").exec();
      const [err, count] = r?.[0] ?? [new Error("no answer"), 0];
      if (err) throw err;
      return Number(count);
    },
  };
}

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const routes = decodeApiRoutes(env.API_ROUTES);
  if (routes.length && typeof routes[0] === "string")
    throw new ConfigError(`invalid API_ROUTES: ${(routes as string[]).join("; ")}`);
  const ssm = new SSMClient({ maxAttempts: 3 });
  const r = await ssm.send(new GetParameterCommand({ Name: env.REDIS_PASSWORD_PARAM, WithDecryption: true }));
  const redis = new Redis({
    host: env.REDIS_HOST,
    port: env.REDIS_PORT,
    password: r.Parameter?.Value ?? "",
    // A call fails fast while the cache is away (the caller gets a 503) instead of queueing.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: (n) => Math.min(n * 200, 2_000),
  });
  redis.on("error", (e: Error) => log.warn("redis.error", { code: "redis.error", error: e.message }));
  const etcd = etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv());
  const doors = followFrontDoors(etcd, env.FRONT_DOOR_SERVICE, { debounceMs: 200, log });
  const proxy = createProxy({
    routes: routes as ApiRoute[],
    fromFrontDoor: (address) => doors.has(address.replace(/^::ffff:/, "")),
    keys: ssmKeys(ssm, env.CLUSTER, env.KEY_CACHE_SECONDS * 1000, env.MISSING_KEY_CACHE_SECONDS * 1000),
    store: redisStore(redis),
    audit: (a) => log.info("audit", { code: "audit", ...a }),
    fault: (code, error) => log.error(code, { code, error }),
  });
  const server = createServer((req, res) => {
    proxy(req, res).catch((e: unknown) => {
      log.error("request.crashed", { code: "request.crashed", error: (e as Error).message });
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.PORT, env.LISTEN_ADDRESS, () => resolve());
  });
  log.info("listening", {
    code: "listening",
    address: env.LISTEN_ADDRESS,
    port: env.PORT,
    routes: (routes as ApiRoute[]).map((x) => x.name),
  });
  return {
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      redis.disconnect();
      await doors.close();
      etcd.close();
    },
  };
});
