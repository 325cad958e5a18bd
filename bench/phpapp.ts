// The PHP application template on MariaDB: latency (p50/p99) of one write and one read through the
// application (POST / then GET /notes.json: nginx, php-fpm, PDO, MariaDB) against the same two
// statements sent by a direct mariadb client over one open connection to the same server (INSERT,
// then SELECT of the latest 100 rows), in one run, rounds alternating. Also each image's size, each
// service's start time (podman run to listening, and to a healthy /healthz for the app) and resident
// memory at idle. The mariadb and phpapp images in podman, moto's SSM, one etcd member.
//   npx tsx bench/phpapp.ts [--pairs 300] [--rounds 3]
import { execFile, spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
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
const PAIRS = arg("pairs", 300);
const ROUNDS = arg("rounds", 3);
const CLUSTER = "bench";
const DB_PORT = 13_356;
const APP_PORT = 18_288;
const env = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env, maxBuffer: 64 * 1024 * 1024 });

const block = reserveLoopbackBlock();
const ip = block.address(40);
const doorIp = block.address(43);
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-phpapp-"));
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
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "mariadb", "phpapp"], {
    cwd: PROJECT_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  const buildMs = performance.now() - tb;
  const images = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;

  const run = async (image: string, vars: Record<string, string>, prefix: string, extra: string[] = []) => {
    const name = `bench-${prefix}-${process.pid}`;
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
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    if (!ok) throw new Error(`${name} did not start: ${(await podman(["logs", name])).stdout}`);
    return { name, startMs: performance.now() - t0, t0 };
  };
  mkdirSync(join(dir, "db"));
  const db = await run(
    images.mariadb!,
    { PORT: String(DB_PORT), SERVICE: "mariadb", CLIENTS: "phpapp" },
    "db",
    ["-v", `${join(dir, "db")}:/var/lib/mysql`],
  );
  const app = await run(
    images.phpapp!,
    {
      PORT: String(APP_PORT),
      DB_HOST: ip,
      DB_PORT: String(DB_PORT),
      DB_NAME: "phpapp",
      DB_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/mariadb/phpapp/password`,
      ETCD_ENDPOINTS: etcdCluster.endpoints.join(","),
    },
    "app",
  );

  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: doorIp });
  const call = (method: string, path: string, body?: string, from = doorIp) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: ip,
          port: APP_PORT,
          method,
          path,
          ...(from === doorIp ? { agent } : { localAddress: from }),
          headers: {
            "x-remote-user": "bench",
            ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
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
  if (!healthy) throw new Error("the application never became healthy");
  const appHealthyMs = performance.now() - app.t0;
  // Until the front door is read from etcd, the application refuses everyone but the health check.
  await pollUntil(async () => ((await call("GET", "/notes.json")).status === 200 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 100,
  });

  // Resident memory at idle (sum of the container's processes), before any load.
  await new Promise((r) => setTimeout(r, 3000));
  const rss = async (name: string) => {
    const r = await podman(["exec", name, "sh", "-c", "cat /proc/[0-9]*/status 2>/dev/null | grep VmRSS"]);
    return r.stdout
      .split("\n")
      .map((l) => Number(/(\d+)\s*kB/.exec(l)?.[1] ?? 0))
      .reduce((a, b) => a + b, 0);
  };
  const idle = { db: await rss(db.name), app: await rss(app.name) };

  const write = async (i: number) => {
    const r = await call("POST", "/", `body=note+${i}+from+the+bench`);
    if (r.status !== 303) throw new Error(`POST /: ${r.status} ${r.text}`);
  };
  const read = async () => {
    const r = await call("GET", "/notes.json");
    if (r.status !== 200) throw new Error(`GET /notes.json: ${r.status} ${r.text}`);
  };

  // The baseline: Debian's mariadb client in the database's container, one open connection over TCP
  // to the same address, the same INSERT and SELECT; each pair is answered when its marker comes back.
  const password = (
    await new SSMClient({
      endpoint: moto.endpoint,
      region: "eu-west-1",
      credentials: moto.admin,
    }).send(
      new GetParameterCommand({
        Name: `/devcluster/${CLUSTER}/db/mariadb/phpapp/password`,
        WithDecryption: true,
      }),
    )
  ).Parameter!.Value!;
  const client = spawn(
    "podman",
    [
      "exec",
      "-i",
      "-e",
      `MYSQL_PWD=${password}`,
      db.name,
      "mariadb",
      "--no-defaults",
      "--batch",
      "--unbuffered",
      "--skip-column-names",
      "-h",
      ip,
      "-P",
      String(DB_PORT),
      "-u",
      "phpapp",
      "phpapp",
    ],
    { env, stdio: ["pipe", "pipe", "inherit"] },
  );
  let seen = "";
  let waiting: { marker: string; resolve: () => void } | undefined;
  client.stdout.setEncoding("utf8");
  client.stdout.on("data", (d: string) => {
    seen += d;
    if (waiting && seen.includes(waiting.marker)) {
      seen = "";
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  });
  const direct = (i: number) =>
    new Promise<void>((resolve) => {
      waiting = { marker: `END${i}\n`, resolve };
      client.stdin.write(
        `INSERT INTO notes (author, body) VALUES ('bench', 'note ${i} from the client');\n` +
          "SELECT id, author, body, created_at FROM notes ORDER BY id DESC LIMIT 100;\n" +
          `SELECT 'END${i}';\n`,
      );
    });

  // Warm up both (connections, opcache, the buffer pool); the app's first write makes the table.
  for (let i = 0; i < 30; i++) {
    await write(i);
    await read();
    await direct(i);
  }
  const lat = { app: [] as number[], direct: [] as number[] };
  let n = 1000;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PAIRS / ROUNDS; i++) {
      const t0 = performance.now();
      await write(++n);
      await read();
      lat.app.push(performance.now() - t0);
    }
    for (let i = 0; i < PAIRS / ROUNDS; i++) {
      const t0 = performance.now();
      await direct(++n);
      lat.direct.push(performance.now() - t0);
    }
  }
  client.stdin.end();
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  out(
    `PHP app on MariaDB: ${PAIRS} write+read pairs each way in ${ROUNDS} alternating rounds (reads return the latest 100 rows), load ${load}`,
  );
  out("| path | p50 ms | p99 ms | p50 ratio | p99 ratio |");
  out("|---|---|---|---|---|");
  const [a50, a99, d50, d99] = [pct(lat.app, 50), pct(lat.app, 99), pct(lat.direct, 50), pct(lat.direct, 99)];
  out(
    `| direct mariadb client, one connection | ${d50.toFixed(2)} | ${d99.toFixed(2)} | (baseline) | (baseline) |`,
  );
  out(
    `| through the app (POST / + GET /notes.json) | ${a50.toFixed(2)} | ${a99.toFixed(2)} | ${(a50 / d50).toFixed(1)}x | ${(a99 / d99).toFixed(1)}x |`,
  );
  const size = async (ref: string) =>
    Number((await podman(["image", "inspect", "--format", "{{.Size}}", ref])).stdout.trim()) / 1e6;
  out(
    `\nImages: mariadb ${(await size(images.mariadb!)).toFixed(0)} MB, phpapp ${(await size(images.phpapp!)).toFixed(0)} MB (build.sh of both, images present: ${(buildMs / 1000).toFixed(1)} s)`,
  );
  out(
    `Start (podman run to listening): mariadb ${db.startMs.toFixed(0)} ms (fresh volume: data directory made), phpapp ${app.startMs.toFixed(0)} ms, phpapp healthy (/healthz 200 through the database) ${appHealthyMs.toFixed(0)} ms`,
  );
  out(
    `Resident memory at idle (sum of the container's processes): mariadb ${(idle.db / 1024).toFixed(0)} MiB, phpapp ${(idle.app / 1024).toFixed(0)} MiB`,
  );
} finally {
  for (const n of names) await podman(["rm", "-f", "-t", "5", n]).catch(() => {});
  await etcdCluster.stop();
  await moto.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
