// The account sync of the SSH-key client (devcluster-sshkeys sync), run as root in a throwaway
// container that stands for a plain Debian host: it creates and removes local users by group and
// gives sudo by group, only from a current list signed by the service; a tampered list changes nothing.
import { execFile, execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signKeyList, type KeyListAccount } from "../../functions/domain/sshKeyList.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import { useRig } from "../rig/index.ts";

const sh = promisify(execFile);
const podman = (args: string[]) =>
  sh("podman", args, { env: { ...process.env, CONTAINERS_CONF }, maxBuffer: 16 * 1024 * 1024 });
const rig = useRig({ etcdMembers: 0 });
const CLIENT = resolve("containers/sshkeys/client/devcluster-sshkeys");
const HOST_DIR = resolve("test/fixtures/sshkeys-host");

const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const servicePub = publicKey.export({ type: "spki", format: "pem" }).toString();
const servicePriv = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const dir = mkdtempSync(join(tmpdir(), "sshkeys-sync-"));
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "k", "-f", join(dir, "k")]);
const key = readFileSync(join(dir, "k.pub"), "utf8").trim();

let accountsList = "";
let server: Server;
const container = `sshkeys-sync-${process.pid}`;

const now = () => Math.floor(Date.now() / 1000);
const serve = (accounts: KeyListAccount[]) =>
  (accountsList = signKeyList(
    { subject: "*", issuedAt: now(), expiresAt: now() + 300, accounts },
    servicePriv,
  ));

/** Run a command in the host container as root; resolves with exit code and output. */
const inHost = async (cmd: string[]) => {
  try {
    const r = await podman(["exec", container, ...cmd]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
};
const sync = () => inHost(["/usr/local/sbin/devcluster-sshkeys", "sync"]);
const groupsOf = async (user: string) => {
  const r = await inHost(["id", "-nG", user]);
  return r.code === 0 ? r.stdout.trim().split(" ").sort() : undefined;
};

beforeAll(async () => {
  const host = rig.block.address(2);
  server = createServer((req, res) => {
    const ok = req.url === "/v1/accounts";
    res.writeHead(ok ? 200 : 404, { "content-type": "text/plain" });
    res.end(ok ? accountsList : "not found\n");
  });
  await new Promise<void>((ok) => server.listen(0, host, ok));
  const port = (server.address() as { port: number }).port;
  writeFileSync(join(dir, "service.pem"), servicePub);
  writeFileSync(
    join(dir, "sshkeys.conf"),
    `url=http://${host}:${port}/\npublic_key=/etc/devcluster/service.pem\nsync_groups=developers admins\nsudo_groups=admins\n`,
  );
  // Tagged by the Containerfile's content, so a changed host is rebuilt and an unchanged one reused.
  const tag = createHash("sha256")
    .update(readFileSync(join(HOST_DIR, "Containerfile")))
    .digest("hex")
    .slice(0, 12);
  const image = `localhost/devcluster-test/sshkeys-host:${tag}`;
  await podman(["build", "-q", "-t", image, HOST_DIR]);
  await podman([
    "run",
    "-d",
    "--rm",
    "--name",
    container,
    "--network",
    "host",
    "-v",
    `${CLIENT}:/usr/local/sbin/devcluster-sshkeys:ro`,
    "-v",
    `${join(dir, "sshkeys.conf")}:/etc/devcluster/sshkeys.conf:ro`,
    "-v",
    `${join(dir, "service.pem")}:/etc/devcluster/service.pem:ro`,
    image,
    "sleep",
    "infinity",
  ]);
  // A local account the host had before: the sync must never take it over or remove it.
  await inHost(["useradd", "--create-home", "dave"]);
}, 600_000);

afterAll(async () => {
  await podman(["rm", "-f", "-t", "0", container]).catch(() => undefined);
  await new Promise<void>((ok) => server.close(() => ok()));
  rmSync(dir, { recursive: true, force: true });
});

describe("devcluster-sshkeys sync", () => {
  it("when run with a signed list, it creates the synced groups' members and gives sudo to admins only", async () => {
    serve([
      { user: "alice", groups: ["developers", "admins"], keys: [key] },
      { user: "bob", groups: ["developers"], keys: [] },
      { user: "carol", groups: ["marketing"], keys: [key] },
      { user: "dave", groups: ["developers"], keys: [] },
    ]);
    const r = await sync();
    expect(r.code, r.stderr).toBe(0);
    expect(await groupsOf("alice")).toEqual(["alice", "devcluster-sudo", "devcluster-users"]);
    expect(await groupsOf("bob")).toEqual(["bob", "devcluster-users"]);
    expect(await groupsOf("carol")).toBeUndefined();
    expect(await groupsOf("dave")).toEqual(["dave"]);
    expect(r.stderr).toMatch(/skipped dave: a local account this script did not create/);
    expect((await inHost(["visudo", "-c"])).code).toBe(0);
    expect((await inHost(["sudo", "-l", "-U", "alice"])).stdout).toMatch(/\(ALL : ALL\) NOPASSWD: ALL/);
    expect((await inHost(["sudo", "-l", "-U", "bob"])).stdout).toMatch(/not allowed to run sudo/);
    expect((await inHost(["test", "-d", "/home/bob"])).code).toBe(0);
    // Run again with the same list: nothing to do, nothing changed (only the skip is said again).
    const again = await sync();
    expect(again).toMatchObject({
      code: 0,
      stderr: "devcluster-sshkeys: skipped dave: a local account this script did not create\n",
    });
  });

  it("when the list is tampered with, it refuses it and changes no account", async () => {
    serve([{ user: "alice", groups: ["developers"], keys: [key] }]);
    accountsList = accountsList.replace("user alice developers", "user alice developers admins");
    const r = await sync();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refused: bad signature/);
    expect(await groupsOf("alice")).toEqual(["alice", "devcluster-sudo", "devcluster-users"]);
    expect(await groupsOf("bob")).toEqual(["bob", "devcluster-users"]);
  });

  it("when an expired list is replayed, it refuses it and changes no account", async () => {
    accountsList = signKeyList(
      { subject: "*", issuedAt: now() - 900, expiresAt: now() - 600, accounts: [] },
      servicePriv,
    );
    const r = await sync();
    expect(r.stderr).toMatch(/refused: expired list/);
    expect(await groupsOf("alice")).toEqual(["alice", "devcluster-sudo", "devcluster-users"]);
    expect(await groupsOf("bob")).toEqual(["bob", "devcluster-users"]);
  });

  it("when users leave the groups, it removes their sudo and accounts, keeps their homes and other accounts", async () => {
    serve([
      { user: "alice", groups: ["developers"], keys: [key] },
      { user: "dave", groups: ["developers"], keys: [] },
    ]);
    const r = await sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/sudo removed from alice/);
    expect(r.stderr).toMatch(/removed bob/);
    expect(await groupsOf("alice")).toEqual(["alice", "devcluster-users"]);
    expect(await groupsOf("bob")).toBeUndefined();
    expect(await groupsOf("dave")).toEqual(["dave"]);
    expect((await inHost(["test", "-d", "/home/bob"])).code).toBe(0);
    expect((await inHost(["sudo", "-l", "-U", "alice"])).stdout).toMatch(/not allowed to run sudo/);
  });
});
