// frontdoor: nginx in front of every announced service. Renders nginx.conf from the presence records
// under /services/, checks each candidate with `nginx -t`, reloads nginx (its child) on change.
import { SERVICES_PREFIX } from "../../../functions/domain/etcdKeys.ts";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { parsePresence, type PresenceIssue } from "../../../functions/domain/presence.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, followPrefix, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { installConfig, preparePrefix, startNginx } from "./nginx.ts";
import { renderNginxConfig, type FrontDoorSettings } from "./render.ts";
import { readTlsFromSsm, writeTlsFiles, type TlsMaterial } from "./tls.ts";

const log = programLogger("frontdoor");

const Env = z
  .object({
    ETCD_ENDPOINTS: etcdEndpoints,
    DOMAIN: z
      .string({ error: "required: the cluster's domain" })
      .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, "a DNS name"),
    LISTEN_ADDRESS: z.ipv4().default("0.0.0.0"),
    HTTP_PORT: int(1, 65535, 80),
    HTTPS_PORT: int(1, 65535, 443),
    TLS_CERT_PARAM: z.string().optional(),
    TLS_KEY_PARAM: z.string().optional(),
    TLS_REFRESH_S: int(10, 86_400, 3600),
    NGINX_BIN: z.string().default("/usr/sbin/nginx"),
    NGINX_MODULES_DIR: z.string().default("/usr/lib/nginx/modules"),
    NGINX_PREFIX: z.string().default("/var/lib/frontdoor"),
    NGINX_USER: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*( [a-z_][a-z0-9_-]*)?$/)
      .optional(),
    DEBOUNCE_MS: int(0, 60_000, 250),
    NGINX_WORKERS: z.coerce.number().int().min(1).max(64).optional(),
  })
  .refine((e) => !e.TLS_CERT_PARAM === !e.TLS_KEY_PARAM, {
    message: "give both TLS_CERT_PARAM and TLS_KEY_PARAM, or neither",
    path: ["TLS_CERT_PARAM"],
  });

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const asRoot = process.getuid?.() === 0;
  // nobody:nogroup in Debian; workers never run as root.
  const user = env.NGINX_USER ?? (asRoot ? "nobody nogroup" : undefined);
  const prefix = env.NGINX_PREFIX;
  preparePrefix(prefix, asRoot && user === "nobody nogroup" ? 65534 : undefined);
  const nginx = { bin: env.NGINX_BIN, prefix };
  const tlsFiles = { certFile: join(prefix, "tls", "cert.pem"), keyFile: join(prefix, "tls", "key.pem") };

  const ssm = env.TLS_CERT_PARAM ? new SSMClient({ maxAttempts: 5 }) : undefined;
  let tls: TlsMaterial | undefined;
  const refreshTls = async (): Promise<boolean> => {
    if (!ssm) return false;
    const next = await readTlsFromSsm(ssm, env.TLS_CERT_PARAM!, env.TLS_KEY_PARAM!);
    if (tls && next.cert === tls.cert && next.key === tls.key) return false;
    writeTlsFiles(next, tlsFiles);
    tls = next;
    log.info("tls.loaded", { code: "tls.loaded", certParam: env.TLS_CERT_PARAM });
    return true;
  };
  // Without its certificate the front door would serve HTTPS names in clear: refuse to start.
  await refreshTls();

  const settings: FrontDoorSettings = {
    domain: env.DOMAIN,
    listenAddress: env.LISTEN_ADDRESS,
    httpPort: env.HTTP_PORT,
    httpsPort: env.HTTPS_PORT,
    prefix,
    modulesDir: env.NGINX_MODULES_DIR,
    ...(tls ? { tls: tlsFiles } : {}),
    ...(user ? { user } : {}),
    // One core is left to the node's services: measured on 2 cores, one worker carried 0.88x the
    // direct throughput at 14.7 ms CPU per 1000 requests, one per core 0.66x at 20.9 ms
    // (docs/BENCHMARKS-frontdoor.md).
    workers: env.NGINX_WORKERS ?? Math.max(1, availableParallelism() - 1),
  };

  let services = parsePresence({}).services;
  let liveText = "";
  let lastIssues = "";
  const apply = async (reason: string) => {
    const r = renderNginxConfig([...services.values()], settings);
    for (const i of r.issues)
      log.warn("route.skipped", { code: i.code, service: i.service, detail: i.detail });
    if (r.text === liveText) return false;
    if (!(await installConfig(nginx, r.text, log))) return false;
    liveText = r.text;
    log.info("config.installed", {
      code: "config.installed",
      reason,
      vhosts: r.vhosts.map((v) => v.host),
      streams: r.streams.map((s) => s.listenPort),
    });
    return true;
  };

  // nginx starts at once with what is known (nothing: every name answers 503), so the node answers
  // even while etcd is out of reach.
  if (!(await apply("start"))) throw new Error("the initial configuration was refused by nginx -t");
  const master = startNginx(nginx, log);

  const reload = async (reason: string) => {
    if (await apply(reason)) {
      master.reload();
      log.info("nginx.reloaded", { code: "nginx.reloaded", reason });
    }
  };

  // One chain: changes and certificate refreshes never render or reload at the same time.
  let chain: Promise<void> = Promise.resolve();
  const serial = (fn: () => Promise<void>) =>
    (chain = chain
      .then(fn)
      .catch((e: unknown) => log.error("reload.failed", { error: (e as Error).message })));

  const etcd = etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv());
  const follower = followPrefix(
    etcd,
    SERVICES_PREFIX,
    (kvs) =>
      serial(async () => {
        const parsed = parsePresence(kvs);
        reportIssues(parsed.issues);
        services = parsed.services;
        await reload("presence");
      }),
    { debounceMs: env.DEBOUNCE_MS, log },
  );
  const reportIssues = (issues: PresenceIssue[]) => {
    const key = JSON.stringify(issues);
    if (key === lastIssues) return;
    lastIssues = key;
    for (const i of issues)
      log.warn("presence.malformed", { code: "presence.malformed", key: i.key, reason: i.reason });
  };

  const tlsTimer = ssm
    ? setInterval(
        () =>
          void serial(async () => {
            if (await refreshTls()) await reload("tls");
          }),
        env.TLS_REFRESH_S * 1000,
      )
    : undefined;

  return {
    failed: master.exited,
    async stop() {
      if (tlsTimer) clearInterval(tlsTimer);
      await follower.close();
      await chain;
      await master.stop();
      etcd.close();
    },
  };
});
