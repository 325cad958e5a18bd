// buildbot: runs Buildbot 4.3 (from PyPI, in the image's venv). ROLE=master: the master on the
// service's volume with its database in the cluster's Postgres (password from SSM), each worker's
// password made once in SSM, the web UI behind a gate that lets in only the announced front doors
// (they set X-Remote-User) and the node itself. ROLE=worker: a Linux worker that logs in to the
// master with its password from SSM. A missing secret stops the start, naming the parameter.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { ConfigError } from "../../../functions/domain/errors.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { followFrontDoors } from "../../shared/frontDoors.ts";
import { programLogger } from "../../shared/log.ts";
import { userIds } from "../../shared/proc.ts";
import { runProgram, type Running } from "../../shared/run.ts";
import {
  callerAllowed,
  masterSettings,
  parseWorkers,
  PASSWORD,
  WORKER_NAME,
  workerPasswordParameter,
  type WorkerSettings,
} from "./config.ts";

const log = programLogger("buildbot");
const CLUSTER = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "the cluster's name");
const PARAM = z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/, "an SSM parameter name");

const Common = {
  CLUSTER,
  /** How long a start waits for a secret another service makes (a new cluster starts all at once). */
  WAIT_SECONDS: int(0, 600, 90),
  HOME_DIR: z.string().default("/opt/buildbot"),
  RUN_DIR: z.string().default("/run/buildbot"),
  USER: z.string().default("buildbot"),
};

const MasterEnv = z.object({
  ...Common,
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  /** The gate in front of the web UI: the port presence announces and the front door reaches. */
  HTTP_PORT: int(1, 65535, 8010),
  /** Buildbot's own web server, on the node's loopback only: the gate forwards to it. */
  WWW_ADDRESS: z.ipv4().default("127.0.0.1"),
  WWW_PORT: int(1, 65535, 8011),
  /** Where workers log in (the front door's stream port forwards here). */
  WORKER_PORT: int(1, 65535, 8989),
  DOMAIN: z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, "a DNS name (the cluster's domain)"),
  DB_HOST: z.string().default("127.0.0.1"),
  DB_PORT: int(1, 65535, 15432),
  DB_NAME: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,62}$/, "a database name")
    .default("buildbot"),
  DB_PASSWORD_PARAM: PARAM,
  WORKERS: z.string({ error: "required: the workers' names, comma-separated" }),
  ETCD_ENDPOINTS: etcdEndpoints,
  FRONT_DOOR_SERVICE: z.string().default("nginx"),
  DEBOUNCE_MS: int(0, 60_000, 200),
  /** The volume: the master's base directory is <VOLUME_DIR>/master. */
  VOLUME_DIR: z.string().default("/var/lib/buildbot"),
});

const WorkerEnv = z.object({
  ...Common,
  WORKER_NAME: z.string().regex(WORKER_NAME, "a worker name (a-z, 0-9, -)"),
  /** The master's worker port: its ambassador on the node. */
  MASTER_HOST: z.string().default("127.0.0.1"),
  MASTER_PORT: int(1, 65535, 19989),
  BASE_DIR: z.string().default("/var/lib/buildbot-worker"),
  /** Where presence asks whether the worker is logged in to its master (200) or not (503). */
  HEALTH_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  HEALTH_PORT: int(1, 65535, 8990),
});

/** A secret another service makes: waited for, then the start fails naming the parameter. */
async function waitForSecret(ssm: SSMClient, name: string, waitSeconds: number, maker: string) {
  const read = async () => {
    try {
      return (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value;
    } catch (e) {
      if ((e as { name?: string }).name !== "ParameterNotFound") throw e;
      return undefined;
    }
  };
  let logged = false;
  const v = await pollUntil(
    async () => {
      const got = await read();
      if (got === undefined && !logged) {
        logged = true;
        log.info("secret.waiting", { code: "secret.waiting", parameter: name, seconds: waitSeconds });
      }
      return got;
    },
    { timeoutMs: waitSeconds * 1000, intervalMs: 2000 },
  );
  if (v === undefined) throw new ConfigError(`missing secret: SSM parameter ${name} (${maker})`);
  if (!PASSWORD.test(v))
    throw new ConfigError(
      `SSM parameter ${name} holds no usable password (24-256 of A-Z a-z 0-9 _ - + / = . ~)`,
    );
  return v;
}

/** A file only the buildbot user reads, in the run directory (never on the volume). */
function writeSecretFile(dir: string, file: string, text: string, ids: { uid: number; gid: number }) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, ids.uid, ids.gid);
  const path = join(dir, file);
  writeFileSync(path, text, { mode: 0o600 });
  chownSync(path, ids.uid, ids.gid);
  return path;
}

/** twistd in the foreground as the buildbot user; resolves once `ready` matches its output. */
function twistd(o: {
  home: string;
  basedir: string;
  ids: { uid: number; gid: number };
  env: Record<string, string>;
  ready: RegExp;
  what: string;
  onOutput?: (text: string) => void;
}): { child: ChildProcess; ready: Promise<void>; exited: Promise<number | null> } {
  const child = spawn(
    join(o.home, "venv/bin/twistd"),
    ["--nodaemon", "--no_save", "--pidfile=", "--python=buildbot.tac"],
    {
      cwd: o.basedir,
      ...o.ids,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: `${join(o.home, "venv/bin")}:${process.env.PATH}`,
        HOME: o.basedir,
        LANG: "C.UTF-8",
        ...o.env,
      },
    },
  );
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const relay = (to: NodeJS.WriteStream) => (c: Buffer) => {
    const text = c.toString("utf8");
    to.write(text);
    if (o.ready.test(text)) ready();
    o.onOutput?.(text);
  };
  child.stdout!.on("data", relay(process.stdout));
  child.stderr!.on("data", relay(process.stderr));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  child.on("error", (e) => log.error("spawn.failed", { what: o.what, error: e.message }));
  return { child, ready: readyP, exited };
}

/** Runs a started twistd until stopped; an exit on its own is a failure. */
function supervise(
  t: ReturnType<typeof twistd>,
  what: string,
  extraStop: () => Promise<void> = async () => {},
) {
  let stopping = false;
  const failed = t.exited.then((code) =>
    stopping ? new Promise<never>(() => {}) : Promise.reject(new Error(`${what} exited (${code})`)),
  );
  failed.catch(() => {});
  return {
    failed,
    stop: async () => {
      stopping = true;
      await extraStop();
      if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill("SIGTERM");
      await t.exited;
    },
  };
}

/**
 * The web UI's gate: a TCP relay from the node's private address to Buildbot's loopback port that
 * answers 403 to any caller but the front doors and the node (Buildbot trusts X-Remote-User as it
 * comes; the front door strips a user's own and sets it).
 */
function webGate(o: {
  listen: string;
  port: number;
  to: { host: string; port: number };
  allowed: (a?: string) => boolean;
}) {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    if (!o.allowed(client.remoteAddress)) {
      log.warn("caller.not_front_door", { code: "caller.not_front_door", address: client.remoteAddress });
      const body = '{"code":"caller.not_front_door","error":"only the front doors reach this service"}\n';
      // Answered once its request arrived (closing on unread data would reset the connection
      // before the client reads the answer); whatever else it sends is read and dropped.
      client.on("error", () => {});
      client.setTimeout(5000, () => client.destroy());
      client.once("data", () =>
        client.end(
          `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        ),
      );
      client.resume();
      return;
    }
    const upstream = connect(o.to.port, o.to.host);
    open.add(client);
    open.add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", done).on("close", done);
    upstream.on("error", done).on("close", done);
    client.pipe(upstream).pipe(client);
  });
  return {
    listen: () =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(o.port, o.listen, () => resolve());
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

async function startMaster(): Promise<Running> {
  const env = loadEnv(MasterEnv);
  let workers: string[];
  try {
    workers = parseWorkers(env.WORKERS);
  } catch (e) {
    throw new ConfigError(`invalid or missing configuration: WORKERS: ${(e as Error).message}`);
  }
  if (!existsSync(env.VOLUME_DIR))
    throw new Error(`${env.VOLUME_DIR} does not exist: the service's volume is not mounted`);
  const ids = userIds(env.USER);
  const ssm = new SSMClient({ maxAttempts: 5 });
  const dbPassword = await waitForSecret(
    ssm,
    env.DB_PASSWORD_PARAM,
    env.WAIT_SECONDS,
    "the database service makes it for each service in its CLIENTS",
  );
  const passwords: { name: string; password: string }[] = [];
  for (const name of workers) {
    const parameter = workerPasswordParameter(env.CLUSTER, name);
    const p = await ssmSecretOnce(ssm, {
      name: parameter,
      make: () => randomBytes(24).toString("base64url"),
      check: (v) => {
        if (!PASSWORD.test(v)) throw new Error(`${parameter} holds no usable password`);
        return v;
      },
      description: `devcluster buildbot: the password of worker ${name} (generated once)`,
      kmsKeyId: clusterKeyAlias(env.CLUSTER),
    });
    if (p.created)
      log.info("worker.password_created", { code: "worker.password_created", worker: name, parameter });
    passwords.push({ name, password: p.value });
  }
  const settings = masterSettings({
    domain: env.DOMAIN,
    db: { host: env.DB_HOST, port: env.DB_PORT, name: env.DB_NAME, user: env.DB_NAME, password: dbPassword },
    worker: { address: env.LISTEN_ADDRESS, port: env.WORKER_PORT },
    www: { address: env.WWW_ADDRESS, port: env.WWW_PORT },
    workers: passwords,
  });
  const settingsFile = writeSecretFile(env.RUN_DIR, "master.json", JSON.stringify(settings), ids);

  const basedir = join(env.VOLUME_DIR, "master");
  const fresh = !existsSync(basedir);
  mkdirSync(basedir, { recursive: true });
  chownSync(env.VOLUME_DIR, ids.uid, ids.gid);
  chownSync(basedir, ids.uid, ids.gid);
  copyFileSync(join(env.HOME_DIR, "master.tac"), join(basedir, "buildbot.tac"));
  chownSync(join(basedir, "buildbot.tac"), ids.uid, ids.gid);
  const pyEnv = { BUILDBOT_SETTINGS: settingsFile, BUILDBOT_BASEDIR: basedir };
  // Makes the schema in an empty database and migrates an older one; a no-op otherwise.
  const t0 = performance.now();
  await runAs(env.HOME_DIR, ["buildbot", "upgrade-master", basedir], ids, pyEnv, [
    dbPassword,
    encodeURIComponent(dbPassword),
  ]);
  log.info("database.ready", {
    code: "database.ready",
    fresh,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  });

  const master = twistd({
    home: env.HOME_DIR,
    basedir,
    ids,
    env: pyEnv,
    ready: /BuildMaster is running/,
    what: "buildbot master",
  });
  const running = supervise(master, "buildbot master");
  await Promise.race([master.ready, running.failed]);

  const etcd = etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv());
  const doors = followFrontDoors(etcd, env.FRONT_DOOR_SERVICE, { debounceMs: env.DEBOUNCE_MS, log });
  const gate = webGate({
    listen: env.LISTEN_ADDRESS,
    port: env.HTTP_PORT,
    to: { host: env.WWW_ADDRESS, port: env.WWW_PORT },
    allowed: (a) => callerAllowed(a, env.LISTEN_ADDRESS, (x) => doors.has(x)),
  });
  await gate.listen();
  log.info("listening", {
    code: "listening",
    http: `${env.LISTEN_ADDRESS}:${env.HTTP_PORT}`,
    workers: `${env.LISTEN_ADDRESS}:${env.WORKER_PORT}`,
    workerNames: workers,
  });
  return {
    failed: running.failed,
    stop: async () => {
      await gate.close();
      await doors.close();
      etcd.close();
      await running.stop();
    },
  };
}

/** A command of the venv as the buildbot user to its end; its output (passwords redacted) on failure. */
function runAs(
  home: string,
  [cmd, ...args]: string[],
  ids: { uid: number; gid: number },
  extraEnv: Record<string, string>,
  redact: string[],
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(home, "venv/bin", cmd!), args, {
      ...ids,
      cwd: extraEnv.BUILDBOT_BASEDIR ?? home,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: `${join(home, "venv/bin")}:${process.env.PATH}`,
        LANG: "C.UTF-8",
        HOME: home,
        ...extraEnv,
      },
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const text = redact.reduce((t, s) => t.replaceAll(s, "***"), out.trim());
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args[0] ?? ""} exited ${code}: ${text.slice(-2000)}`));
    });
  });
}

async function startWorker(): Promise<Running> {
  const env = loadEnv(WorkerEnv);
  const ids = userIds(env.USER);
  const ssm = new SSMClient({ maxAttempts: 5 });
  const parameter = workerPasswordParameter(env.CLUSTER, env.WORKER_NAME);
  const password = await waitForSecret(
    ssm,
    parameter,
    env.WAIT_SECONDS,
    `the Buildbot master makes it for each name in its WORKERS; is ${env.WORKER_NAME} there?`,
  );
  const settings: WorkerSettings = {
    host: env.MASTER_HOST,
    port: env.MASTER_PORT,
    name: env.WORKER_NAME,
    password,
    basedir: env.BASE_DIR,
  };
  const settingsFile = writeSecretFile(env.RUN_DIR, "worker.json", JSON.stringify(settings), ids);
  mkdirSync(join(env.BASE_DIR, "info"), { recursive: true });
  writeFileSync(join(env.BASE_DIR, "info", "admin"), "devcluster <admins>\n");
  writeFileSync(join(env.BASE_DIR, "info", "host"), `devcluster Linux worker ${env.WORKER_NAME}\n`);
  copyFileSync(join(env.HOME_DIR, "worker.tac"), join(env.BASE_DIR, "buildbot.tac"));
  for (const p of [env.BASE_DIR, join(env.BASE_DIR, "info"), join(env.BASE_DIR, "buildbot.tac")])
    chownSync(p, ids.uid, ids.gid);
  // Logged in or not: the worker's own log says when it connects and when it loses its master.
  let connected = false;
  const worker = twistd({
    home: env.HOME_DIR,
    basedir: env.BASE_DIR,
    ids,
    env: { BUILDBOT_WORKER_SETTINGS: settingsFile },
    ready: WORKER_CONNECTED,
    what: "buildbot worker",
    onOutput: (text) => {
      const was = connected;
      if (WORKER_CONNECTED.test(text)) connected = true;
      else if (WORKER_LOST.test(text)) connected = false;
      if (was !== connected)
        log.info(connected ? "connected" : "disconnected", {
          code: connected ? "connected" : "disconnected",
          worker: env.WORKER_NAME,
        });
    },
  });
  const health = createHttpServer((req, res) => {
    const ok = req.url === "/healthz" && connected;
    res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ worker: env.WORKER_NAME, connected }) + "\n");
  });
  await new Promise<void>((resolve, reject) => {
    health.once("error", reject);
    health.listen(env.HEALTH_PORT, env.HEALTH_ADDRESS, () => resolve());
  });
  log.info("started", {
    code: "started",
    worker: env.WORKER_NAME,
    master: `${env.MASTER_HOST}:${env.MASTER_PORT}`,
    health: `${env.HEALTH_ADDRESS}:${env.HEALTH_PORT}`,
  });
  return supervise(worker, "buildbot worker", () => new Promise<void>((r) => health.close(() => r())));
}

/** What the worker logs when its master accepted it, and when the connection is gone. */
const WORKER_CONNECTED = /Connected to .*; worker is ready/;
const WORKER_LOST = /lost remote(?! step)|Connection to .* (lost|failed)|Connection was refused/;

await runProgram(log, async () => {
  const role = process.env.ROLE ?? "master";
  if (role === "master") return startMaster();
  if (role === "worker") return startWorker();
  throw new ConfigError(
    `invalid or missing configuration: ROLE: "master" or "worker", not ${JSON.stringify(role)}`,
  );
});
