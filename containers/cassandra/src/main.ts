// cassandra: a node of the data nodes' Cassandra ring. It runs Cassandra's daemon (cassandra-all and
// its dependencies from Maven Central) with its data on the service's volume; its seeds are the
// storage addresses presence announces for the service in etcd, written into cassandra.yaml (which
// Cassandra's seed provider reads again) and kept current. Sign-in is by password: the first start
// makes the `admin` superuser with a password generated once in SSM and locks the default one.
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SSMClient } from "@aws-sdk/client-ssm";
import { auth, Client } from "cassandra-driver";
import { z } from "zod";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { checkPassword } from "../../shared/dbClients.ts";
import { followPeers, startJvm } from "../../shared/dataService.ts";
import { programLogger } from "../../shared/log.ts";
import { userIds } from "../../shared/proc.ts";
import { runProgram } from "../../shared/run.ts";
import { cassandraYaml, seedAddresses } from "./settings.ts";

const log = programLogger("cassandra");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  CQL_PORT: int(1, 65535, 8942),
  STORAGE_PORT: int(1, 65535, 8700),
  CLUSTER: z
    .string({ error: "required: the cluster's name" })
    .regex(/^[a-z][a-z0-9-]*$/, "the cluster's name"),
  SERVICE: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, "a service name")
    .default("cassandra"),
  HEAP_MB: int(256, 65536, 1024),
  ETCD_ENDPOINTS: etcdEndpoints,
  VOLUME_DIR: z.string().default("/data"),
  HOME_DIR: z.string().default("/usr/share/cassandra"),
  CONFIG_DIR: z.string().default("/run/cassandra/conf"),
  JAVA: z.string().default("/usr/bin/java"),
  RUN_AS: z.string().default("cassandra"),
});

const OURS = new Set(["data", "commitlog", "saved_caches", "hints", "cdc_raw", "lost+found"]);
export const ADMIN_ROLE = "admin";
export const cassandraPasswordParameter = (cluster: string, service: string) =>
  `/devcluster/${cluster}/db/${service}/${ADMIN_ROLE}/password`;

/** What Cassandra's own start script passes to a Java 11+ JVM so its libraries may reach JDK internals. */
const jdkModuleOptions = [
  // Cassandra installs a security manager for user functions; Java 18+ allows that only when asked.
  "-Djava.security.manager=allow",
  "-Djdk.attach.allowAttachSelf=true",
  "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
  "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
  "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
  "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
  "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
  "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
  "--add-exports=java.sql/java.sql=ALL-UNNAMED",
  "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
  "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
  "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
  "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
  "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
  "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
  "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
  "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
  "--add-opens=java.base/java.io=ALL-UNNAMED",
  "--add-opens=java.base/java.nio=ALL-UNNAMED",
  "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
  "--add-opens=java.base/java.lang=ALL-UNNAMED",
  "--add-opens=java.base/java.util=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
  "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
];

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const ids = userIds(env.RUN_AS);
  if (!existsSync(env.VOLUME_DIR))
    throw new Error(`${env.VOLUME_DIR} does not exist: the service's volume is not mounted`);
  const foreign = readdirSync(env.VOLUME_DIR).filter((e) => !OURS.has(e));
  if (foreign.length)
    throw new Error(
      `${env.VOLUME_DIR} holds files that are not Cassandra's (${foreign.slice(0, 5).join(", ")}); refusing to start over them`,
    );
  const parameter = cassandraPasswordParameter(env.CLUSTER, env.SERVICE);
  const ssm = new SSMClient({ maxAttempts: 5 });
  const password = await ssmSecretOnce(ssm, {
    name: parameter,
    make: () => randomBytes(32).toString("base64url"),
    check: (v) => checkPassword(v, parameter),
    description: `devcluster ${env.SERVICE}: the admin superuser's password (generated once)`,
    kmsKeyId: clusterKeyAlias(env.CLUSTER),
  });
  if (password.created) log.info("password.created", { code: "password.created", parameter });

  for (const d of OURS) if (d !== "lost+found") mkdirSync(join(env.VOLUME_DIR, d), { recursive: true });
  for (const d of [
    env.VOLUME_DIR,
    ...[...OURS].filter((d) => d !== "lost+found").map((d) => join(env.VOLUME_DIR, d)),
  ])
    chownSync(d, ids.uid, ids.gid);
  mkdirSync(env.CONFIG_DIR, { recursive: true });
  const writeYaml = (seeds: string[]) => {
    const tmp = join(env.CONFIG_DIR, "cassandra.yaml.new");
    writeFileSync(
      tmp,
      cassandraYaml({
        cluster: `${env.CLUSTER}-${env.SERVICE}`,
        address: env.LISTEN_ADDRESS,
        cqlPort: env.CQL_PORT,
        storagePort: env.STORAGE_PORT,
        dataDir: env.VOLUME_DIR,
        seeds,
      }),
    );
    renameSync(tmp, join(env.CONFIG_DIR, "cassandra.yaml"));
  };

  const follower = await followPeers({
    etcdEndpoints: env.ETCD_ENDPOINTS,
    service: env.SERVICE,
    peersOf: (instances) => seedAddresses(instances, env.LISTEN_ADDRESS, "storage", env.STORAGE_PORT),
    onPeers: (seeds) => {
      writeYaml(seeds);
      log.info("seeds", { code: "seeds", seeds });
    },
    log,
  });

  const lib = join(env.HOME_DIR, "lib");
  const jvm = startJvm({
    name: "cassandra",
    java: env.JAVA,
    heapMb: env.HEAP_MB,
    options: [
      "-Xss256k",
      // A JVM out of memory stops rather than go on with a half-working node (Cassandra's advice).
      "-XX:+ExitOnOutOfMemoryError",
      "-Djava.net.preferIPv4Stack=true",
      "-Dcassandra.jmx.local.port=7199",
      `-Dcassandra.config=file://${join(env.CONFIG_DIR, "cassandra.yaml")}`,
      `-Dcassandra.storagedir=${env.VOLUME_DIR}`,
      "-Dcassandra-foreground=yes",
      `-Dlogback.configurationFile=${join(env.HOME_DIR, "conf", "logback.xml")}`,
      ...jdkModuleOptions,
    ],
    classpath: `${join(env.HOME_DIR, "conf")}:${lib}/*`,
    mainClass: "org.apache.cassandra.service.CassandraDaemon",
    ids,
    cwd: env.HOME_DIR,
  });

  // CQL answers once the node joined; the default superuser exists only on a new cluster.
  const signIn = (user: string, pass: string) =>
    new Client({
      contactPoints: [`${env.LISTEN_ADDRESS}:${env.CQL_PORT}`],
      localDataCenter: "datacenter1",
      authProvider: new auth.PlainTextAuthProvider(user, pass),
    });
  const ready = await pollUntil(
    async () => {
      jvm.checkRunning();
      for (const [user, pass] of [
        [ADMIN_ROLE, password.value],
        ["cassandra", "cassandra"],
      ] as const) {
        const c = signIn(user, pass);
        try {
          await c.connect();
          return { client: c, user };
        } catch {
          await c.shutdown().catch(() => {});
        }
      }
      return undefined;
    },
    { timeoutMs: 600_000, intervalMs: 2000 },
  );
  if (!ready) throw new Error("cassandra did not answer CQL within 600 s");
  if (ready.user === "cassandra") {
    // A new cluster: our superuser in, the well-known one locked (a random password, no login). CQL
    // takes no bind marker for a password, so it is written in the statement as a literal (it holds
    // no quote: checkPassword) and kept out of any error the statement's failure reports.
    const locked = randomBytes(32).toString("base64url");
    const run = async (c: Client, statement: string) => {
      try {
        await c.execute(statement);
      } catch (e) {
        const text = e instanceof Error ? e.message : String(e);
        // eslint-disable-next-line preserve-caught-error -- the original's message may quote a password
        throw new Error(text.replaceAll(password.value, "***").replaceAll(locked, "***"));
      }
    };
    await run(
      ready.client,
      `CREATE ROLE IF NOT EXISTS ${ADMIN_ROLE} WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = '${password.value}'`,
    );
    await ready.client.shutdown();
    const admin = signIn(ADMIN_ROLE, password.value);
    await admin.connect();
    await run(
      admin,
      `ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false AND PASSWORD = '${locked}'`,
    );
    await admin.shutdown();
    // Cassandra keeps signed-in credentials in a cache for a while (credentials_validity, 2 s by
    // default), so the old password keeps working briefly: only once it is refused is the node ready.
    const refused = await pollUntil(
      async () => {
        const c = signIn("cassandra", "cassandra");
        try {
          await c.connect();
          return undefined;
        } catch {
          return true;
        } finally {
          await c.shutdown().catch(() => {});
        }
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    if (!refused)
      throw new Error("the default superuser 'cassandra' still signs in 60 s after it was locked");
    log.info("admin.created", { code: "admin.created", role: ADMIN_ROLE });
  } else {
    await ready.client.shutdown();
  }
  log.info("listening", {
    code: "listening",
    address: env.LISTEN_ADDRESS,
    cql: env.CQL_PORT,
    storage: env.STORAGE_PORT,
  });
  return {
    failed: jvm.failed,
    stop: async () => {
      await follower.close();
      await jvm.stop();
    },
  };
});
