// The SSH-key service, run for real: its image in podman twice on a loopback address (the page and
// API behind sign-in, and the public lists), the Postgres building block's image holding its
// database, moto as Cognito and SSM with the nodes' role from the template (moto enforces IAM), and
// a front door announced in etcd. Callers send X-Remote-User/X-Remote-Groups from that front door's
// address, as nginx does after sign-in (its stripping of forged headers is tested in sso.test.ts);
// the lists are checked by the real host helper, and the page is driven in Chromium.
import { execFile, execFileSync } from "node:child_process";
import { Agent, createServer, request, type Server } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  AdminListGroupsForUserCommand,
  CognitoIdentityProviderClient,
} from "@aws-sdk/client-cognito-identity-provider";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { verifyKeyList } from "../../functions/domain/sshKeyList.ts";
import { ensureUserPool } from "../../functions/adapters/aws/cognitoPool.ts";
import { cognitoUserDirectory } from "../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../functions/operations/users.ts";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { keyStore } from "../../containers/sshkeys/src/store.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true, etcdMembers: 1 });
const CLUSTER = "skeytest";
const PG_PORT = 15_432;
const APP_PORT = 18_099;
const LISTS_PORT = 18_100;
const DOOR_PORT = 18_101;
const TAMPER_PORT = 18_102;
const PASSWORD = "Correct-horse-9-battery";
const HELPER = join(PROJECT_ROOT, "containers", "sshkeys", "client", "devcluster-sshkeys");
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
const images: Record<string, string> = {};
let ip = "";
/** The announced front door's address: the page's and API's callers connect from it. */
let doorIp = "";
/** Any other address on the private network. */
let otherIp = "";
let nodeCreds: AwsCredentials;
let poolId = "";
let pgName = "";
let n = 0;
const servers: Server[] = [];
const dir = mkdtempSync(join(tmpdir(), "sshkeys-svc-"));

const keygen = (name: string, type = "ed25519", bits?: number) => {
  execFileSync("ssh-keygen", [
    "-q",
    "-t",
    type,
    ...(bits ? ["-b", String(bits)] : []),
    "-N",
    "",
    "-C",
    name,
    "-f",
    join(dir, name),
  ]);
  const line = readFileSync(join(dir, `${name}.pub`), "utf8").trim();
  const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", join(dir, `${name}.pub`)], { encoding: "utf8" })
    .trim()
    .split(" ")[1]!;
  return { line, fingerprint };
};

async function run(env: Record<string, string>, prefix: string, image: string, extra: string[] = []) {
  const name = `${prefix}-${process.pid}-${++n}`;
  started.push(name);
  const all: Record<string, string> = {
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: rig.moto!.endpoint,
    AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
    ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
    ...env,
  };
  await podman([
    "run",
    "-d",
    "--name",
    name,
    "--net",
    "host",
    ...extra,
    ...Object.entries(all).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    image,
  ]);
  return name;
}

const logsOf = async (name: string) => {
  const r = await podman(["logs", name]);
  return r.stdout + r.stderr;
};

async function listening(name: string) {
  const ok = await pollUntil(
    async () => ((await logsOf(name)).includes('"code":"listening"') ? true : undefined),
    {
      timeoutMs: 120_000,
      intervalMs: 250,
    },
  );
  expect(ok, await logsOf(name)).toBe(true);
}

interface Answer {
  status: number;
  text: string;
  json: () => Record<string, unknown> & { error?: string };
}

/** One call to a port on the service's address, from the front door's address unless `from` says otherwise. */
function call(
  port: number,
  path: string,
  opts: { user?: string; groups?: string; method?: string; json?: unknown; from?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
    const req = request(
      `http://${ip}:${port}${path}`,
      {
        method: opts.method ?? (body ? "POST" : "GET"),
        localAddress: opts.from ?? doorIp,
        agent: new Agent({ keepAlive: false }),
        headers: {
          ...(opts.user ? { "x-remote-user": opts.user } : {}),
          ...(opts.groups ? { "x-remote-groups": opts.groups } : {}),
          ...(body ? { "content-type": "application/json" } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) as never });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
const app = (path: string, opts: Parameters<typeof call>[2] = {}) =>
  call(APP_PORT, path, { user: "alice", groups: "developers", ...opts });
const lists = (path: string) => call(LISTS_PORT, path, { from: otherIp });

interface KeyView {
  id: string;
  fingerprint: string;
  type: string;
  bits: number;
  comment: string;
}
const keysOf = async (user: string, groups = "developers") => {
  const r = await app("/api/me", { user, groups });
  expect(r.status, r.text).toBe(200);
  return r.json().keys as KeyView[];
};

/** The rows of the service's table, read as the database's superuser on its own socket. */
async function storedRows(): Promise<string[]> {
  const r = await podman([
    "exec",
    "-u",
    "postgres",
    pgName,
    "psql",
    "-X",
    "-tA",
    "-h",
    "/run/postgresql",
    "-p",
    String(PG_PORT),
    "-d",
    "sshkeys",
    "-c",
    "SELECT username || ' ' || fingerprint FROM ssh_keys ORDER BY id",
  ]);
  return r.stdout.trim().split("\n").filter(Boolean);
}

/** The host helper as sshd runs it, against `url`; resolves with its exit code and output. */
function helper(url: string, user: string) {
  const conf = join(dir, `conf-${++n}`);
  writeFileSync(conf, `url=${url}\npublic_key=${join(dir, "service.pem")}\ntimeout=10\n`);
  return new Promise<{ code: number; stdout: string; stderr: string }>((ok) => {
    execFile(
      HELPER,
      ["authorized-keys", user],
      { env: { PATH: process.env.PATH, DEVCLUSTER_SSHKEYS_CONF: conf } },
      (e, stdout, stderr) => ok({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const listen = (s: Server, port: number, host: string) =>
  new Promise<void>((ok) => {
    servers.push(s);
    s.listen(port, host, ok);
  });

beforeAll(async () => {
  ip = rig.block.address(40);
  doorIp = rig.block.address(43);
  otherIp = rig.block.address(44);
  const etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
  await etcd.put("/services/nginx/instances/nginx@1.service").value(
    JSON.stringify({
      service: "nginx",
      instance: "nginx@1.service",
      privateIp: doorIp,
      port: 80,
      ports: { http: 80 },
    }),
  );
  etcd.close();

  const cognito = new CognitoIdentityProviderClient({});
  const pool = await ensureUserPool(cognito, CLUSTER);
  poolId = pool.userPoolId;
  const users = cognitoUserDirectory(cognito, poolId);
  await addUser(users, "alice", { password: PASSWORD, groups: ["developers"] });
  await addUser(users, "bob", { password: PASSWORD, groups: ["developers"] });
  await addUser(users, "carol", { password: PASSWORD, groups: ["admins"] });
  // A pool user whose name cannot be a local account: never in a list.
  await addUser(users, "Zed.Upper", { password: PASSWORD, groups: ["developers"] });
  nodeCreds = await rig.roleCredentials(
    templateRoleStatements("node", { bucket: "notused", cluster: CLUSTER, userPoolId: poolId }),
  );

  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "postgres", "sshkeys"], {
    cwd: PROJECT_ROOT,
    env: podmanEnv,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 900_000,
  });
  Object.assign(
    images,
    JSON.parse(readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8")) as Record<
      string,
      string
    >,
  );
  const volume = join(rig.dir, "pg");
  mkdirSync(volume);
  pgName = await run(
    { LISTEN_ADDRESS: ip, PORT: String(PG_PORT), CLUSTER, SERVICE: "postgres", CLIENTS: "sshkeys" },
    "sktest-pg",
    images.postgres!,
    ["-v", `${volume}:/var/lib/postgresql`],
  );
  const common = {
    LISTEN_ADDRESS: ip,
    CLUSTER,
    USER_POOL_ID: poolId,
    DB_HOST: ip,
    DB_PORT: String(PG_PORT),
    DB_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/postgres/sshkeys/password`,
  };
  const appName = await run(
    { ...common, ROLE: "app", PORT: String(APP_PORT), ETCD_ENDPOINTS: rig.etcd!.endpoints.join(",") },
    "sktest-app",
    images.sshkeys!,
  );
  const listsName = await run(
    { ...common, ROLE: "lists", PORT: String(LISTS_PORT) },
    "sktest-lists",
    images.sshkeys!,
  );
  await listening(pgName);
  await listening(appName);
  await listening(listsName);
  // The app trusts the front door once it has read it from etcd.
  const trusted = await pollUntil(async () => ((await app("/api/me")).status === 200 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 250,
  });
  expect(trusted, await logsOf(appName)).toBe(true);
  const pub = await lists("/v1/public-key");
  expect(pub.status).toBe(200);
  writeFileSync(join(dir, "service.pem"), pub.text);
}, 900_000);

afterAll(async () => {
  for (const s of servers) await new Promise<void>((ok) => s.close(() => ok()));
  for (const name of started.reverse()) await podman(["rm", "-f", "-t", "10", name]).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("the SSH-key service", () => {
  const alice = keygen("alice-laptop");
  const alice2 = keygen("alice-token");
  const bob = keygen("bob-laptop");
  const carol = keygen("carol-laptop");

  it("makes its signing key once, as a SecureString, and publishes its public half", async () => {
    const ssm = new SSMClient({});
    const p = await ssm.send(
      new GetParameterCommand({ Name: `/devcluster/${CLUSTER}/sshkeys/signing-key`, WithDecryption: true }),
    );
    expect(p.Parameter!.Type).toBe("SecureString");
    expect(p.Parameter!.Version).toBe(1);
    const pub = execFileSync("openssl", ["pkey", "-pubout"], {
      input: p.Parameter!.Value!,
      encoding: "utf8",
    });
    expect((await lists("/v1/public-key")).text).toBe(pub);
    // Never on the page's host, and never the private key anywhere.
    expect((await lists("/v1/public-key")).text).not.toContain("PRIVATE");
  });

  it("adds, lists and removes a user's own keys; another user's key cannot be removed", async () => {
    const added = await app("/api/keys", { json: { key: alice.line } });
    expect(added.status, added.text).toBe(201);
    expect(added.json()).toMatchObject({
      added: true,
      key: { fingerprint: alice.fingerprint, type: "ssh-ed25519" },
    });
    const again = await app("/api/keys", { json: { key: alice.line + "\n" } });
    expect(again.status, again.text).toBe(200);
    expect(again.json()).toMatchObject({ added: false });
    expect((await app("/api/keys", { json: { key: alice2.line } })).status).toBe(201);
    expect((await app("/api/keys", { json: { key: bob.line }, user: "bob" })).status).toBe(201);

    const mine = await keysOf("alice");
    expect(mine.map((k) => k.fingerprint)).toEqual([alice.fingerprint, alice2.fingerprint]);
    expect(mine[0]).toMatchObject({ type: "ssh-ed25519", bits: 256, comment: "alice-laptop" });
    const bobs = await keysOf("bob");
    expect(bobs.map((k) => k.fingerprint)).toEqual([bob.fingerprint]);

    // bob may not remove alice's key: refused, and it stays.
    const refused = await app(`/api/keys/${mine[1]!.id}`, { method: "DELETE", user: "bob" });
    expect(refused.status).toBe(403);
    expect(refused.json().error).toMatch(/not yours/);
    expect((await keysOf("alice")).map((k) => k.fingerprint)).toEqual([
      alice.fingerprint,
      alice2.fingerprint,
    ]);

    const removed = await app(`/api/keys/${mine[1]!.id}`, { method: "DELETE" });
    expect(removed.status, removed.text).toBe(200);
    expect((await keysOf("alice")).map((k) => k.fingerprint)).toEqual([alice.fingerprint]);
    expect((await app(`/api/keys/${mine[1]!.id}`, { method: "DELETE" })).status).toBe(404);
    expect(await storedRows()).toEqual([`alice ${alice.fingerprint}`, `bob ${bob.fingerprint}`]);
  });

  it("refuses a malformed, weak, optioned or multi-line key with a clear error and stores nothing", async () => {
    const before = await storedRows();
    const weak = keygen("weak", "rsa", 2048);
    const ecdsa = keygen("ec", "ecdsa");
    const cases: [string, RegExp][] = [
      [weak.line, /RSA key of 2048 bits is too weak: at least 3072/],
      [ecdsa.line, /ecdsa-sha2-nistp256 keys are not accepted/],
      [`command="/bin/sh" ${carol.line}`, /options before the key .* are not accepted/],
      [`${carol.line}\n${bob.line}`, /more than one line/],
      ["ssh-ed25519 AAAA!!notbase64", /not base64/],
      [
        carol.line.replace(/ssh-ed25519 AAAA\S{10}/, "ssh-ed25519 AAAAAAAAAAAAAA"),
        /not an accepted SSH public key/,
      ],
      ["", /empty/],
    ];
    for (const [key, error] of cases) {
      const r = await app("/api/keys", { json: { key }, user: "carol", groups: "admins" });
      expect(r.status, key).toBe(400);
      expect(r.json().error, key).toMatch(error);
    }
    const notJson = await call(APP_PORT, "/api/keys", { user: "carol", method: "POST" });
    expect(notJson.status).toBe(415);
    expect(await storedRows()).toEqual(before);
    expect(await keysOf("carol", "admins")).toEqual([]);
  });

  it("believes X-Remote-User only from an announced front door", async () => {
    const before = await storedRows();
    const forged = await app("/api/keys", { json: { key: carol.line }, user: "alice", from: otherIp });
    expect(forged.status).toBe(403);
    expect(forged.json().error).toMatch(/only through the front door/);
    const peek = await app("/api/me", { user: "alice", from: otherIp });
    expect(peek.status).toBe(403);
    expect(peek.text).not.toContain(alice.fingerprint);
    const asAdmin = await app("/api/groups", {
      json: { user: "alice", group: "admins", action: "add" },
      user: "carol",
      groups: "admins",
      from: otherIp,
    });
    expect(asAdmin.status).toBe(403);
    expect(await storedRows()).toEqual(before);
    // Through the front door without a user: sign in first.
    expect((await call(APP_PORT, "/api/me")).status).toBe(401);
    // presence's check answers anyone, with no data.
    expect((await app("/healthz", { from: otherIp })).status).toBe(200);
  });

  it("lets admins, and only admins, put users in and out of the pool's groups", async () => {
    const cognito = new CognitoIdentityProviderClient({});
    const groupsOf = async (user: string) =>
      (
        (await cognito.send(new AdminListGroupsForUserCommand({ UserPoolId: poolId, Username: user })))
          .Groups ?? []
      )
        .map((g) => g.GroupName)
        .sort();
    const byAlice = await app("/api/groups", { json: { user: "alice", group: "admins", action: "add" } });
    expect(byAlice.status).toBe(403);
    expect(byAlice.json().error).toMatch(/only members of admins/);
    expect((await app("/api/users")).status).toBe(403);
    expect(await groupsOf("alice")).toEqual(["developers"]);

    const asCarol = { user: "carol", groups: "admins" };
    const users = await app("/api/users", asCarol);
    expect(users.status, users.text).toBe(200);
    expect(users.json()).toMatchObject({ groups: ["admins", "developers"] });
    expect(
      (users.json().users as { name: string; groups: string[] }[]).find((u) => u.name === "bob"),
    ).toMatchObject({
      groups: ["developers"],
    });
    const add = await app("/api/groups", {
      json: { user: "bob", group: "admins", action: "add" },
      ...asCarol,
    });
    expect(add.status, add.text).toBe(200);
    expect(add.json()).toMatchObject({ changed: true, message: "added bob to admins" });
    expect(await groupsOf("bob")).toEqual(["admins", "developers"]);
    const repeat = await app("/api/groups", {
      json: { user: "bob", group: "admins", action: "add" },
      ...asCarol,
    });
    expect(repeat.json()).toMatchObject({ changed: false });
    const out = await app("/api/groups", {
      json: { user: "bob", group: "admins", action: "remove" },
      ...asCarol,
    });
    expect(out.json()).toMatchObject({ changed: true, message: "removed bob from admins" });
    expect(await groupsOf("bob")).toEqual(["developers"]);

    const unknownGroup = await app("/api/groups", {
      json: { user: "bob", group: "wheel", action: "add" },
      ...asCarol,
    });
    expect(unknownGroup.status).toBe(400);
    expect(unknownGroup.json().error).toMatch(/no such group: wheel/);
    const unknownUser = await app("/api/groups", {
      json: { user: "nobody", group: "admins", action: "add" },
      ...asCarol,
    });
    expect(unknownUser.status).toBe(404);
    const malformed = await app("/api/groups", { json: { user: "bob", action: "promote" }, ...asCarol });
    expect(malformed.status).toBe(400);
    expect(malformed.json().error).toMatch(/action: add or remove/);
  });

  it("serves signed lists of the pool's users the host helper accepts, and a tampered one is refused", async () => {
    const url = `http://${ip}:${LISTS_PORT}/`;
    // A key stored for someone not in the pool is never listed.
    await podman([
      "exec",
      "-u",
      "postgres",
      pgName,
      "psql",
      "-X",
      "-q",
      "-h",
      "/run/postgresql",
      "-p",
      String(PG_PORT),
      "-d",
      "sshkeys",
      "-c",
      `INSERT INTO ssh_keys (username, fingerprint, line) VALUES ('ghost', '${carol.fingerprint}', '${carol.line}')`,
    ]);
    const ok = await helper(url, "alice");
    expect(ok, ok.stderr).toMatchObject({ code: 0, stdout: `${alice.line}\n` });
    expect(await helper(url, "bob")).toMatchObject({ code: 0, stdout: `${bob.line}\n` });
    expect(await helper(url, "ghost")).toMatchObject({ stdout: "" });

    const pub = readFileSync(join(dir, "service.pem"), "utf8");
    const now = Math.floor(Date.now() / 1000);
    const all = verifyKeyList((await lists("/v1/accounts")).text, pub, "*", now);
    expect(all.accounts).toEqual([
      { user: "alice", groups: ["developers"], keys: [alice.line] },
      { user: "bob", groups: ["developers"], keys: [bob.line] },
      { user: "carol", groups: ["admins"], keys: [] },
    ]);
    expect(all.expiresAt - all.issuedAt).toBe(300);
    expect((await lists("/v1/keys/..%2Fetc")).status).toBe(400);

    // A host that reaches something else in between: one key line swapped after signing.
    const tamper = createServer((req, res) => {
      void (async () => {
        const real = await lists(req.url ?? "/");
        res.writeHead(real.status, { "content-type": "text/plain" });
        res.end(real.text.replace(alice.line, bob.line));
      })();
    });
    await listen(tamper, TAMPER_PORT, otherIp);
    const bad = await helper(`http://${otherIp}:${TAMPER_PORT}/`, "alice");
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toMatch(/refused: bad signature/);
  });

  it("adds a key through the page in Chromium and lists it with its fingerprint", async () => {
    // A stand-in for the front door: it connects from its announced address and says who signed in.
    const door = createServer((req, res) => {
      const up = request(
        `http://${ip}:${APP_PORT}${req.url ?? "/"}`,
        {
          method: req.method,
          localAddress: doorIp,
          agent: new Agent({ keepAlive: false }),
          headers: { ...req.headers, "x-remote-user": "dave", "x-remote-groups": "developers" },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => res.writeHead(502).end());
      req.pipe(up);
    });
    await listen(door, DOOR_PORT, doorIp);
    const dave = keygen("dave-laptop");
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://${doorIp}:${DOOR_PORT}/`);
      await page.getByText("Signed in as dave").waitFor({ timeout: 30_000 });
      await page.getByLabel("SSH public key").fill(dave.line);
      await page.getByRole("button", { name: "Add key" }).click();
      await page
        .getByRole("status")
        .filter({ hasText: /Added|Failed/ })
        .waitFor({ timeout: 30_000 });
      expect(await page.getByRole("status").textContent()).toBe(`Added ${dave.fingerprint}`);
      const row = page
        .getByRole("table", { name: "Your keys" })
        .getByRole("row")
        .filter({ hasText: dave.fingerprint });
      await row.waitFor({ timeout: 30_000 });
      expect(await row.textContent()).toContain("dave-laptop");
      // A weak key through the page: the error is shown and nothing is added.
      await page.getByLabel("SSH public key").fill(keygen("dave-weak", "rsa", 2048).line);
      await page.getByRole("button", { name: "Add key" }).click();
      await page
        .getByRole("status")
        .filter({ hasText: /too weak/ })
        .waitFor({ timeout: 30_000 });
      expect(await page.getByRole("table", { name: "Your keys" }).getByRole("row").count()).toBe(2);
    } finally {
      await browser.close();
    }
    expect((await keysOf("dave")).map((k) => k.fingerprint)).toEqual([dave.fingerprint]);
  });

  it("makes its table once when several instances start at once on a new database", async () => {
    // Both units make the table at start, at the same time on a new cluster: two concurrent CREATE
    // TABLE IF NOT EXISTS collide in Postgres's catalog unless one waits for the other. Raced here
    // from this machine's psql with the service's own store, on the table dropped first (last test).
    const dropTable = () =>
      podman(
        ["exec", "-u", "postgres", pgName, "psql", "-X", "-q", "-h", "/run/postgresql"].concat([
          "-p",
          String(PG_PORT),
          "-d",
          "sshkeys",
          "-c",
          "DROP TABLE ssh_keys",
        ]),
      );
    const ssm = new SSMClient({ region: "eu-west-1", credentials: rig.moto!.admin });
    const db = {
      host: ip,
      port: PG_PORT,
      name: "sshkeys",
      passwordParam: `/devcluster/${CLUSTER}/db/postgres/sshkeys/password`,
    };
    for (let round = 0; round < 3; round++) {
      await dropTable();
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => keyStore(ssm, db, `race-${i}`).ensureSchema()),
      );
      expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    }
    expect(await storedRows()).toEqual([]);
  });
});
