// The data nodes' Cassandra run for real: the cassandra image (cassandra-all 5.0 and its dependencies
// from Maven Central, on Debian's Java) in podman on a loopback address, a directory as its volume, a
// real etcd member for its seeds, moto's SSM with the nodes' role for its password, and the npm
// `cassandra-driver` as the client: the admin role signs in, a row is written and read, the default
// superuser is locked, and a restart keeps the row.
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { auth, Client } from "cassandra-driver";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { builtImage } from "../rig/images.ts";
import { useRig } from "../rig/index.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true, etcdMembers: 1 });
const CLUSTER = "cstest";
const CQL = 18_942;
const PARAM = `/devcluster/${CLUSTER}/db/cassandra/admin/password`;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
let image = "";
let ip = "";
let nodeCreds: AwsCredentials;
let n = 0;

async function start(volume: string): Promise<string> {
  const name = `cstest-${process.pid}-${++n}`;
  started.push(name);
  const env = {
    LISTEN_ADDRESS: ip,
    CQL_PORT: String(CQL),
    STORAGE_PORT: "18700",
    CLUSTER,
    HEAP_MB: "768",
    ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: rig.moto!.endpoint,
    AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
    ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
  };
  const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
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
    .map((l) => JSON.parse(l) as { code?: string; error?: string; seeds?: string[] });

async function logged(name: string, code: string) {
  const ok = await pollUntil(
    async () => {
      const seen = (await codes(name)).map((l) => l.code);
      if (seen.includes(code)) return true;
      if (seen.includes("start.failed") || seen.includes("config.invalid")) return false;
      return undefined;
    },
    { timeoutMs: 600_000, intervalMs: 1000 },
  );
  expect(ok, (await logsOf(name)).slice(-6000)).toBe(true);
}

async function cql<T>(user: string, password: string, f: (c: Client) => Promise<T>) {
  const c = new Client({
    contactPoints: [`${ip}:${CQL}`],
    localDataCenter: "datacenter1",
    authProvider: new auth.PlainTextAuthProvider(user, password),
  });
  try {
    await c.connect();
    return await f(c);
  } finally {
    await c.shutdown();
  }
}

beforeAll(async () => {
  ip = rig.block.address(61);
  nodeCreds = await rig.roleCredentials(
    templateRoleStatements("node", { bucket: `${CLUSTER}-snapshots`, cluster: CLUSTER }),
  );
  image = await builtImage("cassandra");
}, 900_000);

afterEach(async () => {
  for (const name of started) await podman(["stop", "-t", "120", name]).catch(() => {});
}, 300_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "5", name]).catch(() => {});
}, 60_000);

describe("cassandra", { shuffle: false }, () => {
  it("seeds itself when alone, signs in only its admin with the password from SSM, and keeps a row across a restart", async () => {
    const vol = join(rig.dir, "cs");
    mkdirSync(vol);
    const first = await start(vol);
    await logged(first, "listening");
    expect((await codes(first)).find((l) => l.code === "seeds")?.seeds).toEqual([`${ip}:18700`]);
    const p = (await new SSMClient({}).send(new GetParameterCommand({ Name: PARAM, WithDecryption: true })))
      .Parameter!;
    expect(p.Type).toBe("SecureString");
    await cql("admin", p.Value!, async (c) => {
      await c.execute(
        "CREATE KEYSPACE IF NOT EXISTS team WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
      );
      await c.execute("CREATE TABLE IF NOT EXISTS team.notes (id text PRIMARY KEY, body text)");
      await c.execute("INSERT INTO team.notes (id, body) VALUES (?, ?)", ["n1", "kept on a data node"], {
        prepare: true,
      });
    });
    // The well-known default superuser no longer signs in.
    await expect(
      cql("cassandra", "cassandra", (c) => c.execute("SELECT now() FROM system.local")),
    ).rejects.toThrow();
    expect(await logsOf(first)).not.toContain(p.Value);
    await podman(["stop", "-t", "120", first]);
    const second = await start(vol);
    await logged(second, "listening");
    const row = await cql("admin", p.Value!, (c) =>
      c.execute("SELECT body FROM team.notes WHERE id = ?", ["n1"], { prepare: true }),
    );
    expect(row.first()?.get("body")).toBe("kept on a data node");
  }, 1_200_000);
});
