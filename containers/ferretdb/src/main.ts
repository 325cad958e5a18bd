// ferretdb: the data nodes' MongoDB-compatible document store. FerretDB (a MongoDB wire-compatible
// server, not MongoDB) on its SQLite backend, its files on the service's volume, with SCRAM
// authentication: one administrator whose password is generated once and kept in SSM Parameter Store
// (SecureString). The program checks the volume, reads or makes the password, and runs the server as
// the ferretdb user on the node's private address, where presence announces it.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { int, loadEnv } from "../../shared/config.ts";
import { checkPassword } from "../../shared/dbClients.ts";
import { programLogger } from "../../shared/log.ts";
import { userIds } from "../../shared/proc.ts";
import { runProgram } from "../../shared/run.ts";

const log = programLogger("ferretdb");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8217),
  CLUSTER: z
    .string({ error: "required: the cluster's name (the password's parameter)" })
    .regex(/^[a-z][a-z0-9-]*$/, "the cluster's name"),
  SERVICE: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, "a service name")
    .default("ferretdb"),
  /** The volume's mount point in the container: `sqlite/` holds the databases, `state/` FerretDB's own state. */
  VOLUME_DIR: z.string().default("/data"),
  FERRETDB_BIN: z.string().default("/usr/local/bin/ferretdb"),
  /** The Unix user the server runs as (a fixed uid in the image, so the volume's files keep their owner). */
  RUN_AS: z.string().default("ferretdb"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

/** The administrator's name and the database its user lives in (`authSource`). */
export const ADMIN_USER = "admin";
export const ADMIN_DATABASE = "admin";
/** What the program keeps on the volume; anything else there is not ours. */
const OURS = new Set(["sqlite", "state", "lost+found"]);

/** Where the administrator's password lives: below db/, beside the other database services'. */
export const ferretdbPasswordParameter = (cluster: string, service: string) =>
  `/devcluster/${cluster}/db/${service}/${ADMIN_USER}/password`;

/** Resolves once `host:port` accepts a connection. */
const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const ids = userIds(env.RUN_AS);
  if (!existsSync(env.VOLUME_DIR))
    throw new Error(`${env.VOLUME_DIR} does not exist: the service's volume is not mounted`);
  const foreign = readdirSync(env.VOLUME_DIR).filter((e) => !OURS.has(e));
  if (foreign.length)
    throw new Error(
      `${env.VOLUME_DIR} holds files that are not FerretDB's (${foreign.slice(0, 5).join(", ")}); refusing to start over them`,
    );
  // The password first: a parameter that cannot be read or made stops the start before any file is
  // made, and the error names it.
  const parameter = ferretdbPasswordParameter(env.CLUSTER, env.SERVICE);
  const ssm = new SSMClient({ maxAttempts: 5 });
  const password = await ssmSecretOnce(ssm, {
    name: parameter,
    make: () => randomBytes(32).toString("base64url"),
    check: (v) => checkPassword(v, parameter),
    description: `devcluster ${env.SERVICE}: the administrator's password (generated once)`,
    kmsKeyId: clusterKeyAlias(env.CLUSTER),
  });
  if (password.created) log.info("password.created", { code: "password.created", parameter });

  const sqliteDir = join(env.VOLUME_DIR, "sqlite");
  const stateDir = join(env.VOLUME_DIR, "state");
  const fresh = !existsSync(sqliteDir);
  for (const d of [sqliteDir, stateDir]) {
    mkdirSync(d, { recursive: true });
    chownSync(d, ids.uid, ids.gid);
  }
  log.info(fresh ? "datadir.created" : "datadir.found", {
    code: fresh ? "datadir.created" : "datadir.found",
    dir: sqliteDir,
  });

  // The administrator is made by FerretDB itself at its first start (the `admin` database does not
  // exist yet); later starts find it and leave it as it is. The password reaches the server in its
  // environment (readable only by its own user and root), never in its arguments or a file.
  const server = spawn(
    env.FERRETDB_BIN,
    [
      "--handler=sqlite",
      `--sqlite-url=file:${sqliteDir}/`,
      `--state-dir=${stateDir}`,
      `--listen-addr=${env.LISTEN_ADDRESS}:${env.PORT}`,
      // No debug listener: it would take the same 127.0.0.1 port on every node of a host.
      "--debug-addr=-",
      // Nothing leaves the cluster: no reports to FerretDB's telemetry service.
      "--telemetry=disable",
      "--log-format=json",
      `--log-level=${env.LOG_LEVEL}`,
      "--test-enable-new-auth",
      `--setup-database=${ADMIN_DATABASE}`,
      `--setup-username=${ADMIN_USER}`,
    ],
    {
      ...ids,
      stdio: ["ignore", "inherit", "inherit"],
      env: { PATH: process.env.PATH, FERRETDB_SETUP_PASSWORD: password.value },
    },
  );
  const exited = new Promise<string>((resolve) =>
    server.once("exit", (code, signal) => resolve(String(code ?? signal))),
  );
  let stopping = false;
  const up = await pollUntil(
    async () => {
      if (server.exitCode !== null || server.signalCode !== null)
        throw new Error(`ferretdb exited (${server.exitCode ?? server.signalCode}) while starting`);
      return (await accepts(env.LISTEN_ADDRESS, env.PORT)) || undefined;
    },
    { timeoutMs: 120_000, intervalMs: 200 },
  );
  if (!up) throw new Error("ferretdb did not listen within 120 s");
  log.info("listening", {
    code: "listening",
    address: env.LISTEN_ADDRESS,
    port: env.PORT,
    backend: "sqlite",
    user: ADMIN_USER,
  });
  const failed = exited.then((how) =>
    stopping ? new Promise<never>(() => {}) : Promise.reject(new Error(`ferretdb exited (${how})`)),
  );
  return {
    failed,
    stop: async () => {
      stopping = true;
      if (server.exitCode === null && server.signalCode === null) server.kill("SIGTERM");
      await exited;
    },
  };
});
