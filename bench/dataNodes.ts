// The data nodes' services, each image in podman on a loopback address with moto's SSM and one etcd
// member: image size, start time (podman run to the program's `listening`, on an empty volume and
// again on the volume it left), resident memory at idle, and the latency of one write and one read
// through a real client against a baseline measured in the same run on the same connection: for
// FerretDB, insertOne + findOne by _id (official MongoDB driver) against the server's `ping`; for
// OpenSearch (with --opensearch), index with refresh + get by id against `GET /` (REST).
// For Cassandra (with --cassandra), an INSERT + SELECT by key (npm cassandra-driver, prepared) against
// `SELECT release_version FROM system.local`.
//   npx tsx bench/dataNodes.ts [--pairs 300] [--opensearch] [--cassandra]
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { auth, Client } from "cassandra-driver";
import { MongoClient } from "mongodb";
import { pollUntil } from "../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { startEtcdCluster } from "../local/etcd.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { out } from "./lib.ts";

const { values } = parseArgs({
  options: {
    pairs: { type: "string", default: "300" },
    opensearch: { type: "boolean", default: false },
    cassandra: { type: "boolean", default: false },
  },
});
const PAIRS = Number(values.pairs);
const CLUSTER = "bench";
const sh = promisify(execFile);
const env = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env, maxBuffer: 64 * 1024 * 1024 });

const block = reserveLoopbackBlock();
const ip = block.address(40);
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-data-"));
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
const etcd = await startEtcdCluster({ ips: [block.address(2)], dir: join(dir, "etcd"), token: "bench" });
const names: string[] = [];

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const ms = (x: number) => x.toFixed(2);

/** Sum of VmRSS over the container's processes, in MiB. */
async function rssMiB(name: string) {
  const r = await podman(["exec", name, "sh", "-c", "cat /proc/[0-9]*/status 2>/dev/null | grep VmRSS"]);
  const kb = r.stdout
    .split("\n")
    .map((l) => Number(/(\d+)\s*kB/.exec(l)?.[1] ?? 0))
    .reduce((a, b) => a + b, 0);
  return kb / 1024;
}
const imageMB = async (ref: string) =>
  Number((await podman(["image", "inspect", "--format", "{{.Size}}", ref])).stdout.trim()) / 1e6;

async function run(image: string, vars: Record<string, string>, volume: string, tag: string) {
  const name = `bench-${tag}-${process.pid}-${names.length}`;
  names.push(name);
  const t0 = performance.now();
  await podman([
    "run",
    "-d",
    "--name",
    name,
    "--net",
    "host",
    "-v",
    `${volume}:/data`,
    ...Object.entries({
      AWS_REGION: "eu-west-1",
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: moto.admin.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.admin.secretAccessKey,
      CLUSTER,
      LISTEN_ADDRESS: ip,
      ETCD_ENDPOINTS: etcd.endpoints.join(","),
      ...vars,
    }).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    image,
  ]);
  const ok = await pollUntil(
    async () => ((await podman(["logs", name])).stdout.includes('"code":"listening"') ? true : undefined),
    { timeoutMs: 300_000, intervalMs: 50 },
  );
  if (!ok) throw new Error(`${name} did not start: ${(await podman(["logs", name])).stdout.slice(-3000)}`);
  return { name, startMs: performance.now() - t0 };
}

/** `pairs` timings of `op` and of `base`, alternating in 3 rounds after a warm-up of 20 each. */
async function paired(op: (i: number) => Promise<unknown>, base: () => Promise<unknown>) {
  for (let i = 0; i < 20; i++) {
    await op(-1 - i);
    await base();
  }
  const a: number[] = [];
  const b: number[] = [];
  let i = 0;
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < PAIRS / 3; k++) {
      const t = performance.now();
      await op(i++);
      a.push(performance.now() - t);
    }
    for (let k = 0; k < PAIRS / 3; k++) {
      const t = performance.now();
      await base();
      b.push(performance.now() - t);
    }
  }
  return { a, b };
}

try {
  const which = [
    "ferretdb",
    ...(values.opensearch ? ["opensearch"] : []),
    ...(values.cassandra ? ["cassandra"] : []),
  ];
  const tb = performance.now();
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), ...which], { cwd: PROJECT_ROOT, env });
  const buildMs = performance.now() - tb;
  const images = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;
  const load = (await sh("cat", ["/proc/loadavg"])).stdout.split(" ").slice(0, 3).join(" ");
  out(
    `# data nodes bench ${new Date().toISOString()}, load ${load}; build.sh ${which.join(" ")} (warm) ${(buildMs / 1000).toFixed(1)} s`,
  );

  // FerretDB
  {
    const vol = join(dir, "fdb");
    mkdirSync(vol);
    const fresh = await run(images.ferretdb!, { PORT: "18217" }, vol, "fdb");
    await podman(["stop", "-t", "30", fresh.name]);
    const c = await run(images.ferretdb!, { PORT: "18217" }, vol, "fdb");
    await new Promise((r) => setTimeout(r, 3000));
    const idle = await rssMiB(c.name);
    const password = (
      await new SSMClient({ endpoint: moto.endpoint, region: "eu-west-1", credentials: moto.admin }).send(
        new GetParameterCommand({
          Name: `/devcluster/${CLUSTER}/db/ferretdb/admin/password`,
          WithDecryption: true,
        }),
      )
    ).Parameter!.Value!;
    const client = new MongoClient(`mongodb://${ip}:18217/`, {
      auth: { username: "admin", password },
      authSource: "admin",
      directConnection: true,
      maxPoolSize: 1,
    });
    await client.connect();
    const coll = client.db("bench").collection<{ _id: number; body: string }>("notes");
    const admin = client.db("admin");
    const { a, b } = await paired(
      async (i) => {
        await coll.insertOne({ _id: i, body: `note ${i} from the bench` });
        if (!(await coll.findOne({ _id: i }))) throw new Error(`note ${i} not found`);
      },
      () => admin.command({ ping: 1 }),
    );
    await client.close();
    out(
      `ferretdb image ${(await imageMB(images.ferretdb!)).toFixed(0)} MB; start ${(fresh.startMs / 1000).toFixed(1)} s on an empty volume, ${(c.startMs / 1000).toFixed(1)} s on its data; idle RSS ${idle.toFixed(0)} MiB`,
    );
    out(`| path | p50 ms | p99 ms | p50 ratio | p99 ratio |`);
    out(`| --- | --- | --- | --- | --- |`);
    out(
      `| ping (baseline, one connection) | ${ms(pct(b, 0.5))} | ${ms(pct(b, 0.99))} | baseline | baseline |`,
    );
    out(
      `| insertOne + findOne by _id | ${ms(pct(a, 0.5))} | ${ms(pct(a, 0.99))} | ${(pct(a, 0.5) / pct(b, 0.5)).toFixed(1)}x | ${(pct(a, 0.99) / pct(b, 0.99)).toFixed(1)}x |`,
    );
  }

  if (values.opensearch) {
    const vol = join(dir, "os");
    mkdirSync(vol);
    const vars = { HTTP_PORT: "18920", TRANSPORT_PORT: "18930", INSTANCE: "1", HEAP_MB: "512" };
    const fresh = await run(images.opensearch!, vars, vol, "os");
    await podman(["stop", "-t", "60", fresh.name]);
    const c = await run(images.opensearch!, vars, vol, "os");
    await new Promise((r) => setTimeout(r, 10_000));
    const idle = await rssMiB(c.name);
    const base = `http://${ip}:18920`;
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(base + path, {
        method,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      });
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
      return r.json();
    };
    await call("PUT", "/bench");
    const { a, b } = await paired(
      async (i) => {
        await call("PUT", `/bench/_doc/${i + 1000}?refresh=true`, { body: `note ${i} from the bench` });
        await call("GET", `/bench/_doc/${i + 1000}`);
      },
      () => call("GET", "/"),
    );
    out(
      `opensearch image ${(await imageMB(images.opensearch!)).toFixed(0)} MB; start ${(fresh.startMs / 1000).toFixed(1)} s on an empty volume, ${(c.startMs / 1000).toFixed(1)} s on its data; idle RSS ${idle.toFixed(0)} MiB (heap 512 MiB)`,
    );
    out(`| path | p50 ms | p99 ms | p50 ratio | p99 ratio |`);
    out(`| --- | --- | --- | --- | --- |`);
    out(`| GET / (baseline) | ${ms(pct(b, 0.5))} | ${ms(pct(b, 0.99))} | baseline | baseline |`);
    out(
      `| index (refresh) + get by id | ${ms(pct(a, 0.5))} | ${ms(pct(a, 0.99))} | ${(pct(a, 0.5) / pct(b, 0.5)).toFixed(1)}x | ${(pct(a, 0.99) / pct(b, 0.99)).toFixed(1)}x |`,
    );
  }
  if (values.cassandra) {
    const vol = join(dir, "cs");
    mkdirSync(vol);
    const vars = { CQL_PORT: "18942", STORAGE_PORT: "18700", HEAP_MB: "1024" };
    const fresh = await run(images.cassandra!, vars, vol, "cs");
    await podman(["stop", "-t", "120", fresh.name]);
    const c = await run(images.cassandra!, vars, vol, "cs");
    await new Promise((r) => setTimeout(r, 10_000));
    const idle = await rssMiB(c.name);
    const password = (
      await new SSMClient({ endpoint: moto.endpoint, region: "eu-west-1", credentials: moto.admin }).send(
        new GetParameterCommand({
          Name: `/devcluster/${CLUSTER}/db/cassandra/admin/password`,
          WithDecryption: true,
        }),
      )
    ).Parameter!.Value!;
    const client = new Client({
      contactPoints: [`${ip}:18942`],
      localDataCenter: "datacenter1",
      authProvider: new auth.PlainTextAuthProvider("admin", password),
    });
    await client.connect();
    await client.execute(
      "CREATE KEYSPACE IF NOT EXISTS bench WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    );
    await client.execute("CREATE TABLE IF NOT EXISTS bench.notes (id int PRIMARY KEY, body text)");
    const { a, b } = await paired(
      async (i) => {
        await client.execute(
          "INSERT INTO bench.notes (id, body) VALUES (?, ?)",
          [i, `note ${i} from the bench`],
          {
            prepare: true,
          },
        );
        const r = await client.execute("SELECT body FROM bench.notes WHERE id = ?", [i], { prepare: true });
        if (!r.first()) throw new Error(`note ${i} not found`);
      },
      () => client.execute("SELECT release_version FROM system.local", [], { prepare: true }),
    );
    await client.shutdown();
    out(
      `cassandra image ${(await imageMB(images.cassandra!)).toFixed(0)} MB; start ${(fresh.startMs / 1000).toFixed(1)} s on an empty volume (admin made), ${(c.startMs / 1000).toFixed(1)} s on its data; idle RSS ${idle.toFixed(0)} MiB (heap 1024 MiB)`,
    );
    out(`| path | p50 ms | p99 ms | p50 ratio | p99 ratio |`);
    out(`| --- | --- | --- | --- | --- |`);
    out(
      `| SELECT from system.local (baseline) | ${ms(pct(b, 0.5))} | ${ms(pct(b, 0.99))} | baseline | baseline |`,
    );
    out(
      `| INSERT + SELECT by key | ${ms(pct(a, 0.5))} | ${ms(pct(a, 0.99))} | ${(pct(a, 0.5) / pct(b, 0.5)).toFixed(1)}x | ${(pct(a, 0.99) / pct(b, 0.99)).toFixed(1)}x |`,
    );
  }
} finally {
  for (const n of names) await podman(["rm", "-f", "-t", "10", n]).catch(() => {});
  await etcd.stop();
  await moto.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
