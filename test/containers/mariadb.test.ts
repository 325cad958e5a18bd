// The MariaDB building block and the PHP application template, run for real: their images (Debian's
// MariaDB; Debian's nginx and php-fpm) in podman on loopback addresses, a directory as the database's
// volume, moto's SSM as the parameter store, and the nodes' role from the template (moto enforces
// IAM), so the programs can do exactly what a node may.
import { execFile } from "node:child_process";
import { request } from "node:http";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { builtImages } from "../rig/images.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true, etcdMembers: 1 });
const CLUSTER = "mdbtest";
const BUCKET = "mdbtest-snapshots";
const PORT = 13_306;
const APP_PORT = 18_088;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
const images: Record<string, string> = {};
let ip = "";
/** The announced front door's address: the application's callers connect from it. */
let doorIp = "";
/** Any other address on the private network. */
let otherIp = "";
let nodeCreds: AwsCredentials;
let n = 0;

const awsEnv = () => ({
  CLUSTER,
  AWS_REGION: "eu-west-1",
  AWS_ENDPOINT_URL: rig.moto!.endpoint,
  AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
  AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
  ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
});

/** Run `image` detached on the host's network with `env`; resolves with the container's name. */
async function run(
  image: string,
  env: Record<string, string>,
  extra: string[] = [],
  tracked = started,
): Promise<string> {
  const name = `mdbtest-${process.pid}-${++n}`;
  tracked.push(name);
  const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  await podman(["run", "-d", "--name", name, "--net", "host", ...extra, ...envArgs, image]);
  return name;
}

/** The database on `volume` with `env` over the defaults. */
const startDb = (volume: string, env: Record<string, string> = {}, tracked = started) =>
  run(
    images.mariadb!,
    { LISTEN_ADDRESS: ip, PORT: String(PORT), SERVICE: "mariadb", ...awsEnv(), ...env },
    ["-v", `${volume}:/var/lib/mysql`],
    tracked,
  );

/** The PHP application, reaching the database at its address directly (the ambassador's part on a node). */
const startApp = (env: Record<string, string> = {}) =>
  run(images.phpapp!, {
    LISTEN_ADDRESS: ip,
    PORT: String(APP_PORT),
    DB_HOST: ip,
    DB_PORT: String(PORT),
    DB_NAME: "phpapp",
    DB_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/mariadb/phpapp/password`,
    ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
    ...awsEnv(),
    ...env,
  });

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
/** One HTTP request to the application from `from` (the front door's address unless said). */
function call(
  method: string,
  path: string,
  opts: { from?: string; user?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: ip,
        port: APP_PORT,
        method,
        path,
        localAddress: opts.from ?? doorIp,
        headers: {
          ...(opts.user ? { "x-remote-user": opts.user } : {}),
          ...(opts.body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const notesOf = async (user: string) =>
  (
    JSON.parse((await call("GET", "/notes.json", { user })).body) as {
      notes: { author: string; body: string }[];
    }
  ).notes;

const logsOf = async (name: string) => {
  const r = await podman(["logs", name]);
  return r.stdout + r.stderr;
};
const codes = async (name: string) =>
  (await logsOf(name))
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { code?: string; error?: string; parameter?: string; msg?: string });

async function logged(name: string, code: string) {
  // A program that failed to start never logs `code`: stop waiting then.
  const ok = await pollUntil(
    async () => {
      const seen = (await codes(name)).map((l) => l.code);
      if (seen.includes(code)) return true;
      if (seen.includes("start.failed") || seen.includes("config.invalid")) return false;
      return undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  expect(ok, await logsOf(name)).toBe(true);
}

async function exitCode(name: string): Promise<number> {
  return Number((await podman(["wait", name])).stdout.trim());
}

/** The mariadb client inside the database's container, over TCP to the announced address. */
async function sql(name: string, user: string, db: string, password: string, query: string) {
  const r = await podman([
    "exec",
    "-e",
    `MYSQL_PWD=${password}`,
    name,
    "mariadb",
    "--no-defaults",
    "--batch",
    "--skip-column-names",
    "-h",
    ip,
    "-P",
    String(PORT),
    "-u",
    user,
    db,
    "-e",
    query,
  ]);
  return r.stdout.trim();
}

const ssm = () => new SSMClient({});
const password = async (client: string) => {
  const r = await ssm().send(
    new GetParameterCommand({
      Name: `/devcluster/${CLUSTER}/db/mariadb/${client}/password`,
      WithDecryption: true,
    }),
  );
  return { value: r.Parameter!.Value!, type: r.Parameter!.Type, version: r.Parameter!.Version };
};
const parameterExists = (client: string) =>
  password(client).then(
    () => true,
    (e: { name?: string }) => (e.name === "ParameterNotFound" ? false : Promise.reject(e)),
  );

beforeAll(async () => {
  ip = rig.block.address(41);
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
  nodeCreds = await rig.roleCredentials(templateRoleStatements("node", { bucket: BUCKET, cluster: CLUSTER }));
  Object.assign(images, await builtImages(["mariadb", "phpapp"]));
}, 900_000);

// Every test's containers are gone before the next starts: they share the address and the port.
afterEach(async () => {
  for (const name of started) await podman(["stop", "-t", "30", name]).catch(() => {});
}, 120_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "5", name]).catch(() => {});
}, 60_000);

describe("the mariadb building block", () => {
  const volume = () => join(rig.dir, "vol-main");

  it("first start: makes the data directory, root's and each client's password once as SecureStrings, their databases and users, then listens", async () => {
    mkdirSync(volume());
    const name = await startDb(volume(), { CLIENTS: "phpapp,build-bot" });
    await logged(name, "listening");
    const log = await codes(name);
    expect(log.map((l) => l.code)).toContain("datadir.created");
    expect(log.filter((l) => l.code === "password.created").map((l) => l.parameter)).toEqual([
      `/devcluster/${CLUSTER}/db/mariadb/root/password`,
      `/devcluster/${CLUSTER}/db/mariadb/phpapp/password`,
      `/devcluster/${CLUSTER}/db/mariadb/build-bot/password`,
    ]);
    const root = await password("root");
    const app = await password("phpapp");
    const bot = await password("build-bot");
    expect(app.type).toBe("SecureString");
    expect(root.type).toBe("SecureString");
    expect(app.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set([root.value, app.value, bot.value]).size).toBe(3);
    // No password is ever written to the logs.
    const text = await logsOf(name);
    for (const p of [root, app, bot]) expect(text).not.toContain(p.value);
    // Each client owns its database, and can reach only that one, only with its password.
    await sql(
      name,
      "phpapp",
      "phpapp",
      app.value,
      "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('first')",
    );
    expect(
      await sql(name, "build_bot", "build_bot", bot.value, "SELECT CONCAT(CURRENT_USER(), ' ', DATABASE())"),
    ).toBe("build_bot@% build_bot");
    await expect(sql(name, "phpapp", "build_bot", app.value, "SELECT 1")).rejects.toThrow(
      /Access denied for user 'phpapp'@'%' to database 'build_bot'/,
    );
    await expect(sql(name, "phpapp", "phpapp", bot.value, "SELECT 1")).rejects.toThrow(
      /Access denied for user 'phpapp'/,
    );
    // root never over the network, even with its password; on the container's socket it may.
    await expect(sql(name, "root", "mysql", root.value, "SELECT 1")).rejects.toThrow(
      /Access denied for user 'root'/,
    );
    const viaSocket = await podman([
      "exec",
      "-u",
      "mysql",
      "-e",
      `MYSQL_PWD=${root.value}`,
      name,
      "mariadb",
      "--no-defaults",
      "--batch",
      "--skip-column-names",
      "--socket=/run/mysqld/mariadbd.sock",
      "-u",
      "root",
      "-e",
      "SELECT CURRENT_USER()",
    ]);
    expect(viaSocket.stdout.trim()).toBe("root@localhost");
    await podman(["stop", "-t", "30", name]);
    expect(await exitCode(name)).toBe(0);
  }, 240_000);

  it("a restart on the same volume keeps every row, the passwords and the users, and never initialises again", async () => {
    const before = { root: await password("root"), app: await password("phpapp") };
    const name = await startDb(volume(), { CLIENTS: "phpapp,build-bot" });
    await logged(name, "listening");
    const log = await codes(name);
    expect(log.map((l) => l.code)).toContain("datadir.found");
    expect(log.map((l) => l.code)).not.toContain("datadir.created");
    expect(log.map((l) => l.code)).not.toContain("password.created");
    expect(await password("root")).toEqual(before.root);
    expect(await password("phpapp")).toEqual(before.app);
    expect(await sql(name, "phpapp", "phpapp", before.app.value, "SELECT body FROM notes")).toBe("first");
    await sql(name, "phpapp", "phpapp", before.app.value, "INSERT INTO notes VALUES ('second')");
    // Killed, not stopped: InnoDB's log brings back every committed row.
    await podman(["kill", "-s", "KILL", name]);
    await exitCode(name);
    // A client taken out of the list keeps its database: nothing is ever dropped.
    const again = await startDb(volume(), { CLIENTS: "build-bot" });
    await logged(again, "listening");
    expect((await codes(again)).map((l) => l.code)).not.toContain("datadir.created");
    expect(
      await sql(again, "phpapp", "phpapp", before.app.value, "SELECT body FROM notes ORDER BY body"),
    ).toBe("first\nsecond");
    await podman(["stop", "-t", "30", again]);
    expect(await exitCode(again)).toBe(0);
  }, 240_000);

  it("refuses a data directory holding files that are not its own, and changes nothing", async () => {
    const vol = join(rig.dir, "vol-foreign");
    mkdirSync(join(vol, "data"), { recursive: true });
    writeFileSync(join(vol, "data", "notes.txt"), "keep me\n");
    const name = await startDb(vol, { CLIENTS: "phpapp" });
    expect(await exitCode(name)).toBe(1);
    const failed = (await codes(name)).find((l) => l.code === "start.failed");
    expect(failed?.error).toMatch(
      /\/var\/lib\/mysql\/data holds files that are not a MariaDB data directory \(notes\.txt\)/,
    );
    expect(readdirSync(join(vol, "data"))).toEqual(["notes.txt"]);
    expect(readFileSync(join(vol, "data", "notes.txt"), "utf8")).toBe("keep me\n");
  }, 120_000);

  it("refuses a client name MariaDB keeps for itself: exit 2 naming it, nothing made", async () => {
    const vol = join(rig.dir, "vol-bad");
    mkdirSync(vol);
    const name = await startDb(vol, { CLIENTS: "shop,mysql", CLUSTER: "mdbother" });
    expect(await exitCode(name)).toBe(2);
    const failed = (await codes(name)).find((l) => l.code === "config.invalid");
    expect(failed?.error).toMatch(/CLIENTS: .*: mysql$/);
    expect(readdirSync(vol)).toEqual([]);
    await expect(
      ssm().send(new GetParameterCommand({ Name: "/devcluster/mdbother/db/mariadb/root/password" })),
    ).rejects.toThrow(/ParameterNotFound|not found/i);
    expect(existsSync(join(vol, "data"))).toBe(false);
    expect(await parameterExists("shop")).toBe(false);
  }, 120_000);
});

describe("the PHP application on MariaDB", () => {
  const dbs: string[] = [];
  let db = "";
  let appPassword = "";

  beforeAll(async () => {
    const vol = join(rig.dir, "vol-app");
    mkdirSync(vol);
    db = await startDb(vol, { CLIENTS: "phpapp" }, dbs);
    await logged(db, "listening");
    appPassword = (await password("phpapp")).value;
  }, 180_000);
  afterAll(async () => {
    for (const name of dbs) await podman(["rm", "-f", "-t", "30", name]).catch(() => {});
  }, 60_000);

  /** The application is up and knows the front door (nginx reloaded once etcd was read). */
  async function ready(name: string) {
    await logged(name, "listening");
    const ok = await pollUntil(
      async () => {
        const r = await call("GET", "/notes.json", { user: "probe" }).catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(ok, await logsOf(name)).toBe(true);
  }

  it("writes a row and reads it back over HTTP as the signed-in user, with a health check on the database", async () => {
    const app = await startApp();
    await ready(app);
    // The configuration it runs is one nginx accepts.
    const t = await podman(["exec", app, "nginx", "-t", "-c", "/run/phpapp/nginx.conf"]);
    expect(t.stderr).toMatch(/syntax is ok/);
    const health = await call("GET", "/healthz", { from: ip });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ ok: true });

    const added = await call("POST", "/", { user: "alice", body: form({ body: "hello from PHP" }) });
    expect(added.status).toBe(303);
    expect(added.headers.location).toBe("/");
    const id = String(added.headers["x-note-id"]);
    expect(id).toMatch(/^\d+$/);
    expect((await notesOf("bob")).find((x) => x.body === "hello from PHP")?.author).toBe("alice");
    const page = await call("GET", "/", { user: "bob" });
    expect(page.status).toBe(200);
    expect(page.body).toContain("Signed in as <b>bob</b>");
    expect(page.body).toMatch(/<b>alice<\/b>.*\n?.*hello from PHP/);
    // It is a row of the application's own database, with its author.
    expect(
      await sql(
        db,
        "phpapp",
        "phpapp",
        appPassword,
        `SELECT CONCAT(author, ':', body) FROM notes WHERE id = ${id}`,
      ),
    ).toBe("alice:hello from PHP");
    // The password reached PHP only: not in the logs, not readable by nginx's workers.
    expect(await logsOf(app)).not.toContain(appPassword);
    await expect(
      podman(["exec", "-u", "www-data", app, "cat", "/run/phpapp/secrets/db-password"]),
    ).rejects.toThrow(/Permission denied/);
    // Health follows the database: 503 while it is down, 200 once it is back.
    await podman(["stop", "-t", "30", db]);
    const down = await pollUntil(
      async () => ((await call("GET", "/healthz", { from: ip })).status === 503 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(down).toBe(true);
    await podman(["start", db]);
    const up = await pollUntil(
      async () => ((await call("GET", "/healthz", { from: ip })).status === 200 ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(up).toBe(true);
    expect((await notesOf("bob")).map((x) => x.body)).toContain("hello from PHP");
    await podman(["stop", "-t", "30", app]);
    expect(await exitCode(app)).toBe(0);
  }, 300_000);

  it("handles malformed input: SQL and HTML kept as text, empty, oversize, non-UTF-8, unsigned, cross-site and outside callers refused, nothing written", async () => {
    const app = await startApp();
    await ready(app);
    const sneaky = "x'); DROP TABLE notes; -- \" \\ %";
    expect((await call("POST", "/", { user: "o'brien", body: form({ body: sneaky }) })).status).toBe(303);
    expect(
      (await call("POST", "/", { user: "mallory", body: form({ body: "<script>alert(1)</script>" }) }))
        .status,
    ).toBe(303);
    const notes = await notesOf("bob");
    expect(notes.find((x) => x.body === sneaky)?.author).toBe("o'brien");
    const page = (await call("GET", "/", { user: "<i>eve</i>" })).body;
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).not.toContain("<script>");
    expect(page).toContain("Signed in as <b>&lt;i&gt;eve&lt;/i&gt;</b>");
    const count = async () => sql(db, "phpapp", "phpapp", appPassword, "SELECT COUNT(*) FROM notes");
    const before = await count();

    const refused: [Reply, number, RegExp][] = [
      [await call("POST", "/", { user: "alice", body: form({ body: "   " }) }), 400, /1 to 1000 characters/],
      [await call("POST", "/", { user: "alice", body: form({ body: "x".repeat(1001) }) }), 400, /1 to 1000/],
      [
        await call("POST", "/", { user: "alice", body: form({ body: "x".repeat(20_000) }) }),
        413,
        /Too Large/,
      ],
      [await call("POST", "/", { user: "alice", body: Buffer.from("body=%FF%FE") }), 400, /in UTF-8/],
      [await call("POST", "/", { user: "alice", body: form({ other: "x" }) }), 400, /body/],
      [await call("POST", "/", { body: form({ body: "no one" }) }), 401, /sign in first/],
      [
        await call("POST", "/", {
          user: "alice",
          body: form({ body: "from elsewhere" }),
          headers: { "sec-fetch-site": "cross-site" },
        }),
        403,
        /not sent from this site/,
      ],
      [
        await call("POST", "/", { from: otherIp, user: "alice", body: form({ body: "around" }) }),
        403,
        /Forbidden/,
      ],
      [await call("GET", "/notes.json", { from: otherIp, user: "alice" }), 403, /Forbidden/],
      [await call("GET", "/nowhere.php", { user: "alice" }), 404, /not found/],
    ];
    for (const [r, status, text] of refused) {
      expect(r.status, r.body).toBe(status);
      expect(r.body).toMatch(text);
    }
    expect(await count()).toBe(before);
    await podman(["stop", "-t", "30", app]);
  }, 240_000);

  it("without its password's parameter: exits naming it, creates nothing, and nothing else is affected", async () => {
    const missing = `/devcluster/${CLUSTER}/db/mariadb/nothere/password`;
    const app = await startApp({ DB_PASSWORD_PARAM: missing });
    expect(await exitCode(app)).toBe(1);
    const failed = (await codes(app)).find((l) => l.code === "start.failed");
    expect(failed?.error).toBe(
      `the database password's parameter ${missing} does not exist (the database service makes it for each service in its CLIENTS)`,
    );
    expect(await parameterExists("nothere")).toBe(false);
    // The database and its other client go on.
    expect(await sql(db, "phpapp", "phpapp", appPassword, "SELECT 1")).toBe("1");
    const good = await startApp();
    await ready(good);
    expect((await call("POST", "/", { user: "carol", body: form({ body: "still here" }) })).status).toBe(303);
    await podman(["stop", "-t", "30", good]);
  }, 180_000);
});
