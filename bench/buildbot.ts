// Buildbot on this machine: its image built cold (a private podman storage holding only the Debian
// base) and warm, against the redis image built cold in the same storage; the image's size; start to
// healthy of the master on an empty database and on an existing one, against the project's postgres
// in the same run; a forced build's time, first and second, against the same command run directly in
// the worker's container; memory at idle of the master and the worker.
//   npx tsx bench/buildbot.ts
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pollUntil, sleep } from "../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { startEtcdCluster } from "../local/etcd.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { out, sec } from "./lib.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const sh = promisify(execFile);
const CLUSTER = "benchbb";
const PG_PORT = 15_498;
const HTTP_PORT = 18_110;
const WWW_PORT = 18_111;
const WORKER_PORT = 18_189;
const HEALTH_PORT = 18_190;
const COLD = process.argv.includes("--no-cold") ? false : true;

/** containers/build.sh <name> with `env`; resolves with the seconds it took. */
function build(name: string, env: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const child = spawn("bash", [join(PROJECT_ROOT, "containers", "build.sh"), name], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CONTAINERS_CONF, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.on("close", (code) =>
      code === 0 ? done((performance.now() - t0) / 1000) : fail(new Error(`build failed (${code}): ${err}`)),
    );
  });
}

const storage = mkdtempSync(join(tmpdir(), "devcluster-bench-bb-storage-"));
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-bb-"));
const block = reserveLoopbackBlock();
const ip = block.address(40);
const names: string[] = [];
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
const etcd = await startEtcdCluster({ dir: join(dir, "etcd"), ips: [block.address(11)], token: "benchbb" });
const podman = (args: string[], env: Record<string, string> = {}) =>
  sh("podman", args, { env: { ...process.env, CONTAINERS_CONF, ...env }, maxBuffer: 16 * 1024 * 1024 });

try {
  if (COLD) {
    mkdirSync(join(storage, "graph"));
    writeFileSync(
      join(storage, "storage.conf"),
      `[storage]\ndriver = "overlay"\ngraphroot = "${storage}/graph"\nrunroot = "${storage}/run"\n`,
    );
    const cold = { CONTAINERS_STORAGE_CONF: join(storage, "storage.conf") };
    await sh("bash", [join(PROJECT_ROOT, "containers", "debian", "build.sh"), "trixie"], {
      env: { ...process.env, CONTAINERS_CONF, ...cold },
      maxBuffer: 16 * 1024 * 1024,
    });
    const redisCold = await build("redis", cold);
    const bbCold = await build("buildbot", cold);
    const bbWarm = await build("buildbot", cold);
    out("| image build | seconds | vs redis cold |");
    out("|---|---|---|");
    out(`| redis, cold (baseline) | ${redisCold.toFixed(1)} | 1.0x |`);
    out(
      `| buildbot, cold (wheels already in .build/downloads) | ${bbCold.toFixed(1)} | ${(bbCold / redisCold).toFixed(1)}x |`,
    );
    out(`| buildbot, warm | ${bbWarm.toFixed(1)} | ${(bbWarm / redisCold).toFixed(2)}x |`);
  }

  await build("postgres", {});
  await build("buildbot", {});
  const images = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;
  const size = async (image: string) =>
    Number((await podman(["image", "inspect", "--format", "{{.Size}}", image])).stdout.trim()) / 1e6;
  out(
    `\nImage size: buildbot ${(await size(images.buildbot!)).toFixed(0)} MB, postgres ${(await size(images.postgres!)).toFixed(0)} MB`,
  );

  const aws = {
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: moto.admin.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.admin.secretAccessKey,
  };
  const run = async (
    image: string,
    vars: Record<string, string>,
    extra: string[],
    healthy: (name: string) => Promise<boolean>,
  ) => {
    const name = `bench-bb-${process.pid}-${names.length}`;
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
      ...Object.entries({ ...aws, CLUSTER, ...vars }).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      image,
    ]);
    const ok = await pollUntil(async () => ((await healthy(name)) ? true : undefined), {
      timeoutMs: 300_000,
      intervalMs: 100,
    });
    if (!ok) throw new Error(`${name} did not become healthy: ${(await podman(["logs", name])).stdout}`);
    return { name, seconds: (performance.now() - t0) / 1000 };
  };
  const listening = async (name: string) =>
    (await podman(["logs", name])).stdout.includes('"code":"listening"');
  const get = async (port: number, path: string, init: RequestInit = {}) => {
    try {
      return await fetch(`http://${ip}:${port}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
    } catch {
      return undefined;
    }
  };
  const mastersAnswer = async () => (await get(HTTP_PORT, "/api/v2/masters"))?.status === 200;

  const pgVolume = join(dir, "pg");
  mkdirSync(pgVolume);
  const pg = await run(
    images.postgres!,
    { LISTEN_ADDRESS: ip, PORT: String(PG_PORT), SERVICE: "postgres", CLIENTS: "buildbot" },
    ["-v", `${pgVolume}:/var/lib/postgresql`],
    listening,
  );
  const volume = join(dir, "master");
  mkdirSync(volume);
  const masterVars = {
    ROLE: "master",
    LISTEN_ADDRESS: ip,
    HTTP_PORT: String(HTTP_PORT),
    WWW_ADDRESS: "127.0.0.1",
    WWW_PORT: String(WWW_PORT),
    WORKER_PORT: String(WORKER_PORT),
    DOMAIN: "bench.test",
    DB_HOST: ip,
    DB_PORT: String(PG_PORT),
    DB_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/postgres/buildbot/password`,
    WORKERS: "linux-1",
    ETCD_ENDPOINTS: etcd.endpoints.join(","),
  };
  const first = await run(images.buildbot!, masterVars, ["-v", `${volume}:/var/lib/buildbot`], mastersAnswer);
  await podman(["stop", "-t", "30", first.name]);
  const again = await run(images.buildbot!, masterVars, ["-v", `${volume}:/var/lib/buildbot`], mastersAnswer);
  out("\n| start to healthy | seconds | vs postgres |");
  out("|---|---|---|");
  out(`| postgres, empty volume (baseline) | ${pg.seconds.toFixed(1)} | 1.0x |`);
  out(
    `| buildbot master, empty database (schema made) | ${first.seconds.toFixed(1)} | ${(first.seconds / pg.seconds).toFixed(1)}x |`,
  );
  out(
    `| buildbot master, existing database | ${again.seconds.toFixed(1)} | ${(again.seconds / pg.seconds).toFixed(1)}x |`,
  );

  const worker = await run(
    images.buildbot!,
    {
      ROLE: "worker",
      WORKER_NAME: "linux-1",
      MASTER_HOST: ip,
      MASTER_PORT: String(WORKER_PORT),
      HEALTH_ADDRESS: ip,
      HEALTH_PORT: String(HEALTH_PORT),
    },
    [],
    async () => (await get(HEALTH_PORT, "/healthz"))?.status === 200,
  );
  out(`\nWorker start to logged in: ${worker.seconds.toFixed(1)} s`);

  // The build through the gate from the node (as presence asks): force, then poll until complete.
  const json = async (path: string) =>
    (await (await get(HTTP_PORT, path))!.json()) as Record<string, unknown>;
  const builderid = (
    (await json("/api/v2/builders?name=linux-check")) as { builders: { builderid: number }[] }
  ).builders[0]!.builderid;
  const forced = async () => {
    const t0 = performance.now();
    const r = await get(HTTP_PORT, "/api/v2/forceschedulers/force", {
      method: "POST",
      headers: { "content-type": "application/json", "x-remote-user": "bench" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        method: "force",
        id: 1,
        params: { builderid: String(builderid) },
      }),
    });
    if (r?.status !== 200) throw new Error(`force: ${r?.status} ${await r?.text()}`);
    const [buildsetId] = ((await r.json()) as { result: [number, unknown] }).result;
    const done = await pollUntil(
      async () => {
        const bs = (await json(`/api/v2/buildsets/${String(buildsetId)}`)) as {
          buildsets: { complete: boolean }[];
        };
        return bs.buildsets[0]?.complete ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    if (!done) throw new Error("the build did not finish");
    return (performance.now() - t0) / 1000;
  };
  const cold = await forced();
  const warm: number[] = [];
  for (let i = 0; i < 3; i++) warm.push(await forced());
  const direct: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await podman([
      "exec",
      "-u",
      "buildbot",
      worker.name,
      "sh",
      "-c",
      "echo built on $(uname -n) by $(id -un); uname -sr; python3 --version",
    ]);
    direct.push((performance.now() - t0) / 1000);
  }
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  out("\n| the check build (force to complete) | seconds | vs the command run directly |");
  out("|---|---|---|");
  out(
    `| the same command, podman exec in the worker (baseline, median of 3) | ${mid(direct).toFixed(2)} | 1.0x |`,
  );
  out(
    `| first build after the worker logged in | ${cold.toFixed(2)} | ${(cold / mid(direct)).toFixed(1)}x |`,
  );
  out(`| later builds (median of 3) | ${mid(warm).toFixed(2)} | ${(mid(warm) / mid(direct)).toFixed(1)}x |`);

  await sleep(30_000);
  const mem = async (name: string) =>
    (await podman(["stats", "--no-stream", "--format", "{{.MemUsage}}", name])).stdout.trim();
  out(
    `\nMemory at idle, 30 s after the builds: master ${await mem(again.name)}, worker ${await mem(worker.name)}`,
  );
  out(`(the bench ran ${sec(performance.now())} s)`);
} finally {
  for (const n of names) await podman(["rm", "-f", "-t", "5", n]).catch(() => {});
  await etcd.stop();
  await moto.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
  rmSync(storage, { recursive: true, force: true });
}
