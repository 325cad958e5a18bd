// mediawiki: runs MediaWiki (Debian's package) behind the front door: reads its database password
// from SSM (made by the Postgres building block; a missing parameter stops the start, named), makes
// its secret and upgrade keys once in SSM, writes LocalSettings.php where only the pool's user reads
// it, puts MediaWiki's schema in place once and updates it at every start, then runs php-fpm and
// nginx, letting in only the front doors announced in etcd (they set X-Remote-User).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { userIds } from "../../shared/proc.ts";
import { servePhpSite } from "../../shared/phpSite.ts";
import { runProgram } from "../../shared/run.ts";
import {
  dbFile,
  fpmConf,
  localSettings,
  localSettingsFile,
  nginxConf,
  secretsDir,
  tmpDir,
  type Paths,
} from "./config.ts";

const log = programLogger("mediawiki");
const NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const PARAM = /^\/[A-Za-z0-9_.\-/]+$/;

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8092),
  CLUSTER: z
    .string({ error: "required: the cluster's name" })
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "the cluster's name"),
  /** The cluster's domain: the wiki is wiki.<domain>. */
  DOMAIN: z
    .string({ error: "required: the cluster's domain" })
    .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, "a DNS name (the cluster's domain)"),
  /** The host name under the domain the front door serves the wiki as (the unit's Service=). */
  HOST_NAME: z.string().regex(NAME, "a host name").default("wiki"),
  SITE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9 ._-]{1,64}$/, "a wiki name")
    .default("Team wiki"),
  DB_HOST: z.string().default("127.0.0.1"),
  DB_PORT: int(1, 65535, 15437),
  DB_NAME: z.string().regex(NAME, "a database name").default("mediawiki"),
  /** The database user: the database service names it after the client, like its database. */
  DB_USER: z.string().regex(NAME, "a user name").optional(),
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,40}$/, "a schema name")
    .default("mediawiki"),
  DB_PASSWORD_PARAM: z.string().regex(PARAM, "an SSM parameter name").optional(),
  /** How long a start waits for the database (the Postgres service may start after the wiki). */
  DB_WAIT_S: int(0, 3600, 300),
  ETCD_ENDPOINTS: etcdEndpoints,
  FRONT_DOOR_SERVICE: z.string().regex(NAME, "a service name").default("nginx"),
  /** The front door's groups whose members are the wiki's administrators (sysop). */
  SYSOP_GROUPS: z.string().default("admins"),
  DEBOUNCE_MS: int(0, 60_000, 200),
  MAX_UPLOAD_MB: int(1, 1024, 20),
  MAX_CHILDREN: int(1, 256, 4),
  /** The volume: uploads are <VOLUME_DIR>/images. */
  VOLUME_DIR: z.string().default("/var/lib/mediawiki-data"),
  RUN_DIR: z.string().default("/run/mediawiki"),
  MEDIAWIKI_DIR: z.string().default("/usr/share/mediawiki"),
  /** Our PHP files: `php/` beside this program in the image. */
  PHP_DIR: z.string().default(join(import.meta.dirname, "php")),
  FPM_BIN: z.string().default("/usr/sbin/php-fpm8.4"),
  POOL_USER: z.string().default("app"),
});

/** Where the wiki's keys live: below db/, where data services keep the secrets they make. */
export const wikiKeyParameter = (cluster: string, key: "secret-key" | "upgrade-key") =>
  `/devcluster/${cluster}/db/mediawiki/${key}`;
export const dbPasswordParameter = (cluster: string) =>
  `/devcluster/${cluster}/db/postgres/mediawiki/password`;

/** The password, or an error naming the parameter (the database service makes it for its CLIENTS). */
async function readPassword(ssm: SSMClient, name: string): Promise<string> {
  let value: string | undefined;
  try {
    value = (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value;
  } catch (e) {
    if ((e as { name?: string }).name === "ParameterNotFound")
      throw new Error(
        `the database password's parameter ${name} does not exist (the Postgres service makes it for each service in its CLIENTS: is mediawiki there?)`,
        { cause: e },
      );
    throw new Error(`the database password's parameter ${name} cannot be read: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!value || !/^[A-Za-z0-9_\-+/=.~]{8,256}$/.test(value))
    throw new Error(`the database password's parameter ${name} is empty or malformed`);
  return value;
}

/** A key made once (hex) and kept in SSM as a SecureString under the cluster's key. */
async function wikiKey(ssm: SSMClient, cluster: string, key: "secret-key" | "upgrade-key", bytes: number) {
  const name = wikiKeyParameter(cluster, key);
  const p = await ssmSecretOnce(ssm, {
    name,
    make: () => randomBytes(bytes).toString("hex"),
    check: (v) => {
      if (!/^[0-9a-f]{16,128}$/.test(v)) throw new Error(`${name} holds no usable key (16-128 hex digits)`);
      return v;
    },
    description: `devcluster mediawiki: $wg${key === "secret-key" ? "SecretKey" : "UpgradeKey"} (generated once)`,
    kmsKeyId: clusterKeyAlias(cluster),
  }).catch((e: unknown) => {
    throw new Error(`the wiki's key ${name} cannot be read or made: ${(e as Error).message}`, { cause: e });
  });
  if (p.created) log.info("key.created", { code: "key.created", parameter: name });
  return p.value;
}

interface SchemaStep {
  code: string;
  [k: string]: unknown;
}

/** Our schema step (php/schema.php) as the pool's user: its JSON lines are logged; exit 3 = no database yet. */
function schemaStep(paths: Paths, pool: { uid: number; gid: number }, extra: Record<string, string>) {
  return new Promise<number>((resolve, reject) => {
    const child = spawn("php", [join(paths.php, "schema.php")], {
      ...pool,
      cwd: paths.mediawiki,
      stdio: ["ignore", "pipe", "inherit"],
      env: {
        PATH: process.env.PATH,
        LANG: "C.UTF-8",
        TMPDIR: tmpDir(paths),
        MW_INSTALL_PATH: paths.mediawiki,
        MW_CONFIG_FILE: localSettingsFile(paths),
        DEVCLUSTER_DB_FILE: dbFile(paths),
        ...extra,
      },
    });
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const step = JSON.parse(line) as SchemaStep;
          if (step.code !== "db.unreachable")
            log.info(`schema.${step.code}`, { ...step, code: `schema.${step.code}` });
        } catch {
          if (line.trim()) log.info("schema.output", { code: "schema.output", line });
        }
      }
    });
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const paths: Paths = {
    run: env.RUN_DIR,
    mediawiki: env.MEDIAWIKI_DIR,
    php: env.PHP_DIR,
    uploads: join(env.VOLUME_DIR, "images"),
  };
  const pool = userIds(env.POOL_USER);
  const host = `${env.HOST_NAME}.${env.DOMAIN}`;
  const ssm = new SSMClient({ maxAttempts: 5 });
  const password = await readPassword(ssm, env.DB_PASSWORD_PARAM ?? dbPasswordParameter(env.CLUSTER));
  const secretKey = await wikiKey(ssm, env.CLUSTER, "secret-key", 32);
  const upgradeKey = await wikiKey(ssm, env.CLUSTER, "upgrade-key", 8);

  // Only the pool's user may enter the secrets folder; nginx's workers (www-data) may not.
  const secrets = secretsDir(paths);
  mkdirSync(secrets, { recursive: true });
  chmodSync(paths.run, 0o755);
  chownSync(secrets, pool.uid, pool.gid);
  chmodSync(secrets, 0o700);
  for (const dir of [tmpDir(paths), join(paths.run, "cache")]) {
    mkdirSync(dir, { recursive: true });
    chownSync(dir, pool.uid, pool.gid);
    chmodSync(dir, 0o700);
  }
  // Uploads: the pool writes them; nginx's workers read them (the folder is served at /images/).
  mkdirSync(paths.uploads, { recursive: true });
  chownSync(paths.uploads, pool.uid, pool.gid);
  chmodSync(paths.uploads, 0o755);

  const secretFile = (file: string, text: string) => {
    writeFileSync(file, text, { mode: 0o400 });
    chmodSync(file, 0o400);
    chownSync(file, pool.uid, pool.gid);
  };
  const db = {
    host: env.DB_HOST,
    port: env.DB_PORT,
    name: env.DB_NAME,
    user: env.DB_USER ?? env.DB_NAME,
    password,
    schema: env.DB_SCHEMA,
  };
  secretFile(dbFile(paths), JSON.stringify(db));
  secretFile(
    localSettingsFile(paths),
    localSettings({
      siteName: env.SITE_NAME,
      host,
      db,
      secretKey,
      upgradeKey,
      paths,
      maxUploadMb: env.MAX_UPLOAD_MB,
      sysopGroups: env.SYSOP_GROUPS.split(/[\s,]+/).filter(Boolean),
    }),
  );

  // The installer reads its passwords from files in a folder of its own, removed afterwards
  // (it also writes a LocalSettings.php there, which is not used: ours is).
  const install = join(secrets, "install");
  rmSync(install, { recursive: true, force: true });
  mkdirSync(install, { mode: 0o700 });
  chownSync(install, pool.uid, pool.gid);
  secretFile(join(install, "db-password"), password);
  // The installer must make an administrator; nobody signs in as it (sign-in is the front door's).
  secretFile(join(install, "admin-password"), randomBytes(24).toString("base64url"));
  const extra = {
    DEVCLUSTER_INSTALL_DIR: install,
    WIKI_SERVER: `https://${host}`,
    WIKI_NAME: env.SITE_NAME,
    WIKI_INSTALL_ADMIN: "Wiki installer",
  };
  const deadline = Date.now() + env.DB_WAIT_S * 1000;
  try {
    for (let waited = false; ; waited = true) {
      const code = await schemaStep(paths, pool, extra);
      if (code === 0) break;
      if (code !== 3) throw new Error(`MediaWiki's schema step failed (exit ${code}); see the lines above`);
      if (Date.now() > deadline)
        throw new Error(`the database ${db.host}:${db.port}/${db.name} did not answer in ${env.DB_WAIT_S} s`);
      if (!waited) log.info("db.waiting", { code: "db.waiting", host: db.host, port: db.port });
      await new Promise((r) => setTimeout(r, 2000));
    }
  } finally {
    rmSync(install, { recursive: true, force: true });
  }

  const fpmFile = join(paths.run, "php-fpm.conf");
  writeFileSync(
    fpmFile,
    fpmConf({
      paths,
      poolUser: env.POOL_USER,
      maxChildren: env.MAX_CHILDREN,
      maxUploadMb: env.MAX_UPLOAD_MB,
    }),
  );
  return servePhpSite({
    log,
    fpmBin: env.FPM_BIN,
    fpmFile,
    nginxFile: join(paths.run, "nginx.conf"),
    nginxConf: (doors) =>
      nginxConf({ listen: env.LISTEN_ADDRESS, port: env.PORT, doors, paths, maxUploadMb: env.MAX_UPLOAD_MB }),
    etcdEndpoints: env.ETCD_ENDPOINTS,
    frontDoorService: env.FRONT_DOOR_SERVICE,
    debounceMs: env.DEBOUNCE_MS,
    listening: { address: env.LISTEN_ADDRESS, port: env.PORT, host },
  });
});
