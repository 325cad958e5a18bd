// The data nodes' document store run for real: the ferretdb image (FerretDB built from its Go module,
// SQLite backend) in podman on a loopback address, a directory as its volume, moto's SSM as the
// parameter store with the nodes' role from the template (moto enforces IAM), and the official
// MongoDB driver (npm `mongodb`) as the client: sign-in, insert, find, a restart that keeps the data.
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { MongoClient } from "mongodb";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { builtImage } from "../rig/images.ts";
import { useRig } from "../rig/index.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true, etcdMembers: 0 });
const CLUSTER = "fdbtest";
const PORT = 18_217;
const PARAM = `/devcluster/${CLUSTER}/db/ferretdb/admin/password`;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
let image = "";
let ip = "";
let nodeCreds: AwsCredentials;
let n = 0;

async function start(volume: string, env: Record<string, string> = {}): Promise<string> {
  const name = `fdbtest-${process.pid}-${++n}`;
  started.push(name);
  const all = {
    LISTEN_ADDRESS: ip,
    PORT: String(PORT),
    CLUSTER,
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
    .map((l) => JSON.parse(l) as { code?: string; error?: string; parameter?: string });

/** Waits for the program's `code` (false at once when the start failed). */
async function logged(name: string, code: string) {
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

const exitCode = async (name: string) => Number((await podman(["wait", name])).stdout.trim());

const ssm = () => new SSMClient({});
const stored = async () =>
  (await ssm().send(new GetParameterCommand({ Name: PARAM, WithDecryption: true }))).Parameter!;

const client = (auth?: { username: string; password: string }) =>
  new MongoClient(`mongodb://${ip}:${PORT}/`, {
    ...(auth ? { auth, authSource: "admin" } : {}),
    directConnection: true,
    serverSelectionTimeoutMS: 10_000,
  });

/** Runs `f` with a connected client, closing it after. */
async function withClient<T>(
  auth: { username: string; password: string } | undefined,
  f: (c: MongoClient) => Promise<T>,
) {
  const c = client(auth);
  try {
    await c.connect();
    return await f(c);
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  ip = rig.block.address(41);
  nodeCreds = await rig.roleCredentials(
    templateRoleStatements("node", { bucket: `${CLUSTER}-snapshots`, cluster: CLUSTER }),
  );
  image = await builtImage("ferretdb");
}, 1_500_000);

afterEach(async () => {
  for (const name of started) await podman(["stop", "-t", "30", name]).catch(() => {});
}, 120_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "5", name]).catch(() => {});
}, 60_000);

describe("ferretdb", { shuffle: false }, () => {
  const volume = () => join(rig.dir, "vol-fdb");

  it("makes the administrator's password once in SSM, takes writes only from a signed-in client, and keeps them on the volume across a restart", async () => {
    mkdirSync(volume());
    const first = await start(volume());
    await logged(first, "listening");
    const p = await stored();
    expect(p.Type).toBe("SecureString");
    expect(p.Value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await codes(first)).filter((l) => l.code === "password.created").map((l) => l.parameter)).toEqual(
      [PARAM],
    );
    const admin = { username: "admin", password: p.Value! };

    // A real MongoDB client: the wire protocol, SCRAM sign-in, insert and find.
    const info = await withClient(admin, (c) => c.db("admin").command({ buildInfo: 1 }));
    expect(info.ferretdbVersion, JSON.stringify(info)).toBe("v1.24.2");
    await withClient(admin, async (c) => {
      const notes = c.db("team").collection<{ _id: string; body: string; n: number }>("notes");
      await notes.insertMany([
        { _id: "a", body: "first", n: 1 },
        { _id: "b", body: "second", n: 2 },
      ]);
      expect(await notes.find({ n: { $gt: 1 } }).toArray()).toEqual([{ _id: "b", body: "second", n: 2 }]);
    });
    // Without a password, or with another one, nothing is read or written.
    await expect(withClient(undefined, (c) => c.db("team").collection("notes").findOne({}))).rejects.toThrow(
      /auth|unauthori[sz]ed|command .* requires authentication/i,
    );
    await expect(
      withClient({ username: "admin", password: "not-the-password-at-all" }, (c) =>
        c.db("team").collection("notes").findOne({}),
      ),
    ).rejects.toThrow(/auth/i);
    // The password is in no log line.
    expect(await logsOf(first)).not.toContain(p.Value);
    // The databases are SQLite files on the volume, owned by the server's fixed uid.
    expect(readdirSync(join(volume(), "sqlite")).some((f) => f.startsWith("team"))).toBe(true);
    await podman(["stop", "-t", "30", first]);
    expect(await exitCode(first)).toBe(0);

    // A new container on the same volume: the same password, the data found, nothing made again.
    const second = await start(volume());
    await logged(second, "listening");
    const log2 = (await codes(second)).map((l) => l.code);
    expect(log2).toContain("datadir.found");
    expect(log2).not.toContain("password.created");
    await withClient(admin, async (c) => {
      expect(await c.db("team").collection("notes").find({}).sort({ n: 1 }).toArray()).toEqual([
        { _id: "a", body: "first", n: 1 },
        { _id: "b", body: "second", n: 2 },
      ]);
    });
  }, 300_000);

  it("refuses a damaged password parameter, naming it, before touching the volume", async () => {
    await ssm().send(
      new PutParameterCommand({ Name: PARAM, Type: "SecureString", Value: "short", Overwrite: true }),
    );
    const empty = join(rig.dir, "vol-bad");
    mkdirSync(empty);
    const name = await start(empty);
    expect(await exitCode(name)).toBe(1);
    const failed = (await codes(name)).find((l) => l.code === "start.failed");
    expect(failed?.error).toContain(PARAM);
    expect(readdirSync(empty)).toEqual([]);
  }, 120_000);

  it("refuses a volume that holds files that are not its own, and leaves them", async () => {
    const other = join(rig.dir, "vol-other");
    mkdirSync(other);
    writeFileSync(join(other, "db.sqlite"), "someone else's");
    const name = await start(other);
    expect(await exitCode(name)).toBe(1);
    expect((await codes(name)).find((l) => l.code === "start.failed")?.error).toMatch(
      /not FerretDB's \(db\.sqlite\)/,
    );
    expect(readdirSync(other)).toEqual(["db.sqlite"]);
  }, 120_000);
});
