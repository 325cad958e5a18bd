// Gerrit Code Review, run for real: its image (Gerrit 3.11's jars from Maven Central, headless) in
// podman on a loopback address, a directory as the service's volume, moto's SSM as the parameter
// store and the nodes' role from the template (moto enforces IAM). A developer signs in by the
// front door's header, makes a project, registers an SSH key and pushes a change with git over SSH.
// Slow (Gerrit's site init and JVM start take about a minute here); it runs in `npm test` like the
// other container files.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { builtImage } from "../rig/images.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true });
const CLUSTER = "gerrittest";
const HTTP_PORT = 18_080;
const SSH_PORT = 29_418;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
let image = "";
let ip = "";
let nodeCreds: AwsCredentials;
let n = 0;
const hostKeyParameter = `/devcluster/${CLUSTER}/db/gerrit/ssh-host-key`;

async function start(volume: string, env: Record<string, string> = {}): Promise<string> {
  const name = `gerrittest-${process.pid}-${++n}`;
  started.push(name);
  const all: Record<string, string> = {
    LISTEN_ADDRESS: ip,
    HTTP_PORT: String(HTTP_PORT),
    SSH_PORT: String(SSH_PORT),
    CLUSTER,
    DOMAIN: "dev.example.test",
    HEAP_MB: "384",
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: rig.moto!.endpoint,
    AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
    ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
    ...env,
  };
  const envArgs = Object.entries(all).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  await podman([
    "run",
    "-d",
    "--name",
    name,
    "--net",
    "host",
    "-v",
    `${volume}:/var/gerrit`,
    ...envArgs,
    image,
  ]);
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
    .map((l) => JSON.parse(l) as { code?: string; error?: string; parameter?: string });

/** Gerrit's init and JVM start take ~40 s on a quiet 2-core machine; 5 min covers a loaded CI run. */
async function listening(name: string) {
  const ok = await pollUntil(
    async () => {
      const c = await codes(name);
      if (c.some((l) => l.code === "listening")) return true;
      if (c.some((l) => l.code === "start.failed" || l.code === "failed")) return false;
      return undefined;
    },
    { timeoutMs: 300_000, intervalMs: 500 },
  );
  expect(ok, await logsOf(name)).toBe(true);
}

const base = () => `http://${ip}:${HTTP_PORT}`;
/** Gerrit's JSON answers start with a line that stops them being run as a script. */
const json = async (r: Response) => JSON.parse((await r.text()).replace(/^\)\]\}'\n/, "")) as unknown;
const as = (user: string, init: RequestInit = {}) => ({
  ...init,
  headers: { ...(init.headers as Record<string, string>), "X-Remote-User": user },
});

const ssm = () => new SSMClient({});

beforeAll(async () => {
  ip = rig.block.address(40);
  nodeCreds = await rig.roleCredentials(
    templateRoleStatements("node", { bucket: "notused", cluster: CLUSTER }),
  );
  image = await builtImage("gerrit");
}, 900_000);

afterEach(async () => {
  for (const name of started) await podman(["stop", "-t", "30", name]).catch(() => {});
}, 120_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "5", name]).catch(() => {});
}, 60_000);

describe("gerrit", () => {
  it("refuses to start with a damaged host key in SSM, naming the parameter, and leaves the volume untouched", async () => {
    const volume = join(rig.dir, "vol-bad");
    mkdirSync(volume);
    const other = `/devcluster/${CLUSTER}-bad/db/gerrit/ssh-host-key`;
    // The node role may write below db/ of its own cluster only: the test writes with its own credentials.
    await ssm().send(new PutParameterCommand({ Name: other, Type: "SecureString", Value: "not a key" }));
    const name = await start(volume, { CLUSTER: `${CLUSTER}-bad` });
    expect(Number((await podman(["wait", name])).stdout.trim())).toBe(1);
    const failed = (await codes(name)).find((l) => l.code === "start.failed");
    expect(failed?.error).toContain(other);
    expect(failed?.error).toContain("holds no OpenSSH private key");
    expect(readdirSync(volume)).toEqual([]);
  }, 120_000);

  it("rejects a bad setting before touching anything", async () => {
    const volume = join(rig.dir, "vol-cfg");
    mkdirSync(volume);
    const name = await start(volume, { DOMAIN: "Not A Domain!" });
    expect(Number((await podman(["wait", name])).stdout.trim())).toBe(2);
    expect((await codes(name)).find((l) => l.code === "config.invalid")?.error).toContain("DOMAIN");
    expect(readdirSync(volume)).toEqual([]);
  }, 120_000);

  it("makes its site once, takes a push over SSH, shows the change over HTTP, and keeps both across a restart", async () => {
    const volume = join(rig.dir, "vol-main");
    mkdirSync(volume);
    const first = await start(volume);
    await listening(first);
    const c1 = (await codes(first)).map((l) => l.code);
    expect(c1).toContain("site.init");
    expect(c1).toContain("host-key.created");
    const config = readFileSync(join(volume, "site", "etc", "gerrit.config"), "utf8");
    expect(config).toMatch(/httpHeader = X-Remote-User/);
    expect(config).toContain(`listenAddress = ${ip}:${SSH_PORT}`);
    expect(config).toContain(`listenUrl = proxy-https://${ip}:${HTTP_PORT}/`);
    expect(config).toContain("canonicalWebUrl = https://gerrit.dev.example.test/");
    expect(config).toContain("advertisedAddress = gerrit.dev.example.test:29418");
    const serverId = /serverId = (\S+)/.exec(config)?.[1];
    expect(serverId).toMatch(/^[0-9a-f-]{36}$/);

    // The health check presence uses.
    const version = await fetch(`${base()}/config/server/version`);
    expect(version.status).toBe(200);

    // Without the front door's header the API refuses; a user who never signed in is unknown.
    expect((await fetch(`${base()}/a/accounts/self`)).status).toBe(403);
    expect((await fetch(`${base()}/a/accounts/self`, as("alice"))).status).toBe(401);
    // A user's account is made on their first visit to /login/ with the header.
    const login = await fetch(`${base()}/login/`, as("alice", { redirect: "manual" }));
    expect(login.status).toBe(302);
    const self = (await json(await fetch(`${base()}/a/accounts/self`, as("alice")))) as { username: string };
    expect(self.username).toBe("alice");

    const project = `demo-${process.pid}`;
    const made = await fetch(
      `${base()}/a/projects/${project}`,
      as("alice", {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ create_empty_commit: true }),
      }),
    );
    expect(made.status, await made.clone().text()).toBe(201);

    const keys = join(rig.dir, "keys");
    mkdirSync(keys);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", join(keys, "alice")]);
    const added = await fetch(
      `${base()}/a/accounts/self/sshkeys`,
      as("alice", {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body: readFileSync(join(keys, "alice.pub"), "utf8"),
      }),
    );
    expect(added.status, await added.clone().text()).toBe(201);

    // The server's host key is the one kept in SSM.
    const stored = (
      await ssm().send(new GetParameterCommand({ Name: hostKeyParameter, WithDecryption: true }))
    ).Parameter!.Value!;
    writeFileSync(join(keys, "host"), stored.endsWith("\n") ? stored : `${stored}\n`, { mode: 0o600 });
    const hostPub = execFileSync("ssh-keygen", ["-y", "-f", join(keys, "host")], { encoding: "utf8" })
      .trim()
      .split(" ")
      .slice(0, 2)
      .join(" ");
    writeFileSync(join(keys, "known_hosts"), `[${ip}]:${SSH_PORT} ${hostPub}\n`);

    const work = join(rig.dir, "work");
    const git = (args: string[]) =>
      sh("git", args, {
        cwd: work,
        env: {
          ...process.env,
          GIT_SSH_COMMAND: `ssh -i ${join(keys, "alice")} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${join(keys, "known_hosts")} -p ${SSH_PORT}`,
          GIT_AUTHOR_NAME: "alice",
          GIT_AUTHOR_EMAIL: "alice@dev.example.test",
          GIT_COMMITTER_NAME: "alice",
          GIT_COMMITTER_EMAIL: "alice@dev.example.test",
        },
      });
    mkdirSync(work);
    const url = `ssh://alice@${ip}:${SSH_PORT}/${project}`;
    await git(["init", "-q", "-b", "master"]);
    await git(["fetch", "-q", url, "master"]);
    await git(["checkout", "-q", "-b", "topic", "FETCH_HEAD"]);
    writeFileSync(join(work, "README"), "hello from alice\n");
    await git(["add", "README"]);
    const changeId = `I${"0123456789abcdef".repeat(3).slice(0, 40)}`;
    await git(["commit", "-q", "-m", `Add a README\n\nChange-Id: ${changeId}`]);
    const pushed = await git(["push", url, "HEAD:refs/for/master"]);
    expect(pushed.stderr).toContain("SUCCESS");

    const changes = async () =>
      (await json(
        await fetch(`${base()}/a/changes/?q=${encodeURIComponent(`project:${project}`)}`, as("alice")),
      )) as { subject: string; change_id: string; status: string; owner: { _account_id: number } }[];
    const listed = await changes();
    expect(listed.map((c) => [c.subject, c.change_id, c.status])).toEqual([
      ["Add a README", changeId, "NEW"],
    ]);

    // A restart on the same volume finds the site: no init, the same server, the change still there.
    await podman(["stop", "-t", "30", first]);
    const second = await start(volume);
    await listening(second);
    const c2 = (await codes(second)).map((l) => l.code);
    expect(c2).toContain("site.found");
    expect(c2).not.toContain("site.init");
    expect(c2).not.toContain("host-key.created");
    expect(
      /serverId = (\S+)/.exec(readFileSync(join(volume, "site", "etc", "gerrit.config"), "utf8"))?.[1],
    ).toBe(serverId);
    expect((await changes()).map((c) => c.subject)).toEqual(["Add a README"]);
    // ...and the same host key: known_hosts still holds (StrictHostKeyChecking=yes).
    await git(["fetch", "-q", url, "refs/changes/*:refs/remotes/changes/*"]);
    expect(existsSync(join(volume, ".site-init"))).toBe(false);
  }, 900_000);
});
