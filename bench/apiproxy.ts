// The API-key proxy's cost: latency added to a call (p50/p99) against calling the same fake upstream
// directly, for a call the proxy passes upstream (ttl=0: rate count in Redis, key from memory, the
// upstream, redaction) and one answered from Redis; and throughput on cache hits against the
// upstream's own, at the same concurrency. All in one run: the redis and apiproxy images in podman,
// moto's SSM, the upstream a Node server on loopback answering a 1 KiB JSON body; rounds alternate.
//   npx tsx bench/apiproxy.ts [--calls 1500] [--rounds 3] [--seconds 8] [--concurrency 16]
import { execFile } from "node:child_process";
import { Agent, createServer, request } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { pollUntil } from "../functions/domain/poll.ts";
import { encodeApiRoutes } from "../functions/domain/apiRoutes.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { startEtcdCluster } from "../local/etcd.ts";
import { Etcd3 } from "etcd3";
import { PROJECT_ROOT } from "../local/paths.ts";
import { median, out } from "./lib.ts";

const sh = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const CALLS = arg("calls", 1500);
const ROUNDS = arg("rounds", 3);
const SECONDS = arg("seconds", 8);
const CONCURRENCY = arg("concurrency", 16);
const CLUSTER = "bench";
const env = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env, maxBuffer: 64 * 1024 * 1024 });

const block = reserveLoopbackBlock();
const ip = block.address(40);
const upIp = block.address(41);
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-apiproxy-"));
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
// The proxy serves announced front doors only: one is announced, and the bench calls from its address.
const doorIp = block.address(43);
const etcdCluster = await startEtcdCluster({
  ips: [block.address(11)],
  dir: join(dir, "etcd"),
  token: `bench-${process.pid}`,
});
{
  const etcd = new Etcd3({ hosts: etcdCluster.endpoints });
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
}
const names: string[] = [];
const KEY = "bench-key-0123456789abcdef";
const BODY = JSON.stringify({
  items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item-${i}-`.padEnd(40, "x") })),
});

const upstream = createServer((req, res) => {
  if (req.headers["x-api-key"] !== KEY) return res.writeHead(401).end();
  res.writeHead(200, { "content-type": "application/json" }).end(BODY);
});
await new Promise<void>((r) => upstream.listen(18_198, upIp, r));

try {
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "redis", "apiproxy"], {
    cwd: PROJECT_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  const images = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;
  await new SSMClient({ endpoint: moto.endpoint, region: "eu-west-1", credentials: moto.admin }).send(
    new PutParameterCommand({
      Name: `/devcluster/${CLUSTER}/api/pass/key`,
      Value: KEY,
      Type: "SecureString",
    }),
  );
  await new SSMClient({ endpoint: moto.endpoint, region: "eu-west-1", credentials: moto.admin }).send(
    new PutParameterCommand({
      Name: `/devcluster/${CLUSTER}/api/cached/key`,
      Value: KEY,
      Type: "SecureString",
    }),
  );
  const run = async (image: string, vars: Record<string, string>, prefix: string) => {
    const name = `bench-${prefix}-${process.pid}`;
    names.push(name);
    const all = {
      AWS_REGION: "eu-west-1",
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: moto.admin.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.admin.secretAccessKey,
      CLUSTER,
      LISTEN_ADDRESS: ip,
      ...vars,
    };
    await podman([
      "run",
      "-d",
      "--name",
      name,
      "--net",
      "host",
      ...Object.entries(all).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      image,
    ]);
    const ok = await pollUntil(
      async () => ((await podman(["logs", name])).stdout.includes('"code":"listening"') ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    if (!ok) throw new Error(`${name} did not start: ${(await podman(["logs", name])).stdout}`);
    return name;
  };
  await run(images.redis!, { PORT: "16399" }, "redis");
  const up = `http://${upIp}:18198/v1`;
  const proxyName = await run(
    images.apiproxy!,
    {
      PORT: "18197",
      REDIS_HOST: ip,
      REDIS_PORT: "16399",
      REDIS_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/redis/password`,
      ETCD_ENDPOINTS: etcdCluster.endpoints.join(","),
      API_ROUTES: encodeApiRoutes([
        `pass ${up} header:X-Api-Key groups=developers ttl=0 rate=1000000/s`,
        `cached ${up} header:X-Api-Key groups=developers ttl=3600 rate=1000000/s`,
      ]),
    },
    "apiproxy",
  );

  const doorsRead = await pollUntil(
    async () =>
      (await podman(["logs", proxyName])).stdout.includes('"code":"front_doors"') ? true : undefined,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  if (!doorsRead) throw new Error("the proxy never read the front doors");
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
  const who = { "x-remote-user": "bench", "x-remote-groups": "developers" };
  const targets = {
    direct: { url: `${up}/items`, headers: { "x-api-key": KEY } },
    "proxy, passed upstream": { url: `http://${ip}:18197/pass/items`, headers: who },
    "proxy, cache hit": { url: `http://${ip}:18197/cached/items`, headers: who },
  };
  type Target = keyof typeof targets;
  const once = (t: Target) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        targets[t].url,
        { headers: targets[t].headers, agent, localAddress: doorIp },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () =>
            res.statusCode === 200 && text.length === BODY.length
              ? resolve()
              : reject(new Error(`${t}: ${res.statusCode} ${text.slice(0, 200)}`)),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
  // Warm up every path (connections, JIT, the cache entry).
  for (const t of Object.keys(targets) as Target[]) for (let i = 0; i < 200; i++) await once(t);

  const lat: Record<Target, number[]> = { direct: [], "proxy, passed upstream": [], "proxy, cache hit": [] };
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
  for (let round = 0; round < ROUNDS; round++)
    for (const t of Object.keys(targets) as Target[])
      for (let i = 0; i < CALLS / ROUNDS; i++) {
        const t0 = performance.now();
        await once(t);
        lat[t].push(performance.now() - t0);
      }

  const throughput = async (t: Target) => {
    let n = 0;
    const until = performance.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < until) {
          await once(t);
          n++;
        }
      }),
    );
    return n / SECONDS;
  };
  const tp: Record<string, number[]> = { direct: [], "proxy, cache hit": [] };
  for (let round = 0; round < ROUNDS; round++)
    for (const t of ["direct", "proxy, cache hit"] as const) tp[t]!.push(await throughput(t));

  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  out(
    `API-key proxy, ${CALLS} sequential calls per path in ${ROUNDS} alternating rounds (1 KiB JSON), load ${load}`,
  );
  out("| path | p50 ms | p99 ms | added p50 ms | added p99 ms |");
  out("|---|---|---|---|---|");
  const d50 = pct(lat.direct, 50);
  const d99 = pct(lat.direct, 99);
  for (const t of Object.keys(targets) as Target[]) {
    const p50 = pct(lat[t], 50);
    const p99 = pct(lat[t], 99);
    out(
      `| ${t} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${t === "direct" ? "(baseline)" : (p50 - d50).toFixed(2)} | ${t === "direct" ? "(baseline)" : (p99 - d99).toFixed(2)} |`,
    );
  }
  const td = median(tp.direct!);
  const th = median(tp["proxy, cache hit"]!);
  out(`\nThroughput at concurrency ${CONCURRENCY}, ${SECONDS} s x ${ROUNDS} rounds (median):`);
  out(`| path | calls/s | ratio to direct |`);
  out("|---|---|---|");
  out(`| direct to the upstream | ${td.toFixed(0)} | 1.00x |`);
  out(`| proxy, cache hit | ${th.toFixed(0)} | ${(th / td).toFixed(2)}x |`);
  const mem = (
    await podman(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", ...names])
  ).stdout.trim();
  out(`\nMemory after the run:\n${mem}`);
  agent.destroy();
} finally {
  for (const n of names) await podman(["rm", "-f", "-t", "5", n]).catch(() => {});
  upstream.close();
  await moto.stop();
  await etcdCluster.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
