// The MariaDB building block and the PHP application template, run for real: their images (Debian's
// MariaDB; Debian's nginx and php-fpm) in podman on loopback addresses, a directory as the database's
// volume, moto's SSM as the parameter store, and the nodes' role from the template (moto enforces
// IAM), so the programs can do exactly what a node may.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true });
const CLUSTER = "mdbtest";
const BUCKET = "mdbtest-snapshots";
const PORT = 13_306;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
const images: Record<string, string> = {};
let ip = "";
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
async function run(image: string, env: Record<string, string>, extra: string[] = []): Promise<string> {
  const name = `mdbtest-${process.pid}-${++n}`;
  started.push(name);
  const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  await podman(["run", "-d", "--name", name, "--net", "host", ...extra, ...envArgs, image]);
  return name;
}

/** The database on `volume` with `env` over the defaults. */
const startDb = (volume: string, env: Record<string, string> = {}) =>
  run(images.mariadb!, { LISTEN_ADDRESS: ip, PORT: String(PORT), SERVICE: "mariadb", ...awsEnv(), ...env }, [
    "-v",
    `${volume}:/var/lib/mysql`,
  ]);

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
  const ok = await pollUntil(
    async () => ((await codes(name)).some((l) => l.code === code) ? true : undefined),
    {
      timeoutMs: 120_000,
      intervalMs: 250,
    },
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
  nodeCreds = await rig.roleCredentials(templateRoleStatements("node", { bucket: BUCKET, cluster: CLUSTER }));
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "mariadb"], {
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
