// The SFTP service, run for real: its image (Debian's OpenSSH) in podman on a loopback address, a
// directory as its volume, moto's SSM (the nodes' role from the template, IAM enforced) holding the
// SSH-key service's signing key, and the signed lists served on loopback by a stand-in for the lists
// service, signing with that key through the domain code the service uses (the local-cluster test
// runs the real one). Real `sftp` and `ssh` clients log in with keys made here.
import { execFile, execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { signKeyList, type KeyListAccount } from "../../functions/domain/sshKeyList.ts";
import { sshdConfig } from "../../containers/sftp/src/sshd.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { builtImage } from "../rig/images.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true });
const CLUSTER = "sftptest";
const PORT = 12_022;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
let image = "";
let ip = "";
let listsUrl = "";
let server: Server;
let nodeCreds: AwsCredentials;
let n = 0;

const signing = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const keyDir = () => join(rig.dir, "keys");
const userKey = (user: string) => {
  const f = join(keyDir(), user);
  if (!existsSync(f)) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", user, "-f", f]);
  return { file: f, pub: readFileSync(`${f}.pub`, "utf8").trim() };
};
let accounts: KeyListAccount[] = [];
const now = () => Math.floor(Date.now() / 1000);
const list = (subject: string, of: KeyListAccount[]) =>
  signKeyList({ subject, issuedAt: now(), expiresAt: now() + 300, accounts: of }, signing);

async function start(volume: string, env: Record<string, string> = {}): Promise<string> {
  const name = `sftptest-${process.pid}-${++n}`;
  started.push(name);
  const all: Record<string, string> = {
    LISTEN_ADDRESS: ip,
    PORT: String(PORT),
    CLUSTER,
    LISTS_URL: listsUrl,
    SYNC_SECONDS: "10",
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: rig.moto!.endpoint,
    AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
    ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
    ...env,
  };
  const envArgs = Object.entries(all).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  await podman(["run", "-d", "--name", name, "--net", "host", "-v", `${volume}:/data`, ...envArgs, image]);
  return name;
}

const logsOf = async (name: string) => {
  const r = await podman(["logs", name]);
  return r.stdout + r.stderr;
};
const codes = async (name: string) =>
  (await logsOf(name))
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { code?: string; error?: string });

async function listening(name: string) {
  const ok = await pollUntil(
    async () => {
      const c = await codes(name);
      if (c.some((l) => l.code === "listening")) return true;
      if (c.some((l) => l.code === "start.failed" || l.code === "config.invalid")) return false;
      return undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  expect(ok, await logsOf(name)).toBe(true);
}

/** The options every client call uses: this test's known_hosts, checked strictly after the first. */
const clientOpts = (key: string) => [
  "-i",
  key,
  "-o",
  "IdentitiesOnly=yes",
  "-o",
  "BatchMode=yes",
  "-o",
  `UserKnownHostsFile=${join(rig.dir, "known_hosts")}`,
  "-o",
  "StrictHostKeyChecking=accept-new",
  "-o",
  "ConnectTimeout=10",
];

/** An sftp batch as `user` with `key`: exit code and output. */
async function sftp(user: string, key: string, batch: string) {
  const f = join(rig.dir, `batch-${++n}`);
  writeFileSync(f, batch);
  try {
    const r = await sh("sftp", [...clientOpts(key), "-P", String(PORT), "-b", f, `${user}@${ip}`], {
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? 1, out: (x.stdout ?? "") + (x.stderr ?? "") };
  }
}

beforeAll(async () => {
  ip = rig.block.address(50);
  mkdirSync(keyDir());
  nodeCreds = await rig.roleCredentials(
    templateRoleStatements("node", { bucket: "notused", cluster: CLUSTER }),
  );
  // The SSH-key service's key, as its lists unit makes it (the test writes with its own credentials).
  await new SSMClient({}).send(
    new PutParameterCommand({
      Name: `/devcluster/${CLUSTER}/sshkeys/signing-key`,
      Type: "SecureString",
      Value: signing,
    }),
  );
  server = createServer((req, res) => {
    const m = /^\/v1\/keys\/([a-z_][a-z0-9_-]{0,31})$/.exec(req.url ?? "");
    const body =
      req.url === "/v1/accounts"
        ? list(
            "*",
            accounts.map((a) => ({ ...a, keys: [] })),
          )
        : m
          ? list(
              m[1]!,
              accounts.filter((a) => a.user === m[1]),
            )
          : undefined;
    res.writeHead(body ? 200 : 404, { "content-type": "text/plain" });
    res.end(body ?? "not found\n");
  });
  await new Promise<void>((ok) => server.listen(0, rig.block.address(2), ok));
  listsUrl = `http://${rig.block.address(2)}:${(server.address() as { port: number }).port}/`;
  image = await builtImage("sftp");
}, 900_000);

afterEach(async () => {
  for (const name of started) await podman(["stop", "-t", "10", name]).catch(() => {});
}, 120_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "2", name]).catch(() => {});
  await new Promise<void>((ok) => server.close(() => ok()));
}, 60_000);

describe("sftp", () => {
  it("refuses to start without the SSH-key service's signing key, naming the parameter; nothing is made", async () => {
    const volume = join(rig.dir, "vol-nokey");
    mkdirSync(volume);
    const other = `${CLUSTER}-nokey`;
    const name = await start(volume, { CLUSTER: other, WAIT_SECONDS: "3" });
    expect(Number((await podman(["wait", name])).stdout.trim())).toBe(2);
    const failed = (await codes(name)).find((l) => l.code === "config.invalid" || l.code === "start.failed");
    expect(failed?.error).toContain(`missing secret: SSM parameter /devcluster/${other}/sshkeys/signing-key`);
    expect(readdirSync(volume)).toEqual([]);
    // Nor was a host key made for a service that never started.
    await expect(
      new SSMClient({}).send(new GetParameterCommand({ Name: `/devcluster/${other}/db/sftp/host-key` })),
    ).rejects.toMatchObject({ name: "ParameterNotFound" });
  }, 120_000);

  it("on a new cluster it waits for the SSH-key service's signing key, then starts", async () => {
    const volume = join(rig.dir, "vol-late");
    mkdirSync(volume);
    const other = `${CLUSTER}-late`;
    const name = await start(volume, { CLUSTER: other, WAIT_SECONDS: "120" });
    // The lists unit makes its key a little later (here: the test, after a few seconds).
    await new Promise((r) => setTimeout(r, 4000));
    expect((await codes(name)).some((l) => l.code === "listening")).toBe(false);
    await new SSMClient({}).send(
      new PutParameterCommand({
        Name: `/devcluster/${other}/sshkeys/signing-key`,
        Type: "SecureString",
        Value: signing,
      }),
    );
    await listening(name);
  }, 300_000);

  it("its sshd settings pass sshd -t", async () => {
    const f = join(rig.dir, "sshd_config");
    writeFileSync(
      f,
      sshdConfig({
        address: ip,
        port: PORT,
        hostKeyFile: "/run/sftp/ssh_host_ed25519_key",
        pidFile: "/run/sftp/sshd.pid",
        dataDir: "/data",
        keysCommand: "/usr/local/sbin/devcluster-sshkeys",
      }),
    );
    // sshd -t reads the host key: make one in the image and check the settings there.
    const r = await podman([
      "run",
      "--rm",
      "-v",
      `${f}:/etc/ssh/test_config:ro`,
      "--entrypoint",
      "bash",
      image,
      "-c",
      "mkdir -p /run/sftp /run/sshd && ssh-keygen -q -t ed25519 -N '' -f /run/sftp/ssh_host_ed25519_key && /usr/sbin/sshd -t -f /etc/ssh/test_config && echo valid",
    ]);
    expect(r.stdout.trim()).toBe("valid");
  }, 120_000);

  it("an account of the lists stores a file in its own directory of the volume; no shell, no way out, others refused", async () => {
    const alice = userKey("alice");
    const bob = userKey("bob");
    accounts = [
      { user: "alice", groups: ["developers"], keys: [alice.pub] },
      { user: "bob", groups: ["marketing"], keys: [bob.pub] },
    ];
    const volume = join(rig.dir, "vol");
    mkdirSync(volume);
    const name = await start(volume);
    await listening(name);
    writeFileSync(join(rig.dir, "report.txt"), "quarterly numbers\n");
    const put = await sftp("alice", alice.file, `put ${join(rig.dir, "report.txt")}\nls -l\n`);
    expect(put.code, put.out + (await logsOf(name))).toBe(0);
    const stored = join(volume, "users", "alice", "files", "report.txt");
    expect(readFileSync(stored, "utf8")).toBe("quarterly numbers\n");
    // Owned by alice's account in the container; her chroot is root's, as sshd requires.
    const uid = Number((await podman(["exec", name, "id", "-u", "alice"])).stdout.trim());
    expect(statSync(stored).uid).toBe(uid);
    expect(statSync(join(volume, "users", "alice")).uid).toBe(0);
    // Chrooted: / is her own directory; the container's files are not there.
    const look = await sftp("alice", alice.file, "cd /\nls -1 /\nget /etc/passwd\n");
    expect(look.code).not.toBe(0);
    expect(look.out).toMatch(/files/);
    expect(look.out).toMatch(/not found|No such file/);
    // No shell, no command.
    const shell = await sh("ssh", [...clientOpts(alice.file), "-p", String(PORT), `alice@${ip}`, "id"]).then(
      (r) => r.stdout + r.stderr,
      (e: { stdout?: string; stderr?: string }) => (e.stdout ?? "") + (e.stderr ?? ""),
    );
    expect(shell).not.toMatch(/uid=/);
    // bob is in no synced group; alice's name with bob's key is not alice.
    expect((await sftp("bob", bob.file, "ls\n")).code).not.toBe(0);
    expect((await sftp("alice", bob.file, "ls\n")).code).not.toBe(0);
  }, 300_000);

  it("after a restart on the same volume the host key is the same, the file is there and its owner follows the account", async () => {
    const alice = userKey("alice");
    const volume = join(rig.dir, "vol");
    // As if the account had had another uid before (another container made the accounts in another order).
    chownSync(join(volume, "users", "alice", "files"), 4242, 4242);
    chownSync(join(volume, "users", "alice", "files", "report.txt"), 4242, 4242);
    const name = await start(volume);
    await listening(name);
    // known_hosts holds the first run's key and checking is strict for a known host: a new key would fail.
    const get = await sftp("alice", alice.file, `get report.txt ${join(rig.dir, "back.txt")}\n`);
    expect(get.code, get.out).toBe(0);
    expect(readFileSync(join(rig.dir, "back.txt"), "utf8")).toBe("quarterly numbers\n");
    const uid = Number((await podman(["exec", name, "id", "-u", "alice"])).stdout.trim());
    expect(statSync(join(volume, "users", "alice", "files", "report.txt")).uid).toBe(uid);
    // One host key, in SSM.
    const kept = await new SSMClient({}).send(
      new GetParameterCommand({ Name: `/devcluster/${CLUSTER}/db/sftp/host-key`, WithDecryption: true }),
    );
    expect(kept.Parameter?.Value).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
  }, 300_000);

  it("a user who leaves the synced groups loses access at the next sync; their files stay", async () => {
    const alice = userKey("alice");
    const volume = join(rig.dir, "vol");
    const name = await start(volume);
    await listening(name);
    const first = await sftp("alice", alice.file, "ls\n");
    expect(first.code, first.out + (await logsOf(name))).toBe(0);
    accounts = [{ user: "alice", groups: ["marketing"], keys: [alice.pub] }];
    const refused = await pollUntil(
      async () => ((await sftp("alice", alice.file, "ls\n")).code !== 0 ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 1000,
      },
    );
    expect(refused).toBe(true);
    expect(readFileSync(join(volume, "users", "alice", "files", "report.txt"), "utf8")).toBe(
      "quarterly numbers\n",
    );
  }, 300_000);
});
