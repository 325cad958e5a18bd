// postgres: one database service's primary (Debian's PostgreSQL) on the service's volume. It makes
// the cluster on first start (never over existing files), gives each client service its own
// database and role with a password generated once and kept in SSM Parameter Store (SecureString),
// and only then listens on the node's private address, where presence announces it.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { checkPassword, clientsSql, HBA, parseClients, passwordParameter, type Client } from "./clients.ts";
import { initInto, inspectDataDir } from "../../shared/dataDir.ts";
import { dumpDatabase, dumpKey, dumpS3Client } from "./dumps.ts";
import { dumpPrefix } from "../../../functions/domain/databaseDumps.ts";
import { run, userIds } from "../../shared/proc.ts";
import { dumpTool, socketPg } from "./restore.ts";
import { CONTROL_SOCKET, serveControl } from "./controlSocket.ts";

const log = programLogger("postgres");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 5432),
  CLUSTER: z
    .string({ error: "required: the cluster's name (the passwords' parameters)" })
    .regex(/^[a-z][a-z0-9-]*$/),
  SERVICE: z
    .string({ error: "required: this database service's name" })
    .regex(/^[a-z][a-z0-9-]*$/, "a service name"),
  CLIENTS: z.string().optional(),
  /** The volume's mount point in the container; the cluster lives in its `data` folder. */
  VOLUME_DIR: z.string().default("/var/lib/postgresql"),
  PG_BIN: z.string().default("/usr/lib/postgresql/17/bin"),
  SOCKET_DIR: z.string().default("/run/postgresql"),
  /** The Unix user the server runs as (a fixed uid in the image, so the volume's files keep their owner). */
  PG_USER: z.string().default("postgres"),
  /** The snapshot bucket (cluster.env SNAPSHOT_BUCKET): each client database is dumped below db-dumps/. */
  DUMP_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name")
    .optional(),
  DUMP_INTERVAL_S: int(5, 7 * 86_400, 86_400),
  S3_FORCE_PATH_STYLE: z.string().optional(),
});

/** A client's password: the stored one, or a new one stored first (never replaced once stored). */
const ensurePassword = (ssm: SSMClient, name: string, cluster: string) =>
  ssmSecretOnce(ssm, {
    name,
    make: () => randomBytes(32).toString("base64url"),
    check: (v) => checkPassword(v, name),
    description: "devcluster postgres: a client service's database password (generated once)",
    kmsKeyId: clusterKeyAlias(cluster),
  });

// `main.mjs dumps|restore ...`: the operator's dump commands, run in the service's container.
if (process.argv.length > 2) process.exit(await dumpTool(process.argv.slice(2)));

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const clients = parseClients(env.CLIENTS);
  const ids = userIds(env.PG_USER);
  const bin = (p: string) => join(env.PG_BIN, p);
  const dataDir = join(env.VOLUME_DIR, "data");
  if (!existsSync(env.VOLUME_DIR))
    throw new Error(`${env.VOLUME_DIR} does not exist: the service's volume is not mounted`);

  const state = inspectDataDir(dataDir, "PG_VERSION", (f) => readFileSync(f, "utf8"));
  if (state.kind === "foreign")
    throw new Error(
      `${dataDir} holds files that are not a Postgres cluster (${state.entries.join(", ")}); refusing to initialise over them`,
    );
  mkdirSync(env.SOCKET_DIR, { recursive: true });
  chownSync(env.SOCKET_DIR, ids.uid, ids.gid);
  if (state.kind === "empty") {
    chownSync(env.VOLUME_DIR, ids.uid, ids.gid);
    await initInto(dataDir, async (tmp) => {
      await run(
        bin("initdb"),
        [
          "-D",
          tmp,
          "-U",
          "postgres",
          "--auth-local=peer",
          "--auth-host=scram-sha-256",
          "-E",
          "UTF8",
          "--locale=C.UTF-8",
          "--no-instructions",
        ],
        ids,
      );
    });
    log.info("cluster.created", { code: "cluster.created", dir: dataDir });
  } else {
    log.info("cluster.found", { code: "cluster.found", dir: dataDir, version: state.version });
  }
  writeFileSync(join(dataDir, "pg_hba.conf"), HBA, { mode: 0o600 });
  chownSync(join(dataDir, "pg_hba.conf"), ids.uid, ids.gid);

  const common = [
    "-D",
    dataDir,
    "-c",
    `unix_socket_directories=${env.SOCKET_DIR}`,
    "-c",
    `port=${env.PORT}`,
    "-c",
    "password_encryption=scram-sha-256",
  ];
  const startServer = (listen: string): ChildProcess => {
    const server = spawn(bin("postgres"), [...common, "-c", `listen_addresses=${listen}`], {
      ...ids,
      stdio: ["ignore", "inherit", "inherit"],
    });
    return server;
  };
  const ready = async (server: ChildProcess) => {
    const up = await pollUntil(
      async () => {
        if (server.exitCode !== null || server.signalCode !== null)
          throw new Error(`postgres exited (${server.exitCode ?? server.signalCode}) while starting`);
        return run(bin("pg_isready"), ["-q", "-h", env.SOCKET_DIR, "-p", String(env.PORT)], ids).then(
          () => true,
          () => undefined,
        );
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    if (!up) throw new Error("postgres did not become ready within 120 s");
  };
  const stopServer = (server: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (server.exitCode !== null || server.signalCode !== null) return resolve();
      server.once("exit", () => resolve());
      server.kill("SIGINT"); // fast shutdown: clients are disconnected, the data is flushed
    });

  // First on the socket only: clients reach it only once their database and role exist.
  const setup = startServer("");
  try {
    await ready(setup);
    if (clients.length) {
      const ssm = new SSMClient({ maxAttempts: 5 });
      const withPasswords: { client: Client; password: string }[] = [];
      for (const client of clients) {
        const name = passwordParameter(env.CLUSTER, env.SERVICE, client);
        const p = await ensurePassword(ssm, name, env.CLUSTER);
        if (p.created)
          log.info("password.created", { code: "password.created", client: client.service, parameter: name });
        withPasswords.push({ client, password: p.value });
      }
      await run(
        bin("psql"),
        ["-X", "-q", "-h", env.SOCKET_DIR, "-p", String(env.PORT), "-U", "postgres", "-d", "postgres"],
        ids,
        clientsSql(withPasswords),
        withPasswords.map((w) => w.password),
      );
      log.info("clients.ready", { code: "clients.ready", clients: clients.map((c) => c.service) });
    }
  } finally {
    await stopServer(setup);
  }

  const server = startServer(env.LISTEN_ADDRESS);
  await ready(server);
  // The operator's dump commands (control.pl) are served by this program from here on (before `listening`, so a command sent once it is logged reaches it).
  // One S3 client for the program's dumps and the commands it serves: its connections and
  // credentials (the instance role's, fetched from the metadata service on AWS) are reused.
  const s3 = dumpS3Client(env.S3_FORCE_PATH_STYLE === "true");
  const control = await serveControl(CONTROL_SOCKET, async (argv) => {
    const t0 = Date.now();
    let line = "";
    const code = await dumpTool(argv, (l) => (line = l), s3);
    log.info("control.done", { code: "control.done", verb: argv[0], exit: code, ms: Date.now() - t0 });
    return { code, line };
  });

  log.info("listening", { code: "listening", address: env.LISTEN_ADDRESS, port: env.PORT });
  // Logical dumps on a schedule, one database after the other, never two runs at once.
  let dumping = false;
  const pg = socketPg(env);
  const dumpAll = async () => {
    if (dumping || !env.DUMP_BUCKET) return;
    dumping = true;
    try {
      for (const c of clients) {
        const t0 = Date.now();
        const key = dumpKey(dumpPrefix(env.CLUSTER, env.SERVICE), c.name, new Date());
        try {
          const m = await dumpDatabase({
            s3,
            bucket: env.DUMP_BUCKET,
            key,
            database: c.name,
            start: () => pg.dump(c.name),
          });
          log.info("dump.done", {
            code: "dump.done",
            database: c.name,
            key,
            bytes: m.bytes,
            ms: Date.now() - t0,
          });
        } catch (e) {
          log.error("dump.failed", {
            code: "dump.failed",
            database: c.name,
            key,
            error: (e as Error).message,
          });
        }
      }
    } finally {
      dumping = false;
    }
  };
  const dumpTimer =
    env.DUMP_BUCKET && clients.length
      ? setInterval(() => void dumpAll(), env.DUMP_INTERVAL_S * 1000)
      : undefined;
  if (!dumpTimer)
    log.info("dumps.off", { code: "dumps.off", reason: env.DUMP_BUCKET ? "no clients" : "no DUMP_BUCKET" });

  let stopping = false;
  const failed = new Promise<never>((_, reject) =>
    server.once("exit", (code, signal) => {
      if (!stopping) reject(new Error(`postgres exited (${code ?? signal})`));
    }),
  );
  return {
    failed,
    stop: () => {
      stopping = true;
      clearInterval(dumpTimer);
      control.close();
      return stopServer(server);
    },
  };
});
