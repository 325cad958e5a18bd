// gerrit: runs Gerrit Code Review headless on the service's volume: makes the site there on the
// first start only (never again: an existing site is only ever started), keeps the settings this
// cluster owns (addresses, sign-in header, heap) in its gerrit.config, installs the SSH host key
// kept in SSM, then runs the daemon in the foreground.
import { spawn, execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  mkdirSync,
} from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { ssmSecretOnce } from "../../../functions/adapters/aws/ssmSecretOnce.ts";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";

const log = programLogger("gerrit");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  HTTP_PORT: int(1, 65535, 8080),
  SSH_PORT: int(1, 65535, 29418),
  /** Where developers reach the SSH port: the front door's stream port of gerrit.<domain>. */
  SSH_PUBLIC_PORT: int(1, 65535, 29418),
  CLUSTER: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "the cluster's name"),
  /** The cluster's domain: Gerrit's links name https://gerrit.<domain>/. */
  DOMAIN: z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, "a DNS name (the cluster's domain)"),
  /** The volume: the site is <VOLUME_DIR>/site. */
  VOLUME_DIR: z.string().default("/var/gerrit"),
  HEAP_MB: int(128, 65536, 512),
  GERRIT_HOME: z.string().default("/opt/gerrit"),
});
type Env = z.infer<typeof Env>;

/** The SSH host key: below db/, where data services keep the secrets they make (the node role may write there). */
export const gerritHostKeyParameter = (cluster: string) => `/devcluster/${cluster}/db/gerrit/ssh-host-key`;

const HOST_KEY_FILE = "ssh_host_ed25519_key";
const GERRIT_UID = 998;
const GERRIT_GID = 998;

/**
 * Gerrit's own SSH host key, made once (ed25519) and kept in SSM: the server's identity, which
 * every developer's known_hosts records, survives a volume restored from a backup or made anew.
 */
async function ensureHostKey(ssm: SSMClient, cluster: string): Promise<string> {
  const name = gerritHostKeyParameter(cluster);
  const p = await ssmSecretOnce(ssm, {
    name,
    make: () => {
      const dir = mkdtempSync(join(tmpdir(), "gerrit-key-"));
      try {
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gerrit", "-f", join(dir, "k")]);
        return readFileSync(join(dir, "k"), "utf8");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    check: (v) => {
      if (
        !/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n?$/.test(
          v,
        )
      )
        throw new Error(`${name} holds no OpenSSH private key`);
      return v.endsWith("\n") ? v : `${v}\n`;
    },
    description: "devcluster gerrit: the SSH host key (ed25519, generated once)",
    kmsKeyId: clusterKeyAlias(cluster),
  });
  if (p.created) log.info("host-key.created", { code: "host-key.created", parameter: name });
  return p.value;
}

/** Every file and directory below `path` (and itself) owned by gerrit. */
function chownTree(path: string) {
  chownSync(path, GERRIT_UID, GERRIT_GID);
  if (!statSync(path).isDirectory()) return;
  for (const e of readdirSync(path)) chownTree(join(path, e));
}

function java(env: Env, args: string[], heap = false): string[] {
  return [
    ...(heap ? [`-Xmx${env.HEAP_MB}m`] : []),
    `-Dlog4j.configuration=file:${join(env.GERRIT_HOME, "log4j.properties")}`,
    // What the release war's launcher sets: Gerrit's logging goes through log4j.
    "-Dflogger.backend_factory=com.google.common.flogger.backend.log4j.Log4jBackendFactory#getInstance",
    "-Dflogger.logging_context=com.google.gerrit.server.logging.LoggingContext#getInstance",
    "-cp",
    `${join(env.GERRIT_HOME, "classes")}:${join(env.GERRIT_HOME, "lib")}/*`,
    "GerritLaunch",
    ...args,
  ];
}

/** Runs java as gerrit to its end; its output goes to ours; a non-zero exit throws. */
function runJava(env: Env, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("java", java(env, args), {
      uid: GERRIT_UID,
      gid: GERRIT_GID,
      stdio: ["ignore", "inherit", "inherit"],
      env: { PATH: process.env.PATH, HOME: env.VOLUME_DIR, LANG: "C.UTF-8" },
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited with ${code}`))));
  });
}

/** The settings this cluster owns; everything else in gerrit.config (serverId above all) is Gerrit's. */
function ownedSettings(env: Env): [string, string][] {
  return [
    ["gerrit.canonicalWebUrl", `https://gerrit.${env.DOMAIN}/`],
    // Sign-in is the front door's: it sets X-Remote-User (and strips one sent from outside).
    ["auth.type", "HTTP"],
    ["auth.httpHeader", "X-Remote-User"],
    // The REST API and git over HTTP (/a/...) trust the same header instead of Gerrit's HTTP passwords.
    ["auth.trustContainerAuth", "true"],
    ["auth.userNameCaseInsensitive", "true"],
    ["sshd.listenAddress", `${env.LISTEN_ADDRESS}:${env.SSH_PORT}`],
    // What Gerrit shows in clone and push commands: the front door's port, not the node's.
    ["sshd.advertisedAddress", `gerrit.${env.DOMAIN}:${env.SSH_PUBLIC_PORT}`],
    // proxy-https: the front door ends TLS; Gerrit makes https links and trusts X-Forwarded-* from it.
    ["httpd.listenUrl", `proxy-https://${env.LISTEN_ADDRESS}:${env.HTTP_PORT}/`],
    ["container.heapLimit", `${env.HEAP_MB}m`],
    ["index.type", "lucene"],
    ["cache.directory", "cache"],
    // No mail relay is configured: Gerrit would retry sending to localhost for every change.
    ["sendemail.enable", "false"],
  ];
}

async function setConfig(env: Env, site: string) {
  const file = join(site, "etc", "gerrit.config");
  await runJava(env, ["set-config", file, ...ownedSettings(env).flat()], "writing gerrit.config");
}

/** The SSM key is the only host key: Gerrit offers every ssh_host_*_key in etc/, which init also makes. */
function installHostKey(site: string, key: string) {
  const etc = join(site, "etc");
  for (const f of readdirSync(etc)) {
    if (/^ssh_host_.*key(\.pub)?$/.test(f) && !f.startsWith(HOST_KEY_FILE)) unlinkSync(join(etc, f));
  }
  const file = join(etc, HOST_KEY_FILE);
  writeFileSync(file, key, { mode: 0o600 });
  chmodSync(file, 0o600);
  const pub = execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" });
  writeFileSync(`${file}.pub`, pub);
  chownSync(file, GERRIT_UID, GERRIT_GID);
  chownSync(`${file}.pub`, GERRIT_UID, GERRIT_GID);
}

/**
 * The site is made in a scratch directory and renamed into place once init succeeded, so a start
 * that dies half-way leaves no half-made site that a later start would take for a real one.
 */
async function makeSite(env: Env, site: string, key: string) {
  const scratch = join(env.VOLUME_DIR, ".site-init");
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(join(scratch, "etc"), { recursive: true });
  writeFileSync(join(scratch, "etc", "gerrit.config"), "");
  chownTree(scratch);
  await setConfig(env, scratch);
  log.info("site.init", { code: "site.init", site });
  const t0 = performance.now();
  await runJava(env, ["Init", "--batch", "--no-auto-start", "--skip-plugins", "-d", scratch], "gerrit init");
  installHostKey(scratch, key);
  renameSync(scratch, site);
  log.info("site.made", {
    code: "site.made",
    site,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  });
}

await runProgram(log, async () => {
  const env = loadEnv(Env);
  if (!existsSync(env.VOLUME_DIR))
    throw new Error(`${env.VOLUME_DIR} does not exist: the service's volume is not mounted`);
  const ssm = new SSMClient({ maxAttempts: 5 });
  const key = await ensureHostKey(ssm, env.CLUSTER);
  chownSync(env.VOLUME_DIR, GERRIT_UID, GERRIT_GID);
  const site = join(env.VOLUME_DIR, "site");
  if (existsSync(join(site, "etc", "gerrit.config"))) {
    log.info("site.found", { code: "site.found", site });
    await setConfig(env, site);
    installHostKey(site, key);
  } else {
    if (existsSync(site))
      throw new Error(`${site} exists but has no etc/gerrit.config: not a Gerrit site; nothing was changed`);
    await makeSite(env, site, key);
  }

  const child = spawn(
    "java",
    java(env, ["Daemon", "--headless", "--console-log", "--enable-httpd", "--enable-sshd", "-d", site], true),
    {
      uid: GERRIT_UID,
      gid: GERRIT_GID,
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH, HOME: env.VOLUME_DIR, LANG: "C.UTF-8" },
    },
  );
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const relay = (to: NodeJS.WriteStream) => (c: Buffer) => {
    const text = c.toString("utf8");
    to.write(text);
    if (/Gerrit Code Review .* ready/.test(text)) ready();
  };
  child.stdout.on("data", relay(process.stdout));
  child.stderr.on("data", relay(process.stderr));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  let stopping = false;
  const failed = exited.then((code) =>
    stopping ? new Promise<never>(() => {}) : Promise.reject(new Error(`gerrit daemon exited (${code})`)),
  );
  await Promise.race([readyP, failed]);
  log.info("listening", {
    code: "listening",
    http: `${env.LISTEN_ADDRESS}:${env.HTTP_PORT}`,
    ssh: `${env.LISTEN_ADDRESS}:${env.SSH_PORT}`,
    heapMb: env.HEAP_MB,
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
