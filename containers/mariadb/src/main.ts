// mariadb: one MariaDB database service on the service's volume. It makes the data directory on
// first start (never over existing files), sets root's password and gives each client service its
// own database and user, every password generated once and kept in SSM Parameter Store
// (SecureString), and only then listens on the node's private address, where presence announces it.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { int, loadEnv } from "../../shared/config.ts";
import { initInto, inspectDataDir } from "../../shared/dataDir.ts";
import { checkPassword, passwordParameter, type Client } from "../../shared/dbClients.ts";
import { programLogger } from "../../shared/log.ts";
import { run, userIds } from "../../shared/proc.ts";
import { runProgram } from "../../shared/run.ts";
import { ADMIN, clientsSql, parseClients } from "./clients.ts";

const log = programLogger("mariadb");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 3306),
  CLUSTER: z
    .string({ error: "required: the cluster's name (the passwords' parameters)" })
    .regex(/^[a-z][a-z0-9-]*$/),
  SERVICE: z
    .string({ error: "required: this database service's name" })
    .regex(/^[a-z][a-z0-9-]*$/, "a service name"),
  CLIENTS: z.string().optional(),
  /** The volume's mount point in the container; the data directory is its `data` folder. */
  VOLUME_DIR: z.string().default("/var/lib/mysql"),
  SOCKET_DIR: z.string().default("/run/mysqld"),
  /** InnoDB's cache in MiB: the server's main memory use (MariaDB's default is 128). */
  BUFFER_POOL_MB: int(8, 65536, 128),
  /** The Unix user the server runs as (a fixed uid in the image, so the volume's files keep their owner). */
  DB_USER: z.string().default("mysql"),
});

const ensurePassword = (ssm: SSMClient, name: string, cluster: string, what: string) =>
  ssmSecretOnce(ssm, {
    name,
    make: () => randomBytes(32).toString("base64url"),
    check: (v) => checkPassword(v, name),
    description: `devcluster mariadb: ${what} (generated once)`,
    kmsKeyId: clusterKeyAlias(cluster),
  });

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const clients = parseClients(env.CLIENTS);
  const ids = userIds(env.DB_USER);
  const root = { uid: 0, gid: 0 };
  const dataDir = join(env.VOLUME_DIR, "data");
  const socket = join(env.SOCKET_DIR, "mariadbd.sock");
  if (!existsSync(env.VOLUME_DIR))
    throw new Error(`${env.VOLUME_DIR} does not exist: the service's volume is not mounted`);

  // The system schema (`mysql/`) is made by mariadb-install-db only: its presence means our data.
  const state = inspectDataDir(dataDir, "mysql", () => {
    const info = join(dataDir, "mariadb_upgrade_info");
    return existsSync(info) ? readFileSync(info, "utf8") : "";
  });
  if (state.kind === "foreign")
    throw new Error(
      `${dataDir} holds files that are not a MariaDB data directory (${state.entries.join(", ")}); refusing to initialise over them`,
    );
  // Every password first: a parameter that cannot be read or made stops the start before any file
  // is made, and the error names it.
  const ssm = new SSMClient({ maxAttempts: 5 });
  const adminParam = passwordParameter(env.CLUSTER, env.SERVICE, ADMIN);
  const admin = await ensurePassword(ssm, adminParam, env.CLUSTER, "root's password, on the socket only");
  if (admin.created) log.info("password.created", { code: "password.created", parameter: adminParam });
  const withPasswords: { client: Client; password: string }[] = [];
  for (const client of clients) {
    const name = passwordParameter(env.CLUSTER, env.SERVICE, client);
    const p = await ensurePassword(ssm, name, env.CLUSTER, "a client service's database password");
    if (p.created)
      log.info("password.created", { code: "password.created", client: client.service, parameter: name });
    withPasswords.push({ client, password: p.value });
  }

  mkdirSync(env.SOCKET_DIR, { recursive: true });
  chownSync(env.SOCKET_DIR, ids.uid, ids.gid);
  if (state.kind === "empty") {
    chownSync(env.VOLUME_DIR, ids.uid, ids.gid);
    await initInto(dataDir, async (tmp) => {
      mkdirSync(tmp);
      chownSync(tmp, ids.uid, ids.gid);
      await run(
        "mariadb-install-db",
        [
          "--no-defaults",
          `--datadir=${tmp}`,
          `--user=${env.DB_USER}`,
          "--auth-root-authentication-method=socket",
          "--skip-test-db",
        ],
        ids,
      );
    });
    log.info("datadir.created", { code: "datadir.created", dir: dataDir });
  } else {
    log.info("datadir.found", { code: "datadir.found", dir: dataDir, version: state.version });
  }

  // --no-defaults: Debian's /etc/mysql files play no part; every setting is here.
  const common = [
    "--no-defaults",
    `--datadir=${dataDir}`,
    `--socket=${socket}`,
    `--pid-file=${join(env.SOCKET_DIR, "mariadbd.pid")}`,
    `--innodb-buffer-pool-size=${env.BUFFER_POOL_MB}M`,
    "--skip-name-resolve",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
  ];
  const startServer = (network: string[]): ChildProcess =>
    spawn("mariadbd", [...common, ...network], { ...ids, stdio: ["ignore", "inherit", "inherit"] });
  /** As root on the socket: the server's own administrator (unix_socket authentication). */
  const adminSql = (sql: string, redact: string[] = []) =>
    run("mariadb", ["--no-defaults", `--socket=${socket}`, "-u", "root", "--batch"], root, sql, redact);
  const ready = async (server: ChildProcess) => {
    const up = await pollUntil(
      async () => {
        if (server.exitCode !== null || server.signalCode !== null)
          throw new Error(`mariadbd exited (${server.exitCode ?? server.signalCode}) while starting`);
        return adminSql("SELECT 1;").then(
          () => true,
          () => undefined,
        );
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    if (!up) throw new Error("mariadbd did not become ready within 120 s");
  };
  const stopServer = (server: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (server.exitCode !== null || server.signalCode !== null) return resolve();
      server.once("exit", () => resolve());
      server.kill("SIGTERM"); // a normal shutdown: InnoDB flushes and closes cleanly
    });

  // First on the socket only: clients reach it only once their database and user exist.
  const setup = startServer(["--skip-networking"]);
  try {
    await ready(setup);
    await adminSql(clientsSql(admin.value, withPasswords), [
      admin.value,
      ...withPasswords.map((w) => w.password),
    ]);
    log.info("clients.ready", { code: "clients.ready", clients: clients.map((c) => c.service) });
  } finally {
    await stopServer(setup);
  }

  const server = startServer([`--bind-address=${env.LISTEN_ADDRESS}`, `--port=${env.PORT}`]);
  await ready(server);
  log.info("listening", { code: "listening", address: env.LISTEN_ADDRESS, port: env.PORT });

  let stopping = false;
  const failed = new Promise<never>((_, reject) =>
    server.once("exit", (code, signal) => {
      if (!stopping) reject(new Error(`mariadbd exited (${code ?? signal})`));
    }),
  );
  return {
    failed,
    stop: () => {
      stopping = true;
      return stopServer(server);
    },
  };
});
