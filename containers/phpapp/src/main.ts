// phpapp: starts a PHP application behind the front door: reads its database password from SSM
// (made by the database service; a missing parameter stops the start, named), hands it to php-fpm's
// pool as a file only the pool's user reads, and runs php-fpm and nginx, letting in only the front
// doors announced in etcd (they set X-Remote-User), each configuration checked before it is used.
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { userIds } from "../../shared/proc.ts";
import { servePhpSite } from "../../shared/phpSite.ts";
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

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const paths: Paths = { run: env.RUN_DIR, app: env.APP_DIR };
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
  return servePhpSite({
    log,
    fpmBin: env.FPM_BIN,
    fpmFile,
    nginxFile: join(paths.run, "nginx.conf"),
    nginxConf: (doors) =>
      nginxConf({ listen: env.LISTEN_ADDRESS, port: env.PORT, doors, paths, maxBodyKb: env.MAX_BODY_KB }),
    etcdEndpoints: env.ETCD_ENDPOINTS,
    frontDoorService: env.FRONT_DOOR_SERVICE,
    debounceMs: env.DEBOUNCE_MS,
    listening: { address: env.LISTEN_ADDRESS, port: env.PORT },
  });
});
