// opensearch: a node of the data nodes' search cluster. It runs the real OpenSearch server (its jars
// and modules from Maven Central) with its data on the service's volume, and finds its peers through
// etcd: the transport addresses presence announces for the service are written to the seed hosts
// file OpenSearch's file-based discovery reads (and re-reads), kept current while it runs. Instance 1
// bootstraps a new cluster; the others join it. No secret is involved: the cluster has no sign-in
// (the security plugin is not among the jars), so it listens on the node's private address only.
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { followPeers, startJvm } from "../../shared/dataService.ts";
import { programLogger } from "../../shared/log.ts";
import { userIds } from "../../shared/proc.ts";
import { runProgram } from "../../shared/run.ts";
import { clusterSettings, seedHosts } from "./settings.ts";

const log = programLogger("opensearch");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  HTTP_PORT: int(1, 65535, 8920),
  TRANSPORT_PORT: int(1, 65535, 8930),
  CLUSTER: z
    .string({ error: "required: the cluster's name" })
    .regex(/^[a-z][a-z0-9-]*$/, "the cluster's name"),
  SERVICE: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, "a service name")
    .default("opensearch"),
  /** This unit's instance (`%i`): the node's name is `<service>-<instance>`; instance 1 bootstraps. */
  INSTANCE: z.string().regex(/^[a-z0-9-]{1,32}$/, "the unit's instance (%i)"),
  HEAP_MB: int(128, 65536, 512),
  ETCD_ENDPOINTS: etcdEndpoints,
  VOLUME_DIR: z.string().default("/data"),
  HOME_DIR: z.string().default("/usr/share/opensearch"),
  CONFIG_DIR: z.string().default("/run/opensearch/config"),
  JAVA: z.string().default("/usr/bin/java"),
  RUN_AS: z.string().default("opensearch"),
});

/** What the program keeps on the volume; anything else there is not ours. */
const OURS = new Set(["nodes", "lost+found"]);

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const ids = userIds(env.RUN_AS);
  if (!existsSync(env.VOLUME_DIR))
    throw new Error(`${env.VOLUME_DIR} does not exist: the service's volume is not mounted`);
  const foreign = readdirSync(env.VOLUME_DIR).filter((e) => !OURS.has(e));
  if (foreign.length)
    throw new Error(
      `${env.VOLUME_DIR} holds files that are not OpenSearch's (${foreign.slice(0, 5).join(", ")}); refusing to start over them`,
    );
  const fresh = !existsSync(join(env.VOLUME_DIR, "nodes"));
  chownSync(env.VOLUME_DIR, ids.uid, ids.gid);
  mkdirSync(env.CONFIG_DIR, { recursive: true });
  const nodeName = `${env.SERVICE}-${env.INSTANCE}`;
  const yml = clusterSettings({
    cluster: `${env.CLUSTER}-${env.SERVICE}`,
    nodeName,
    address: env.LISTEN_ADDRESS,
    httpPort: env.HTTP_PORT,
    transportPort: env.TRANSPORT_PORT,
    dataDir: env.VOLUME_DIR,
    // Only a node that has never been part of a cluster may bootstrap one, and only instance 1.
    bootstrap: fresh && env.INSTANCE === "1",
  });
  writeFileSync(join(env.CONFIG_DIR, "opensearch.yml"), yml);
  writeFileSync(join(env.CONFIG_DIR, "unicast_hosts.txt"), "");
  writeFileSync(
    join(env.CONFIG_DIR, "log4j2.properties"),
    readFileSync(join(env.HOME_DIR, "config", "log4j2.properties")),
  );
  chownSync(env.CONFIG_DIR, ids.uid, ids.gid);

  // The peers: every announced instance's transport address but this node's own, written whole to a
  // new file renamed over the old one (OpenSearch re-reads it at each discovery round).
  const peersFile = join(env.CONFIG_DIR, "unicast_hosts.txt");
  const follower = await followPeers({
    etcdEndpoints: env.ETCD_ENDPOINTS,
    service: env.SERVICE,
    peersOf: (instances) => seedHosts(instances, { self: env.LISTEN_ADDRESS, portName: "transport" }),
    onPeers: (peers) => {
      writeFileSync(`${peersFile}.new`, peers.map((p) => `${p}\n`).join(""));
      renameSync(`${peersFile}.new`, peersFile);
      log.info("peers", { code: "peers", peers });
    },
    applied: [],
    log,
  });

  const lib = join(env.HOME_DIR, "lib");
  const jvm = startJvm({
    name: "opensearch",
    java: env.JAVA,
    heapMb: env.HEAP_MB,
    options: [
      "-XX:G1ReservePercent=25",
      "-XX:InitiatingHeapOccupancyPercent=30",
      "-Xss1m",
      "-Djava.awt.headless=true",
      "-Dfile.encoding=UTF-8",
      "-Djna.nosys=true",
      "-XX:-OmitStackTraceInFastThrow",
      "-Dio.netty.noUnsafe=true",
      "-Dio.netty.noKeySetOptimization=true",
      "-Dio.netty.recycler.maxCapacityPerThread=0",
      "-Dlog4j.shutdownHookEnabled=false",
      "-Dlog4j2.disable.jmx=true",
      "-Djava.locale.providers=SPI,COMPAT",
      // OpenSearch 2 runs under the Java security manager, which Java 18+ allows only when asked.
      "-Djava.security.manager=allow",
      "-Djava.io.tmpdir=/tmp",
      "-XX:+HeapDumpOnOutOfMemoryError",
      "-XX:HeapDumpPath=/tmp",
      `-Dopensearch.path.home=${env.HOME_DIR}`,
      `-Dopensearch.path.conf=${env.CONFIG_DIR}`,
      "-Dopensearch.distribution.type=tar",
      "-Dopensearch.bundled_jdk=false",
    ],
    classpath: `${lib}/*`,
    mainClass: "org.opensearch.bootstrap.OpenSearch",
    ids,
    cwd: env.HOME_DIR,
  });
  const up = await pollUntil(
    async () => {
      jvm.checkRunning();
      const r = await fetch(`http://${env.LISTEN_ADDRESS}:${env.HTTP_PORT}/`, {
        signal: AbortSignal.timeout(2000),
      }).catch(() => undefined);
      return r?.ok || undefined;
    },
    { timeoutMs: 300_000, intervalMs: 500 },
  );
  if (!up) throw new Error("opensearch did not answer within 300 s");
  log.info("listening", {
    code: "listening",
    address: env.LISTEN_ADDRESS,
    http: env.HTTP_PORT,
    transport: env.TRANSPORT_PORT,
    node: nodeName,
    bootstrapped: fresh && env.INSTANCE === "1",
  });
  return {
    failed: jvm.failed,
    stop: async () => {
      await follower.close();
      await jvm.stop();
    },
  };
});
