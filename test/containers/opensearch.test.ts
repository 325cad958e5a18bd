// The data nodes' search cluster run for real: the opensearch image (OpenSearch 2.19 from its Maven
// Central jars, on Debian's Java) in podman on loopback addresses, a directory as each node's volume,
// and a real etcd member where the nodes' peers are announced as presence announces them. A document
// is indexed and found over OpenSearch's REST API, survives a restart of its node, and a second node
// finds the first through the seed hosts its program wrote from etcd and joins its cluster.
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import { builtImage } from "../rig/images.ts";
import { useRig } from "../rig/index.ts";

const sh = promisify(execFile);
const rig = useRig({ etcdMembers: 1 });
const CLUSTER = "ostest";
const HTTP = 18_920;
const TRANSPORT = 18_930;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
let image = "";
let n = 0;

async function start(ip: string, volume: string, instance: string): Promise<string> {
  const name = `ostest-${process.pid}-${++n}`;
  started.push(name);
  const env = {
    LISTEN_ADDRESS: ip,
    HTTP_PORT: String(HTTP),
    TRANSPORT_PORT: String(TRANSPORT),
    CLUSTER,
    INSTANCE: instance,
    HEAP_MB: "256",
    ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
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
    .map((l) => JSON.parse(l) as { code?: string; error?: string; peers?: string[] });

async function logged(name: string, code: string) {
  const ok = await pollUntil(
    async () => {
      const seen = (await codes(name)).map((l) => l.code);
      if (seen.includes(code)) return true;
      if (seen.includes("start.failed") || seen.includes("config.invalid")) return false;
      return undefined;
    },
    { timeoutMs: 300_000, intervalMs: 500 },
  );
  expect(ok, (await logsOf(name)).slice(-6000)).toBe(true);
}

/** One JSON request to a node's REST API. */
async function api(ip: string, method: string, path: string, body?: unknown) {
  const r = await fetch(`http://${ip}:${HTTP}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** What presence would announce for `instance` at `ip`. */
async function announce(ip: string, instance: string) {
  const etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
  try {
    await etcd.put(`/services/opensearch/instances/opensearch@${instance}.service`).value(
      JSON.stringify({
        service: "opensearch",
        instance: `opensearch@${instance}.service`,
        privateIp: ip,
        port: HTTP,
        ports: { http: HTTP, transport: TRANSPORT },
      }),
    );
  } finally {
    etcd.close();
  }
}

beforeAll(async () => {
  image = await builtImage("opensearch");
}, 900_000);

afterEach(async () => {
  for (const name of started) await podman(["stop", "-t", "60", name]).catch(() => {});
}, 180_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "5", name]).catch(() => {});
}, 60_000);

describe("opensearch", { shuffle: false }, () => {
  it("indexes and finds a document, keeps it across a restart, and a second node joins through the seed hosts from etcd", async () => {
    const ip1 = rig.block.address(51);
    const ip2 = rig.block.address(52);
    const vol1 = join(rig.dir, "os-1");
    const vol2 = join(rig.dir, "os-2");
    mkdirSync(vol1);
    mkdirSync(vol2);
    const first = await start(ip1, vol1, "1");
    await logged(first, "listening");
    const put = await api(ip1, "PUT", "/notes/_doc/1?refresh=true", { body: "kept on a data node", n: 1 });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const found = await api(ip1, "POST", "/notes/_search", { query: { match: { body: "data node" } } });
    expect(found.status).toBe(200);
    expect((found.body.hits as { hits: { _id: string }[] }).hits.map((h) => h._id)).toEqual(["1"]);
    // The indices are on the volume, nothing else is.
    expect(readdirSync(vol1)).toEqual(["nodes"]);

    // A restart on the same volume: the same cluster, the document there.
    await podman(["stop", "-t", "60", first]);
    const again = await start(ip1, vol1, "1");
    await logged(again, "listening");
    const kept = await pollUntil(
      async () => {
        const r = await api(ip1, "GET", "/notes/_doc/1").catch(() => undefined);
        return r?.status === 200 ? r : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(kept?.body._source).toEqual({ body: "kept on a data node", n: 1 });

    // Node 1 announced (as presence does once it is healthy): node 2 reads it from etcd and joins.
    await announce(ip1, "1");
    const second = await start(ip2, vol2, "2");
    await logged(second, "listening");
    expect((await codes(second)).find((l) => l.code === "peers")?.peers).toEqual([`${ip1}:${TRANSPORT}`]);
    const health = await pollUntil(
      async () => {
        const r = await api(ip2, "GET", "/_cluster/health").catch(() => undefined);
        return r?.body.number_of_nodes === 2 ? r : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    expect(health?.body.cluster_name).toBe(`${CLUSTER}-opensearch`);
    // Node 2 serves the document node 1 holds.
    expect((await api(ip2, "GET", "/notes/_doc/1")).body._source).toEqual({
      body: "kept on a data node",
      n: 1,
    });
  }, 900_000);

  it("refuses a volume that holds files that are not its own, and leaves them", async () => {
    const other = join(rig.dir, "os-other");
    mkdirSync(other);
    writeFileSync(join(other, "index.bin"), "someone else's");
    const name = await start(rig.block.address(53), other, "1");
    expect(Number((await podman(["wait", name])).stdout.trim())).toBe(1);
    expect((await codes(name)).find((l) => l.code === "start.failed")?.error).toMatch(
      /not OpenSearch's \(index\.bin\)/,
    );
    expect(readdirSync(other)).toEqual(["index.bin"]);
  }, 120_000);
});
