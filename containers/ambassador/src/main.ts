// ambassador: forwards local TCP ports to an upstream service's healthy instances (or its elected
// master), following each service's presence keys in etcd (only that service's prefix).
import { z } from "zod";
import { parsePresence, servicePrefix } from "../../../functions/domain/presence.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, followPrefix, type PrefixFollower, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { routeProxy, type RouteProxy } from "../../shared/tcpProxy.ts";
import { parseUpstreams, targetsOf, type Route } from "./routes.ts";

const log = programLogger("ambassador");

const Env = z.object({
  ETCD_ENDPOINTS: etcdEndpoints,
  UPSTREAMS: z
    .string({ error: "required: <service>[/<portName>]:<localPort>[:master],..." })
    .transform((v, ctx) => {
      try {
        return parseUpstreams(v);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
        return z.NEVER;
      }
    }),
  LISTEN_ADDRESS: z.ipv4().default("127.0.0.1"),
  CONNECT_TIMEOUT_MS: int(100, 60_000, 3000),
  DEBOUNCE_MS: int(0, 60_000, 100),
});

/** How long open connections may go on after SIGTERM. */
const STOP_GRACE_MS = 5000;

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const etcd = etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv());
  const proxies: { route: Route; proxy: RouteProxy }[] = [];
  const followers: PrefixFollower[] = [];
  try {
    for (const route of env.UPSTREAMS) {
      const name = `${route.service}${route.portName ? `/${route.portName}` : ""}:${route.localPort}${route.master ? ":master" : ""}`;
      const proxy = routeProxy({
        name,
        address: env.LISTEN_ADDRESS,
        port: route.localPort,
        connectTimeoutMs: env.CONNECT_TIMEOUT_MS,
        log,
      });
      await proxy.listen();
      proxies.push({ route, proxy });
    }
  } catch (e) {
    await Promise.all(proxies.map((p) => p.proxy.close(0)));
    etcd.close();
    throw e;
  }
  // One follower per service, however many routes use it.
  for (const service of [...new Set(env.UPSTREAMS.map((r) => r.service))]) {
    const mine = proxies.filter((p) => p.route.service === service);
    let lastIssues = "";
    followers.push(
      followPrefix(
        etcd,
        servicePrefix(service),
        (kvs) => {
          const parsed = parsePresence(kvs);
          const issues = JSON.stringify(parsed.issues);
          if (issues !== lastIssues)
            for (const i of parsed.issues)
              log.warn("presence.malformed", { code: "presence.malformed", key: i.key, reason: i.reason });
          lastIssues = issues;
          for (const p of mine) p.proxy.setTargets(targetsOf(p.route, parsed.services.get(service)));
        },
        { debounceMs: env.DEBOUNCE_MS, log },
      ),
    );
  }
  log.info("listening", { code: "ambassador.listening", address: env.LISTEN_ADDRESS, routes: env.UPSTREAMS });

  return {
    async stop() {
      await Promise.all(followers.map((f) => f.close()));
      await Promise.all(proxies.map((p) => p.proxy.close(STOP_GRACE_MS)));
      etcd.close();
    },
  };
});
