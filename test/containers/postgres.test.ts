// The Postgres building block, run for real: its image (Debian's PostgreSQL 17) in podman on a
// loopback address, a directory as the service's volume, moto's SSM as the parameter store, and the
// nodes' role from the template (moto enforces IAM), so the program can do exactly what a node may.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { builtImage } from "../rig/images.ts";
import { planDatabaseRestore, runDbTool } from "../../bin/ops/databases.ts";
import type { OpsTarget } from "../../bin/ops/target.ts";
import type { ClusterView } from "../../functions/domain/clusterView.ts";
import type { CommandResult, Commands } from "../../functions/ports/index.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true });
const CLUSTER = "pgtest";
const BUCKET = "pgtest-snapshots";
const PORT = 15_432;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
let image = "";
let ip = "";
let nodeCreds: AwsCredentials;
let n = 0;

/** Start the program on `volume` with `env` over the defaults; resolves with the container's name. */
async function start(
  volume: string,
  env: Record<string, string>,
  name = `pgtest-${process.pid}-${++n}`,
): Promise<string> {
  started.push(name);
  const all: Record<string, string> = {
    LISTEN_ADDRESS: ip,
    PORT: String(PORT),
    CLUSTER,
    SERVICE: "postgres",
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
    `${volume}:/var/lib/postgresql`,
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

async function listening(name: string) {
  const ok = await pollUntil(
    async () => ((await codes(name)).some((l) => l.code === "listening") ? true : undefined),
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

/** psql inside the container over TCP to the announced address, as `user` with `password`. */
async function sql(name: string, user: string, db: string, password: string, query: string) {
  const r = await podman([
    "exec",
    "-e",
    `PGPASSWORD=${password}`,
    name,
    "psql",
    "-X",
    "-tA",
    "-h",
    ip,
    "-p",
    String(PORT),
    "-U",
    user,
    "-d",
    db,
    "-c",
    query,
  ]);
  return r.stdout.trim();
}

/** psql as the superuser on the container's socket, to `db`. */
async function superSql(name: string, db: string, query: string) {
  const r = await podman([
    "exec",
    "-u",
    "postgres",
    name,
    "psql",
    "-X",
    "-tA",
    "-h",
    "/run/postgresql",
    "-p",
    String(PORT),
    "-d",
    db,
    "-c",
    query,
  ]);
  return r.stdout.trim();
}

/**
 * The program's dump commands in its container, as `devcluster db` runs them on the node (`perl
 * control.pl`, served by the running program), or in a process of their own (`node main.mjs`): exit
 * code and answer.
 */
async function toolResult(
  name: string,
  args: string[],
  entry: "control.pl" | "main.mjs" = "control.pl",
): Promise<{ code: number; out: unknown }> {
  try {
    const r = await podman(["exec", name, entry === "main.mjs" ? "node" : "perl", entry, ...args]);
    return { code: 0, out: JSON.parse(r.stdout) };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof x.code !== "number" || !x.stdout) throw e;
    return { code: x.code, out: JSON.parse(x.stdout) };
  }
}
async function tool(name: string, args: string[], entry?: "control.pl" | "main.mjs"): Promise<unknown> {
  const r = await toolResult(name, args, entry);
  expect(r.code, JSON.stringify(r.out)).toBe(0);
  return r.out;
}

/**
 * A node directory as the local runner gives one: its docker (local/bin/docker) names containers
 * after the directory, and its commands run the script with that docker on PATH.
 */
function nodeDir() {
  const root = join(rig.dir, "node-db");
  mkdirSync(join(root, "etc", "devcluster"), { recursive: true });
  writeFileSync(join(root, "etc", "devcluster", "node.env"), `PRIVATE_IP=${ip}\n`);
  const tag = createHash("sha256").update(root).digest("hex").slice(0, 10);
  const commands: Commands = {
    run: (req) =>
      Promise.all(
        req.instanceIds.map(
          (instanceId) =>
            new Promise<CommandResult>((resolve, reject) => {
              const child = spawn("bash", ["-euo", "pipefail", "-c", req.script], {
                env: {
                  ...podmanEnv,
                  PATH: `${join(PROJECT_ROOT, "local", "bin")}:${process.env.PATH}`,
                  ROOT: root,
                },
              });
              let stdout = "";
              let stderr = "";
              child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
              child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
              child.on("error", reject);
              child.on("close", (code) =>
                resolve({
                  instanceId,
                  status: code === 0 ? "Success" : "Failed",
                  exitCode: code ?? -1,
                  stdout,
                  stderr,
                }),
              );
            }),
        ),
      ),
  };
  return { root, container: (n: string) => `dc-${tag}-${n}`, commands };
}

const ssm = () => new SSMClient({});
const s3 = () => new S3Client({ forcePathStyle: true });
const objectBytes = async (Key: string) =>
  Buffer.from(
    await (await s3().send(new GetObjectCommand({ Bucket: BUCKET, Key }))).Body!.transformToByteArray(),
  );
const password = async (client: string) => {
  const r = await ssm().send(
    new GetParameterCommand({
      Name: `/devcluster/${CLUSTER}/db/postgres/${client}/password`,
      WithDecryption: true,
    }),
  );
  return { value: r.Parameter!.Value!, type: r.Parameter!.Type, version: r.Parameter!.Version };
};

beforeAll(async () => {
  ip = rig.block.address(40);
  await s3().send(new CreateBucketCommand({ Bucket: BUCKET }));
  nodeCreds = await rig.roleCredentials(templateRoleStatements("node", { bucket: BUCKET, cluster: CLUSTER }));
  image = await builtImage("postgres");
}, 900_000);

// Every test's containers are gone before the next starts: they share the address and the port.
afterEach(async () => {
  for (const name of started) await podman(["stop", "-t", "30", name]).catch(() => {});
}, 120_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "5", name]).catch(() => {});
}, 60_000);

describe("the postgres building block", () => {
  const volume = () => join(rig.dir, "vol-main");

  it("first start: makes the cluster, each client's database and role, a password stored once as a SecureString, then listens", async () => {
    mkdirSync(volume());
    const name = await start(volume(), { CLIENTS: "wiki,build-bot" });
    await listening(name);
    const log = await codes(name);
    expect(log.map((l) => l.code)).toContain("cluster.created");
    expect(log.filter((l) => l.code === "password.created").map((l) => l.parameter)).toEqual([
      `/devcluster/${CLUSTER}/db/postgres/wiki/password`,
      `/devcluster/${CLUSTER}/db/postgres/build-bot/password`,
    ]);
    const wiki = await password("wiki");
    const bot = await password("build-bot");
    expect(wiki.type).toBe("SecureString");
    expect(wiki.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(bot.value).not.toBe(wiki.value);
    // No password is ever written to the logs.
    const text = await logsOf(name);
    expect(text).not.toContain(wiki.value);
    expect(text).not.toContain(bot.value);
    // Each client owns its database, and can reach only that one, only with its password.
    await sql(
      name,
      "wiki",
      "wiki",
      wiki.value,
      "CREATE TABLE pages (title text); INSERT INTO pages VALUES ('Home')",
    );
    expect(
      await sql(
        name,
        "build_bot",
        "build_bot",
        bot.value,
        "SELECT current_user || '@' || current_database()",
      ),
    ).toBe("build_bot@build_bot");
    await expect(sql(name, "wiki", "build_bot", wiki.value, "SELECT 1")).rejects.toThrow(
      /no pg_hba.conf entry/,
    );
    await expect(sql(name, "wiki", "wiki", bot.value, "SELECT 1")).rejects.toThrow(
      /password authentication failed/,
    );
    await expect(sql(name, "postgres", "postgres", wiki.value, "SELECT 1")).rejects.toThrow(
      /pg_hba.conf rejects connection for host .*user "postgres"/,
    );
    await podman(["stop", "-t", "30", name]);
    expect(await exitCode(name)).toBe(0);
  }, 240_000);

  it("a restart keeps the data, the passwords and the roles, and never initialises again", async () => {
    const before = { wiki: await password("wiki"), bot: await password("build-bot") };
    const name = await start(volume(), { CLIENTS: "wiki,build-bot" });
    await listening(name);
    const log = await codes(name);
    expect(log.map((l) => l.code)).toContain("cluster.found");
    expect(log.map((l) => l.code)).not.toContain("cluster.created");
    expect(log.map((l) => l.code)).not.toContain("password.created");
    expect(await password("wiki")).toEqual(before.wiki);
    expect(await password("build-bot")).toEqual(before.bot);
    expect(await sql(name, "wiki", "wiki", before.wiki.value, "SELECT title FROM pages")).toBe("Home");
    await podman(["stop", "-t", "30", name]);
    expect(await exitCode(name)).toBe(0);
    // A client taken out of the list keeps its database: nothing is ever dropped.
    const again = await start(volume(), { CLIENTS: "build-bot" });
    await listening(again);
    expect(await sql(again, "wiki", "wiki", before.wiki.value, "SELECT title FROM pages")).toBe("Home");
    await podman(["stop", "-t", "30", again]);
  }, 240_000);

  it("dumps each client database to the snapshot bucket on its schedule, valid with its manifest", async () => {
    const wiki = await password("wiki");
    const name = await start(volume(), {
      CLIENTS: "wiki,build-bot",
      DUMP_BUCKET: BUCKET,
      DUMP_INTERVAL_S: "5",
      S3_FORCE_PATH_STYLE: "true",
    });
    await listening(name);
    const dumped = await pollUntil(
      async () => {
        const done = (await codes(name)).filter((l) => l.code === "dump.done");
        return done.length >= 2 ? done : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(dumped, await logsOf(name)).toBeDefined();
    expect((await codes(name)).filter((l) => l.code === "dump.failed")).toEqual([]);
    const listed = await s3().send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `db-dumps/${CLUSTER}/postgres/wiki/` }),
    );
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    const manifests = keys.filter((k) => k.endsWith(".manifest.json"));
    expect(manifests.length).toBeGreaterThan(0);
    const manifest = JSON.parse((await objectBytes(manifests[0]!)).toString()) as {
      key: string;
      bytes: number;
      sha256: string;
      database: string;
    };
    expect(manifest.database).toBe("wiki");
    expect(manifests[0]).toBe(`${manifest.key}.manifest.json`);
    const dump = await objectBytes(manifest.key);
    expect(dump.length).toBe(manifest.bytes);
    expect(createHash("sha256").update(dump).digest("hex")).toBe(manifest.sha256);
    // It is a real dump of the database: pg_restore reads the table and its row back from it.
    const restored = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        "podman",
        ["exec", "-i", name, "pg_restore", "-f", "-", "--data-only", "-t", "pages"],
        {
          env: podmanEnv,
        },
      );
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0 ? resolve(out) : reject(new Error(`pg_restore exited ${code}`)),
      );
      child.stdin.end(dump);
    });
    expect(restored).toMatch(/COPY public\.pages \(title\) FROM stdin;\nHome\n/);
    expect(await sql(name, "wiki", "wiki", wiki.value, "SELECT count(*) FROM pages")).toBe("1");

    // A dump that fails is never made valid, and the other databases are still dumped: once its
    // database is gone, no manifest of build_bot starts after that moment, while wiki's go on.
    const manifestsOf = async (db: string) => {
      const listed = await s3().send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `db-dumps/${CLUSTER}/postgres/${db}/` }),
      );
      const keys = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith(".manifest.json"));
      return Promise.all(
        keys.map(async (k) => JSON.parse((await objectBytes(k)).toString()) as { startedAt: string }),
      );
    };
    const droppedAt = new Date().toISOString();
    await podman([
      "exec",
      "-u",
      "postgres",
      name,
      "psql",
      "-X",
      "-q",
      "-h",
      "/run/postgresql",
      "-p",
      String(PORT),
      "-c",
      "DROP DATABASE build_bot WITH (FORCE)",
    ]);
    const failedDump = await pollUntil(
      async () =>
        (await codes(name)).find(
          (l) => l.code === "dump.failed" && (l as { database?: string }).database === "build_bot",
        ),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(failedDump?.error).toMatch(/pg_dump of build_bot exited 1/);
    const wikiAfter = await pollUntil(
      async () => ((await manifestsOf("wiki")).some((m) => m.startedAt > droppedAt) ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(wikiAfter).toBe(true);
    expect((await manifestsOf("build_bot")).filter((m) => m.startedAt > droppedAt)).toEqual([]);
  }, 240_000);

  it("restores a client database from a chosen dump: the current one kept aside, owners the client's; a retry does nothing", async () => {
    const wiki = await password("wiki");
    // Named as a node's docker names the unit's container, so the operator's command reaches it below.
    const node = nodeDir();
    const name = await start(
      volume(),
      { CLIENTS: "wiki,build-bot", DUMP_BUCKET: BUCKET, S3_FORCE_PATH_STYLE: "true" },
      node.container("postgres-1"),
    );
    await listening(name);
    // A dump now (the operator's `db dump`), then the dumps as `db dumps` lists them: it is the newest.
    const fresh = (await tool(name, ["dump", "wiki"])) as { key: string; bytes: number; sha256: string };
    expect(fresh.key).toMatch(/^db-dumps\/pgtest\/postgres\/wiki\/.*\.dump$/);
    // Both were answered by the running program, not by a process of their own.
    const served = async () =>
      (await codes(name)).filter((l) => l.code === "control.done").map((l) => (l as { verb?: string }).verb);
    expect(await served()).toEqual(["dump"]);
    const listed = (await tool(name, ["dumps", "wiki"])) as {
      dumps: { key: string; bytes: number; database: string }[];
      partial: number;
    };
    expect(await served()).toEqual(["dump", "dumps"]);
    // The same command in a process of its own (what control.pl falls back to while the program
    // starts) gives the same listing.
    expect(await tool(name, ["dumps", "wiki"], "main.mjs")).toEqual(listed);
    expect(await served()).toEqual(["dump", "dumps"]);
    // control.pl itself falls back to it when no socket is there: the socket's name is moved away for
    // the one command (the program keeps listening on it) and put back.
    const fallback = await podman([
      "exec",
      name,
      "sh",
      "-c",
      "cd /run/devcluster && mv control.sock away.sock && cd /opt/devcluster/postgres && perl control.pl dumps wiki; rc=$?; mv /run/devcluster/away.sock /run/devcluster/control.sock; exit $rc",
    ]);
    expect(JSON.parse(fallback.stdout) as unknown).toEqual(listed);
    expect(await served()).toEqual(["dump", "dumps"]);
    // A refusal's line and exit code come through control.pl as they are, whatever the bytes asked.
    const refused = await toolResult(name, ["dump", 'wi"kü\\x']);
    expect(refused.code).toBe(3);
    expect(refused.out).toMatchObject({
      refused: true,
      error: expect.stringContaining('wi"kü\\x') as unknown,
    });
    expect(await served()).toEqual(["dump", "dumps", "dump"]);
    // A request that is not one is refused by the socket, and the program keeps serving.
    const bad = await podman([
      "exec",
      name,
      "node",
      "-e",
      `const c = require("node:net").connect("/run/devcluster/control.sock"); let t = ""; c.on("data", (d) => (t += d)); c.on("end", () => console.log(t)); c.end('{"argv": "dump wiki"}\\n');`,
    ]);
    expect(JSON.parse(bad.stdout) as unknown).toEqual({
      code: 3,
      line: expect.stringMatching(/"refused":true/) as unknown,
    });
    expect(listed.dumps.length).toBeGreaterThan(0);
    expect(listed.dumps.every((d) => d.database === "wiki")).toBe(true);
    const chosen = listed.dumps[0]!;
    expect(chosen.key).toBe(fresh.key);
    expect(chosen.bytes).toBe(fresh.bytes);
    await sql(name, "wiki", "wiki", wiki.value, "DELETE FROM pages; INSERT INTO pages VALUES ('Changed')");

    const res = (await tool(name, ["restore", "wiki", chosen.key, "--id", "restore-test-1"])) as {
      aside: string;
      already: boolean;
      bytes: number;
    };
    expect(res.already).toBe(false);
    expect(res.bytes).toBe(chosen.bytes);
    expect(res.aside).toMatch(/^wiki__before_\d{8}T\d{9}Z$/);
    // The old rows are back, for the client with its own password, in tables it owns.
    expect(await sql(name, "wiki", "wiki", wiki.value, "SELECT string_agg(title, ',') FROM pages")).toBe(
      "Home",
    );
    expect(
      await superSql(
        name,
        "wiki",
        "SELECT tableowner || ' ' || pg_get_userbyid(datdba) FROM pg_tables, pg_database WHERE tablename = 'pages' AND datname = 'wiki'",
      ),
    ).toBe("wiki wiki");
    // The replaced database is kept under its aside name, with the rows it had.
    expect(await superSql(name, res.aside, "SELECT string_agg(title, ',') FROM pages")).toBe("Changed");
    const databases = async () =>
      superSql(name, "postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database");
    const before = await databases();
    expect(before).not.toContain("__restoring");

    // The same request again (a retried command) changes nothing.
    await sql(name, "wiki", "wiki", wiki.value, "INSERT INTO pages VALUES ('After')");
    const again = (await tool(name, ["restore", "wiki", chosen.key, "--id", "restore-test-1"])) as {
      already: boolean;
    };
    expect(again.already).toBe(true);
    expect(await databases()).toBe(before);
    expect(await sql(name, "wiki", "wiki", wiki.value, "SELECT count(*) FROM pages")).toBe("2");

    // Unfit dumps are refused, and nothing changes.
    const original = await objectBytes(chosen.key);
    const manifest = JSON.parse((await objectBytes(`${chosen.key}.manifest.json`)).toString()) as Record<
      string,
      unknown
    >;
    const put = (Key: string, Body: Buffer | string) =>
      s3().send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
    const prefix = `db-dumps/${CLUSTER}/postgres/wiki/`;
    const stamp = (ms: number) =>
      new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString().replace(/[:.]/g, "-");
    // Bytes changed after the manifest was written (the manifest otherwise describes this object).
    const tampered = `${prefix}${stamp(1)}.dump`;
    const flipped = Buffer.from(original);
    const mid = Math.floor(flipped.length / 2);
    flipped[mid] = flipped[mid]! ^ 0xff;
    await put(tampered, flipped);
    await put(`${tampered}.manifest.json`, JSON.stringify({ ...manifest, key: tampered }));
    // A dump with no manifest (a failed or unfinished one).
    const partial = `${prefix}${stamp(2)}.dump`;
    await put(partial, original);
    // A valid dump copied under another name: its manifest describes another object.
    const copied = `${prefix}${stamp(3)}.dump`;
    await put(copied, original);
    await put(`${copied}.manifest.json`, JSON.stringify(manifest));
    // Another service's dump.
    const foreign = `db-dumps/${CLUSTER}/other-db/wiki/${stamp(4)}.dump`;
    await put(foreign, original);
    await put(`${foreign}.manifest.json`, JSON.stringify({ ...manifest, key: foreign }));
    const refusals: [string, RegExp][] = [
      [tampered, /does not match its manifest .*corrupt or changed; nothing was changed/],
      [partial, /has no manifest: it is not a complete dump/],
      [copied, /describes db-dumps\/pgtest\/postgres\/wiki\/.*a copied or foreign dump/],
      [foreign, /is not a dump of this service/],
      [`${prefix}not-a-dump.txt`, /is not a dump key/],
    ];
    for (const [key, why] of refusals) {
      const r = await toolResult(name, ["restore", "wiki", key, "--id", `refused-${++n}`]);
      expect(r.code, key).toBe(3);
      expect((r.out as { error: string }).error, key).toMatch(why);
      expect(await databases(), key).toBe(before);
      expect(
        await sql(
          name,
          "wiki",
          "wiki",
          wiki.value,
          "SELECT string_agg(title, ',' ORDER BY title) FROM pages",
        ),
      ).toBe("After,Home");
    }
    // The listing offers none of them: only dumps with a manifest that describes them.
    const after = (await tool(name, ["dumps", "wiki"])) as { dumps: { key: string }[]; partial: number };
    expect(after.dumps.map((d) => d.key)).not.toContain(partial);
    expect(after.dumps.map((d) => d.key)).not.toContain(copied);
    expect(after.partial).toBe(listed.partial + 2);

    // The operator's command: the node script it sends (here run as the local runner runs it, with
    // the node's docker), the listing it shows, and the restore it asks for.
    const view = {
      cluster: CLUSTER,
      units: [{ name: "postgres@1.service", machines: ["i-db"] }],
    } as ClusterView;
    const target = {
      describe: "test node",
      cluster: CLUSTER,
      commands: node.commands,
    } as unknown as OpsTarget;
    await expect(planDatabaseRestore(target, view, "postgres", "wiki", partial)).rejects.toThrow(
      /has no valid dump .*a dump is valid with its manifest/,
    );
    const plan = await planDatabaseRestore(target, view, "postgres", "wiki", "latest");
    expect(plan.dump.key).toBe(chosen.key);
    // A client holds a session open on the database being replaced: the swap ends it, as it says.
    const sleeper = spawn(
      "podman",
      [
        "exec",
        "-e",
        `PGPASSWORD=${wiki.value}`,
        name,
        "psql",
        "-X",
        "-h",
        ip,
        "-p",
        String(PORT),
        "-U",
        "wiki",
        "-d",
        "wiki",
        "-c",
        "SELECT pg_sleep(600)",
      ],
      { env: podmanEnv, stdio: "ignore" },
    );
    const sleeperExit = new Promise<number | null>((resolve) => sleeper.on("close", resolve));
    const sleeping = await pollUntil(
      async () =>
        (await superSql(
          name,
          "postgres",
          "SELECT count(*) FROM pg_stat_activity WHERE datname = 'wiki' AND query LIKE '%pg_sleep%'",
        )) === "1"
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(sleeping).toBe(true);
    const viaCli = await plan.run();
    expect(await sleeperExit).not.toBe(0);
    expect(viaCli.already).toBe(false);
    expect(viaCli.aside).not.toBe(res.aside);
    expect(await sql(name, "wiki", "wiki", wiki.value, "SELECT string_agg(title, ',') FROM pages")).toBe(
      "Home",
    );
    expect(
      await superSql(name, viaCli.aside!, "SELECT string_agg(title, ',' ORDER BY title) FROM pages"),
    ).toBe("After,Home");
    // A refusal on the node comes back as the operator's error, naming why.
    await expect(
      runDbTool(
        target,
        { machine: "i-db", unit: "postgres@1.service", container: "postgres-1" },
        ["restore", "wiki", tampered, "--id", "refused-cli"],
        600,
      ),
    ).rejects.toThrow(/does not match its manifest/);
    await podman(["stop", "-t", "30", name]);
  }, 300_000);

  it("files that are not a Postgres cluster are refused and left as they are", async () => {
    const vol = join(rig.dir, "vol-foreign");
    mkdirSync(join(vol, "data"), { recursive: true });
    writeFileSync(join(vol, "data", "notes.txt"), "not a database\n");
    const name = await start(vol, { CLIENTS: "wiki" });
    expect(await exitCode(name)).toBe(1);
    const failure = (await codes(name)).find((l) => l.code === "start.failed");
    expect(failure?.error).toMatch(/not a Postgres cluster \(notes\.txt\); refusing to initialise/);
    expect(readdirSync(join(vol, "data"))).toEqual(["notes.txt"]);
    expect(existsSync(join(vol, "data.init"))).toBe(false);
  }, 120_000);

  it("bad settings exit 2 before anything is made", async () => {
    const bad: Record<string, string>[] = [
      { CLIENTS: "Wiki!" },
      { CLIENTS: "postgres" },
      { CLUSTER: "" },
      { LISTEN_ADDRESS: "example.com" },
    ];
    for (const env of bad) {
      const vol = join(rig.dir, `vol-bad-${++n}`);
      mkdirSync(vol);
      const name = await start(vol, env);
      expect(await exitCode(name), JSON.stringify(env)).toBe(2);
      expect(
        (await codes(name)).find((l) => l.code === "config.invalid")?.error,
        JSON.stringify(env),
      ).toBeTruthy();
      expect(readdirSync(vol)).toEqual([]);
    }
  }, 240_000);

  it("a stored password that cannot be used is refused, named, and not applied; it never reaches the log", async () => {
    const bad = "has'quote-and-is-long-enough-0123456789";
    await ssm().send(
      new PutParameterCommand({
        Name: `/devcluster/${CLUSTER}/db/postgres/legacy/password`,
        Type: "SecureString",
        Value: bad,
      }),
    );
    const vol = join(rig.dir, "vol-badpw");
    mkdirSync(vol);
    const name = await start(vol, { CLIENTS: "legacy" });
    expect(await exitCode(name)).toBe(1);
    const failure = (await codes(name)).find((l) => l.code === "start.failed");
    expect(failure?.error).toMatch(
      /\/devcluster\/pgtest\/db\/postgres\/legacy\/password does not hold a usable password/,
    );
    expect(await logsOf(name)).not.toContain(bad);
  }, 240_000);
});
