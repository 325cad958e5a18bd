// redis: runs Debian's redis-server as the cluster's cache, bound to the node's private address and
// behind a password generated once into SSM (a SecureString, like the database passwords): any
// machine of the VPC can reach the address, so nothing is answered without it. A cache keeps no data
// worth keeping: no RDB snapshots, no append-only file, no volume; a restart starts empty.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";

const log = programLogger("redis");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 6379),
  CLUSTER: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "the cluster's name"),
  /** The cache's memory ceiling in MiB: past it the least recently used keys go (every key has a TTL). */
  MAX_MEMORY_MB: int(8, 65536, 64),
  REDIS_SERVER: z.string().default("/usr/bin/redis-server"),
});

/** Where the password lives: below db/, where data services keep theirs (the node role may write there). */
export const redisPasswordParameter = (cluster: string) => `/devcluster/${cluster}/db/redis/password`;

async function ensurePassword(ssm: SSMClient, name: string, cluster: string): Promise<string> {
  const p = await ssmSecretOnce(ssm, {
    name,
    make: () => randomBytes(32).toString("base64url"),
    check: (v) => {
      if (!/^[A-Za-z0-9_-]{32,}$/.test(v))
        throw new Error(`${name} holds no usable password (32+ characters of A-Z a-z 0-9 _ -)`);
      return v;
    },
    description: "devcluster redis: the cache's password (generated once)",
    kmsKeyId: clusterKeyAlias(cluster),
  });
  if (p.created) log.info("password.created", { code: "password.created", parameter: name });
  return p.value;
}

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const ssm = new SSMClient({ maxAttempts: 5 });
  const password = await ensurePassword(ssm, redisPasswordParameter(env.CLUSTER), env.CLUSTER);
  // The settings go in on stdin (`redis-server -`): the password is in no file and no argument.
  const config = [
    `bind ${env.LISTEN_ADDRESS}`,
    `port ${env.PORT}`,
    "protected-mode yes",
    `requirepass ${password}`,
    'save ""',
    "appendonly no",
    `maxmemory ${env.MAX_MEMORY_MB}mb`,
    "maxmemory-policy allkeys-lru",
    "daemonize no",
    'logfile ""',
    "dir /tmp",
    // Nobody administers the cache over the network: these would reveal or change its settings.
    'rename-command CONFIG ""',
    'rename-command DEBUG ""',
    'rename-command MODULE ""',
    "",
  ].join("\n");
  const child = spawn(env.REDIS_SERVER, ["-"], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.end(config);
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const relay = (c: Buffer) => {
    const text = c.toString("utf8");
    process.stdout.write(text);
    if (text.includes("Ready to accept connections")) ready();
  };
  child.stdout.on("data", relay);
  child.stderr.on("data", relay);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  let stopping = false;
  // An exit we did not ask for fails the program; the one after our SIGTERM never settles this.
  const failed = exited.then((code) =>
    stopping ? new Promise<never>(() => {}) : Promise.reject(new Error(`redis-server exited (${code})`)),
  );
  await Promise.race([readyP, failed]);
  log.info("listening", {
    code: "listening",
    address: env.LISTEN_ADDRESS,
    port: env.PORT,
    maxMemoryMb: env.MAX_MEMORY_MB,
    persistence: "none",
  });
  return {
    failed,
    stop: async () => {
      stopping = true;
      child.kill("SIGTERM");
      await exited;
    },
  };
});
