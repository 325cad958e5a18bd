// phpapp: starts a PHP application behind the front door: reads its database password from SSM
// (made by the database service; a missing parameter stops the start, named), hands it to php-fpm's
// pool as a file only the pool's user reads, and runs php-fpm and nginx, letting in only the front
// doors announced in etcd (they set X-Remote-User), each configuration checked before it is used.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { followFrontDoors } from "../../shared/frontDoors.ts";
import { programLogger } from "../../shared/log.ts";
import { run, userIds } from "../../shared/proc.ts";
import { runProgram } from "../../shared/run.ts";
import { fpmConf, nginxConf, passwordFile, type Paths } from "./config.ts";

const log = programLogger("phpapp");
const NAME = /^[a-z][a-z0-9_-]{0,63}$/;

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8088),
  DB_HOST: z.string().default("127.0.0.1"),
  DB_PORT: int(1, 65535, 13306),
  DB_NAME: z.string({ error: "required: the application's database" }).regex(NAME, "a database name"),
  /** The database user: the database service names it after the client, like its database. */
  DB_USER: z.string().regex(NAME, "a user name").optional(),
  DB_PASSWORD_PARAM: z
    .string({ error: "required: the SSM parameter of the database password" })
    .regex(/^\/[A-Za-z0-9_.\-/]+$/, "an SSM parameter name"),
  ETCD_ENDPOINTS: etcdEndpoints,
  FRONT_DOOR_SERVICE: z.string().regex(NAME, "a service name").default("nginx"),
  DEBOUNCE_MS: int(0, 60_000, 200),
  /** Largest request body nginx accepts (a note is at most 1000 characters). */
  MAX_BODY_KB: int(1, 65_536, 16),
  MAX_CHILDREN: int(1, 256, 4),
  RUN_DIR: z.string().default("/run/phpapp"),
  /** The application's files: `app/` beside this program in the image. */
  APP_DIR: z.string().default(join(import.meta.dirname, "app")),
  FPM_BIN: z.string().default("/usr/sbin/php-fpm8.4"),
  POOL_USER: z.string().default("app"),
});

/** The password, or an error naming the parameter (the database service makes it for its CLIENTS). */
async function readPassword(ssm: SSMClient, name: string): Promise<string> {
  let value: string | undefined;
  try {
    value = (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value;
  } catch (e) {
    if ((e as { name?: string }).name === "ParameterNotFound")
      throw new Error(
        `the database password's parameter ${name} does not exist (the database service makes it for each service in its CLIENTS)`,
        { cause: e },
      );
    throw new Error(`the database password's parameter ${name} cannot be read: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!value || /[\s]/.test(value))
    throw new Error(`the database password's parameter ${name} is empty or malformed`);
  return value;
}

/**
 * Run a server's check of its configuration with the container's stderr as its own (php-fpm opens
 * /proc/self/fd/2 for its log, which a socket pair would refuse); rejects on failure.
 */
const checked = (cmd: string, args: string[]) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: its configuration is refused`)),
    );
  });

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const paths: Paths = { run: env.RUN_DIR, app: env.APP_DIR };
  const root = { uid: 0, gid: 0 };
  const pool = userIds(env.POOL_USER);
  const password = await readPassword(new SSMClient({ maxAttempts: 5 }), env.DB_PASSWORD_PARAM);

  mkdirSync(join(paths.run, "secrets"), { recursive: true });
  chmodSync(paths.run, 0o755);
  // Only the pool's user may enter the folder and read the file; nginx's workers (www-data) may not.
  chownSync(join(paths.run, "secrets"), pool.uid, pool.gid);
  chmodSync(join(paths.run, "secrets"), 0o500);
  writeFileSync(passwordFile(paths), password, { mode: 0o400 });
  chownSync(passwordFile(paths), pool.uid, pool.gid);

  const fpmFile = join(paths.run, "php-fpm.conf");
  writeFileSync(
    fpmFile,
    fpmConf({
      db: { host: env.DB_HOST, port: env.DB_PORT, name: env.DB_NAME, user: env.DB_USER ?? env.DB_NAME },
      paths,
      poolUser: env.POOL_USER,
      maxChildren: env.MAX_CHILDREN,
    }),
  );
  await checked(env.FPM_BIN, ["--test", "--fpm-config", fpmFile]);

  const nginxFile = join(paths.run, "nginx.conf");
  /** Write nginx.conf for `doors` beside the live one, check it, and only then put it in place. */
  const writeNginx = async (doors: string[]) => {
    const text = nginxConf({
      listen: env.LISTEN_ADDRESS,
      port: env.PORT,
      doors,
      paths,
      maxBodyKb: env.MAX_BODY_KB,
    });
    writeFileSync(`${nginxFile}.next`, text);
    await run("nginx", ["-t", "-q", "-c", `${nginxFile}.next`], root);
    renameSync(`${nginxFile}.next`, nginxFile);
  };
  // No front door is known before etcd is read: nobody but the health check gets in.
  await writeNginx([]);

  const started: ChildProcess[] = [];
  const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;
  const stopAll = () =>
    Promise.all(
      started.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (exited(p)) return resolve();
            p.once("exit", () => resolve());
            p.kill("SIGQUIT"); // both finish the requests under way, then exit
          }),
      ),
    );
  let stopping = false;
  const failed = new Promise<never>((_, reject) => {
    const watch = (p: ChildProcess, what: string) =>
      p.once("exit", (code, signal) => {
        if (!stopping) reject(new Error(`${what} exited (${code ?? signal})`));
      });
    const fpm = spawn(env.FPM_BIN, ["--nodaemonize", "--fpm-config", fpmFile], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    started.push(fpm);
    watch(fpm, "php-fpm");
    const nginx = spawn("nginx", ["-c", nginxFile], { stdio: ["ignore", "inherit", "inherit"] });
    started.push(nginx);
    watch(nginx, "nginx");
  });
  failed.catch(() => {});

  const etcd = etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv());
  // Changes are applied one after the other, each checked before nginx reloads it.
  let applying = Promise.resolve();
  const doors = followFrontDoors(etcd, env.FRONT_DOOR_SERVICE, {
    debounceMs: env.DEBOUNCE_MS,
    log,
    onChange: (addresses) => {
      applying = applying.then(async () => {
        try {
          await writeNginx(addresses);
          await run("nginx", ["-c", nginxFile, "-s", "reload"], root);
          log.info("nginx.reloaded", { code: "nginx.reloaded", frontDoors: addresses });
        } catch (e) {
          log.error("nginx.reload_failed", { code: "nginx.reload_failed", error: (e as Error).message });
        }
      });
    },
  });
  log.info("listening", { code: "listening", address: env.LISTEN_ADDRESS, port: env.PORT });

  return {
    failed,
    stop: async () => {
      stopping = true;
      await doors.close();
      etcd.close();
      await applying;
      await stopAll();
    },
  };
});
