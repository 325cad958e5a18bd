// sftp: the team's files over SFTP (OpenSSH's internal-sftp), each account chrooted into its own
// directory of the service's volume. Accounts and keys come from the SSH-key self-service: the
// accounts of its signed list (members of SYNC_GROUPS) are made here by its host script every
// SYNC_SECONDS, and sshd asks the same script for a user's keys at each login (docs/SSHKEYS.md).
// The host key is made once and kept in SSM, so clients see the same host after a move.
import { execFile, execFileSync, spawn } from "node:child_process";
import { createPublicKey } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { listSigningKeyParameterName } from "../../../functions/adapters/aws/ssmListSigningKey.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { ConfigError } from "../../../functions/domain/errors.ts";
import { int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { MANAGED_GROUP, sshdConfig, userDirs } from "./sshd.ts";

const log = programLogger("sftp");
const run = promisify(execFile);

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1024, 65535, 8222),
  CLUSTER: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "the cluster's name"),
  /** The signed lists (sshkeys-lists@, through the ambassador on the node's loopback). */
  LISTS_URL: z.url({ protocol: /^https?$/ }),
  /** The pool's groups whose members get an account. */
  SYNC_GROUPS: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$/, "group names separated by single spaces")
    .default("developers admins"),
  SYNC_SECONDS: int(10, 3600, 60),
  DATA_DIR: z
    .string()
    .regex(/^(\/[A-Za-z0-9._-]+)+$/, "an absolute path")
    .default("/data"),
  SSHD: z.string().default("/usr/sbin/sshd"),
  SSHKEYS: z.string().default("/usr/local/sbin/devcluster-sshkeys"),
  /**
   * How long a start waits for what the SSH-key service provides (its signing key, its first list):
   * on a new cluster both services start at once. Past it the start fails, naming what is missing.
   */
  WAIT_SECONDS: int(0, 600, 90),
});

/** The service's SSH host key (OpenSSH format), made once; below db/, where the data services keep their secrets. */
export const hostKeyParameter = (cluster: string) => `/devcluster/${cluster}/db/sftp/host-key`;

const RUN_DIR = "/run/sftp";
const OPENSSH_KEY =
  /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n?$/;

/** A new ed25519 host key, as ssh-keygen writes it. */
function makeHostKey(): string {
  const dir = mkdtempSync(join(RUN_DIR, "keygen-"));
  try {
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "devcluster-sftp",
      "-f",
      join(dir, "k"),
    ]);
    return readFileSync(join(dir, "k"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function hostKey(ssm: SSMClient, cluster: string): Promise<string> {
  const name = hostKeyParameter(cluster);
  const k = await ssmSecretOnce(ssm, {
    name,
    make: makeHostKey,
    check: (v) => {
      if (!OPENSSH_KEY.test(v)) throw new Error(`SSM parameter ${name} holds no OpenSSH private key`);
      return v.endsWith("\n") ? v : `${v}\n`;
    },
    description: "devcluster sftp: the service's SSH host key (made once; clients trust it)",
    kmsKeyId: clusterKeyAlias(cluster),
  });
  if (k.created) log.info("host_key.created", { code: "host_key.created", parameter: name });
  return k.value;
}

/** The SSH-key service's public key, from its signing key in SSM: what the lists are checked with. */
async function listsPublicKey(ssm: SSMClient, cluster: string, waitSeconds: number): Promise<string> {
  const name = listSigningKeyParameterName(cluster);
  const read = async () => {
    try {
      return (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value;
    } catch (e) {
      if ((e as { name?: string }).name !== "ParameterNotFound") throw e;
      return undefined;
    }
  };
  // Made by the SSH-key service's lists unit when it first starts; without it no key can be trusted.
  const pem = await pollUntil(read, { timeoutMs: waitSeconds * 1000, intervalMs: 2000 });
  if (!pem) throw new ConfigError(`missing secret: SSM parameter ${name} (the SSH-key service makes it)`);
  return createPublicKey(pem).export({ type: "spki", format: "pem" }).toString();
}

/** Members of the managed group (the accounts the sync made), with their uid. */
function managedAccounts(): { user: string; uid: number }[] {
  const group = readFileSync("/etc/group", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${MANAGED_GROUP}:`));
  const members = (group?.split(":")[3] ?? "").split(",").filter(Boolean);
  const uids = new Map(
    readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .filter((f) => f.length >= 3)
      .map((f) => [f[0]!, Number(f[2])] as const),
  );
  return members.flatMap((user) => (uids.has(user) ? [{ user, uid: uids.get(user)! }] : []));
}

/**
 * Each account's chroot (root-owned, 0755: sshd refuses anything else) and its own `files/`. An
 * account made again after a restart may get another uid: its files follow it (chown of what the old
 * uid owned), so a user never loses access to their files and never reaches another's.
 */
async function prepareHomes(dataDir: string) {
  const shadow = new Map(
    readFileSync("/etc/shadow", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .map((f) => [f[0]!, f[1] ?? ""] as const),
  );
  for (const { user, uid } of managedAccounts()) {
    // useradd leaves the password "!" (locked), and sshd refuses a locked account even for a key:
    // "*" is no password at all, not a lock (a lock the sync sets prefixes "!" to it and stays).
    if (shadow.get(user) === "!") await run("usermod", ["-p", "*", user]);
    const d = userDirs(dataDir, user);
    const isNew = !existsSync(d.files);
    mkdirSync(d.files, { recursive: true });
    chownSync(d.chroot, 0, 0);
    chmodSync(d.chroot, 0o755);
    if (isNew) chownSync(d.files, uid, uid);
    const owner = statSync(d.files).uid;
    if (owner !== uid) {
      await run("chown", ["-R", "--no-dereference", `--from=${owner}`, `${uid}:${uid}`, d.files]);
      log.info("files.owner", { code: "files.owner", user, from: owner, to: uid });
    }
    chmodSync(d.files, 0o700);
  }
}

async function sync(env: z.infer<typeof Env>) {
  const r = await run(env.SSHKEYS, ["sync"], { timeout: 60_000 }).catch(
    (e: { stderr?: string; message: string }) => {
      throw new Error(`account sync failed: ${(e.stderr ?? e.message).trim().slice(-500)}`);
    },
  );
  for (const line of r.stderr.split("\n").filter(Boolean)) log.info("sync", { line });
  await prepareHomes(env.DATA_DIR);
}

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const ssm = new SSMClient({ maxAttempts: 5 });
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
  // The lists' key first: without it the service could trust no one, and makes nothing.
  const listsKey = await listsPublicKey(ssm, env.CLUSTER, env.WAIT_SECONDS);
  const key = await hostKey(ssm, env.CLUSTER);
  const hostKeyFile = join(RUN_DIR, "ssh_host_ed25519_key");
  writeFileSync(hostKeyFile, key, { mode: 0o600 });
  // The host script's settings, where it reads them (sshd starts it with no environment of ours).
  mkdirSync("/etc/devcluster", { recursive: true, mode: 0o755 });
  writeFileSync("/etc/devcluster/sshkeys.pub", listsKey, { mode: 0o644 });
  writeFileSync(
    "/etc/devcluster/sshkeys.conf",
    `url=${env.LISTS_URL}\npublic_key=/etc/devcluster/sshkeys.pub\nsync_groups=${env.SYNC_GROUPS}\ntimeout=10\n`,
    { mode: 0o644 },
  );
  mkdirSync(join(env.DATA_DIR, "users"), { recursive: true, mode: 0o755 });
  chownSync(env.DATA_DIR, 0, 0);
  chownSync(join(env.DATA_DIR, "users"), 0, 0);
  const configFile = join(RUN_DIR, "sshd_config");
  writeFileSync(
    configFile,
    sshdConfig({
      address: env.LISTEN_ADDRESS,
      port: env.PORT,
      hostKeyFile,
      pidFile: join(RUN_DIR, "sshd.pid"),
      dataDir: env.DATA_DIR,
      keysCommand: env.SSHKEYS,
    }),
  );
  await run(env.SSHD, ["-t", "-f", configFile]).catch((e: { stderr?: string }) => {
    throw new Error(`sshd refuses its settings: ${e.stderr ?? ""}`);
  });
  // The accounts exist before sshd answers: a login never meets a half-made account list. The lists
  // service may still be starting (a new cluster): its answers are waited for, then the start fails.
  let lastError = "";
  const synced = await pollUntil(
    () =>
      sync(env).then(
        () => true,
        (e: Error) => ((lastError = e.message), undefined),
      ),
    { timeoutMs: env.WAIT_SECONDS * 1000, intervalMs: 3000 },
  );
  if (!synced) throw new Error(lastError);
  const child = spawn(env.SSHD, ["-D", "-e", "-f", configFile], { stdio: ["ignore", "inherit", "inherit"] });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  let stopping = false;
  const failed = exited.then((code) =>
    stopping ? new Promise<never>(() => {}) : Promise.reject(new Error(`sshd exited (${code})`)),
  );
  // Accounts follow the pool: a failed round is logged and retried; sshd keeps serving the last ones.
  const timer = setInterval(() => {
    sync(env).catch((e: Error) => log.warn("sync.failed", { code: "sync.failed", error: e.message }));
  }, env.SYNC_SECONDS * 1000);
  log.info("listening", {
    code: "listening",
    address: env.LISTEN_ADDRESS,
    port: env.PORT,
    accounts: managedAccounts().length,
  });
  return {
    failed,
    stop: async () => {
      stopping = true;
      clearInterval(timer);
      child.kill("SIGTERM");
      await exited;
    },
  };
});
