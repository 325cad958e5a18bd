// MediaWiki on the Postgres building block: latency (p50/p99) of a page view (GET /wiki/<page>,
// parser cache warm) and of an edit through the API, against a static file the same nginx serves
// (MediaWiki's logo, the baseline: what the container answers without PHP or the database), in one
// run, rounds alternating. Also the image's size, the start (podman run to listening) with the
// schema installed and on an installed schema, healthy, and resident memory at idle. The postgres
// and mediawiki images in podman, moto's SSM, one etcd member.
//   npx tsx bench/mediawiki.ts [--views 200] [--edits 30] [--rounds 2]
import { execFile } from "node:child_process";
import { Agent, request } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { pollUntil } from "../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { startEtcdCluster } from "../local/etcd.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { out } from "./lib.ts";

const sh = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const VIEWS = arg("views", 200);
const EDITS = arg("edits", 30);
const ROUNDS = arg("rounds", 2);
const CLUSTER = "bench";
const PG_PORT = 15_537;
const WIKI_PORT = 18_392;
const env = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env, maxBuffer: 64 * 1024 * 1024 });

const block = reserveLoopbackBlock();
const ip = block.address(40);
const doorIp = block.address(43);
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-mediawiki-"));
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
const etcdCluster = await startEtcdCluster({
  ips: [block.address(2)],
  dir: join(dir, "etcd"),
  token: "bench",
});
const names: string[] = [];

try {
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
  const tb = performance.now();
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "postgres", "mediawiki"], {
    cwd: PROJECT_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  const buildMs = performance.now() - tb;
  const images = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;

  let seq = 0;
  const run = async (image: string, vars: Record<string, string>, prefix: string, extra: string[] = []) => {
    const name = `bench-${prefix}-${process.pid}-${++seq}`;
    names.push(name);
    const t0 = performance.now();
    await podman([
      "run",
      "-d",
      "--name",
      name,
      "--net",
      "host",
      ...extra,
      ...Object.entries({
        AWS_REGION: "eu-west-1",
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: moto.admin.accessKeyId,
        AWS_SECRET_ACCESS_KEY: moto.admin.secretAccessKey,
        CLUSTER,
        LISTEN_ADDRESS: ip,
        ...vars,
      }).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      image,
    ]);
    const ok = await pollUntil(
      async () => ((await podman(["logs", name])).stdout.includes('"code":"listening"') ? true : undefined),
      { timeoutMs: 600_000, intervalMs: 100 },
    );
    if (!ok) throw new Error(`${name} did not start: ${(await podman(["logs", name])).stdout}`);
    return { name, startMs: performance.now() - t0, t0 };
  };
  mkdirSync(join(dir, "pg"));
  mkdirSync(join(dir, "wiki"));
  await run(images.postgres!, { PORT: String(PG_PORT), SERVICE: "postgres", CLIENTS: "mediawiki" }, "pg", [
    "-v",
    `${join(dir, "pg")}:/var/lib/postgresql`,
  ]);
  const wikiVars = {
    PORT: String(WIKI_PORT),
    DOMAIN: "bench.example",
    DB_HOST: ip,
    DB_PORT: String(PG_PORT),
    ETCD_ENDPOINTS: etcdCluster.endpoints.join(","),
  };
  const wikiVolume = ["-v", `${join(dir, "wiki")}:/var/lib/mediawiki-data`];
  const first = await run(images.mediawiki!, wikiVars, "wiki", wikiVolume);
  await podman(["rm", "-f", "-t", "20", first.name]);
  const wiki = await run(images.mediawiki!, wikiVars, "wiki", wikiVolume);

  // The wiki's cookies, the last value of each name (MediaWiki may set its session twice in a reply).
  const jar = new Map<string, string>();
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: doorIp });
  const call = (method: string, path: string, body?: string, from = doorIp) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: ip,
          port: WIKI_PORT,
          method,
          path,
          ...(from === doorIp ? { agent } : { localAddress: from }),
          headers: {
            "x-remote-user": "bench",
            ...(jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") } : {}),
            ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          const set = res.headers["set-cookie"];
          for (const c of set ?? []) {
            const pair = c.split(";")[0]!;
            jar.set(pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1));
          }
          res.on("data", (c: string) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const healthy = await pollUntil(
    async () =>
      (await call("GET", "/healthz", undefined, ip).catch(() => undefined))?.status === 200
        ? true
        : undefined,
    { timeoutMs: 120_000, intervalMs: 50 },
  );
  if (!healthy) throw new Error("the wiki never became healthy");
  const healthyMs = performance.now() - wiki.t0;
  await pollUntil(async () => ((await call("GET", "/wiki/Main_Page")).status === 200 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 100,
  });

  await new Promise((r) => setTimeout(r, 3000));
  const rss = async (name: string) => {
    const r = await podman(["exec", name, "sh", "-c", "cat /proc/[0-9]*/status 2>/dev/null | grep VmRSS"]);
    return r.stdout
      .split("\n")
      .map((l) => Number(/(\d+)\s*kB/.exec(l)?.[1] ?? 0))
      .reduce((a, b) => a + b, 0);
  };
  const idleKb = await rss(wiki.name);

  const token = (
    JSON.parse((await call("GET", "/api.php?action=query&meta=tokens&format=json")).text) as {
      query: { tokens: { csrftoken: string } };
    }
  ).query.tokens.csrftoken;
  let n = 0;
  const edit = async () => {
    const r = await call(
      "POST",
      "/api.php",
      new URLSearchParams({
        action: "edit",
        title: "Bench",
        text: `Revision ${++n} of the '''bench'''.`,
        token,
        format: "json",
      }).toString(),
    );
    if (!r.text.includes('"result":"Success"')) throw new Error(`edit: ${r.status} ${r.text.slice(0, 300)}`);
  };
  const view = async () => {
    const r = await call("GET", "/wiki/Bench");
    if (r.status !== 200) throw new Error(`view: ${r.status}`);
  };
  const LOGO = "/resources/assets/change-your-logo.svg";
  const file = async () => {
    const r = await call("GET", LOGO);
    if (r.status !== 200) throw new Error(`${LOGO}: ${r.status}`);
  };
  for (let i = 0; i < 10; i++) {
    await edit();
    await view();
    await file();
  }
  const lat = { view: [] as number[], edit: [] as number[], file: [] as number[] };
  const time = async (xs: number[], f: () => Promise<void>) => {
    const t0 = performance.now();
    await f();
    xs.push(performance.now() - t0);
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < VIEWS / ROUNDS; i++) await time(lat.file, file);
    for (let i = 0; i < VIEWS / ROUNDS; i++) await time(lat.view, view);
    for (let i = 0; i < EDITS / ROUNDS; i++) await time(lat.edit, edit);
  }
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  out(
    `MediaWiki on Postgres: ${VIEWS} views, ${EDITS} edits, ${VIEWS} static files in ${ROUNDS} alternating rounds, load ${load}`,
  );
  out("| request | p50 ms | p99 ms | p50 ratio | p99 ratio |");
  out("|---|---|---|---|---|");
  const row = (what: string, xs: number[]) => {
    const [b50, b99] = [pct(lat.file, 50), pct(lat.file, 99)];
    const [x50, x99] = [pct(xs, 50), pct(xs, 99)];
    out(
      `| ${what} | ${x50.toFixed(2)} | ${x99.toFixed(2)} | ${(x50 / b50).toFixed(1)}x | ${(x99 / b99).toFixed(1)}x |`,
    );
  };
  out(
    `| static file from the same nginx (${LOGO}) | ${pct(lat.file, 50).toFixed(2)} | ${pct(lat.file, 99).toFixed(2)} | (baseline) | (baseline) |`,
  );
  row("page view (GET /wiki/Bench)", lat.view);
  row("edit (POST /api.php action=edit)", lat.edit);
  const size =
    Number((await podman(["image", "inspect", "--format", "{{.Size}}", images.mediawiki!])).stdout.trim()) /
    1e6;
  out(
    `\nImage: mediawiki ${size.toFixed(0)} MB (build.sh of postgres and mediawiki, images present: ${(buildMs / 1000).toFixed(1)} s)`,
  );
  out(
    `Start (podman run to listening): first start with the schema installed ${(first.startMs / 1000).toFixed(1)} s, on the installed schema ${(wiki.startMs / 1000).toFixed(1)} s, healthy ${(healthyMs / 1000).toFixed(1)} s`,
  );
  out(
    `Resident memory at idle (sum of the container's processes): mediawiki ${(idleKb / 1024).toFixed(0)} MiB`,
  );
} finally {
  for (const n of names) await podman(["rm", "-f", "-t", "5", n]).catch(() => {});
  await etcdCluster.stop();
  await moto.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
