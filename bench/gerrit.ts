// Gerrit on this machine: its image built cold (a private podman storage holding only the Debian
// base) and warm, against the redis image built cold in the same storage as the baseline; the image's
// size; start to healthy (/config/server/version answers) on an empty volume (the site made) and on
// an existing site, against redis's start in the same run; memory at idle.
//   npx tsx bench/gerrit.ts
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pollUntil, sleep } from "../functions/domain/poll.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { out, sec } from "./lib.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const sh = promisify(execFile);
const CLUSTER = "benchgerrit";
const HTTP_PORT = 18_380;
const SSH_PORT = 18_381;
const REDIS_PORT = 16_390;

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

const storage = mkdtempSync(join(tmpdir(), "devcluster-bench-gerrit-storage-"));
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-gerrit-"));
const block = reserveLoopbackBlock();
const ip = block.address(40);
const names: string[] = [];
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
const podman = (args: string[], env: Record<string, string> = {}) =>
  sh("podman", args, { env: { ...process.env, CONTAINERS_CONF, ...env }, maxBuffer: 16 * 1024 * 1024 });

try {
  // Cold: a storage with only the Debian base (made once here, as every cold build needs it), so
  // every layer of gerrit's and redis's Containerfiles is built. Gerrit's jars are not downloaded
  // again (.build/downloads): the figure is the image build, not the network.
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
  const gerritCold = await build("gerrit", cold);
  const gerritWarm = await build("gerrit", cold);
  out("| image build | seconds | vs redis cold |");
  out("|---|---|---|");
  out(`| redis, cold (baseline) | ${redisCold.toFixed(1)} | 1.0x |`);
  out(`| gerrit, cold | ${gerritCold.toFixed(1)} | ${(gerritCold / redisCold).toFixed(1)}x |`);
  out(`| gerrit, warm | ${gerritWarm.toFixed(1)} | ${(gerritWarm / redisCold).toFixed(2)}x |`);

  // The machine's own storage from here (the images the tests use).
  await build("redis", {});
  await build("gerrit", {});
  const images = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;
  const size = async (image: string) =>
    Number((await podman(["image", "inspect", "--format", "{{.Size}}", image])).stdout.trim()) / 1e6;
  out(
    `\nImage size: gerrit ${(await size(images.gerrit!)).toFixed(0)} MB, redis ${(await size(images.redis!)).toFixed(0)} MB`,
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
    healthy: () => Promise<boolean>,
  ) => {
    const name = `bench-gerrit-${process.pid}-${names.length}`;
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
      ...Object.entries({ ...aws, CLUSTER, LISTEN_ADDRESS: ip, ...vars }).flatMap(([k, v]) => [
        "-e",
        `${k}=${v}`,
      ]),
      image,
    ]);
    const ok = await pollUntil(async () => ((await healthy()) ? true : undefined), {
      timeoutMs: 300_000,
      intervalMs: 100,
    });
    if (!ok) throw new Error(`${name} did not become healthy: ${(await podman(["logs", name])).stderr}`);
    return { name, seconds: (performance.now() - t0) / 1000 };
  };
  const versionAnswers = async () => {
    try {
      return (await fetch(`http://${ip}:${HTTP_PORT}/config/server/version`)).status === 200;
    } catch {
      return false;
    }
  };
  const redisListening = async () =>
    (await podman(["logs", names.at(-1)!])).stdout.includes('"code":"listening"');

  const redis = await run(images.redis!, { PORT: String(REDIS_PORT) }, [], redisListening);
  await podman(["rm", "-f", "-t", "5", redis.name]);
  const volume = join(dir, "volume");
  mkdirSync(volume);
  const gerritVars = {
    HTTP_PORT: String(HTTP_PORT),
    SSH_PORT: String(SSH_PORT),
    DOMAIN: "bench.test",
    HEAP_MB: "512",
  };
  const first = await run(images.gerrit!, gerritVars, ["-v", `${volume}:/var/gerrit`], versionAnswers);
  await podman(["stop", "-t", "30", first.name]);
  const again = await run(images.gerrit!, gerritVars, ["-v", `${volume}:/var/gerrit`], versionAnswers);
  out("\n| start to healthy | seconds | vs redis |");
  out("|---|---|---|");
  out(`| redis (baseline) | ${redis.seconds.toFixed(1)} | 1.0x |`);
  out(
    `| gerrit, empty volume (site made) | ${first.seconds.toFixed(1)} | ${(first.seconds / redis.seconds).toFixed(0)}x |`,
  );
  out(
    `| gerrit, existing site | ${again.seconds.toFixed(1)} | ${(again.seconds / redis.seconds).toFixed(0)}x |`,
  );
  // Idle: a minute after start, nothing asked of it since the health check.
  await sleep(60_000);
  const mem = (await podman(["stats", "--no-stream", "--format", "{{.MemUsage}}", again.name])).stdout.trim();
  out(`\nMemory at idle (heap limit 512 MB), a minute after start: ${mem}`);
  out(`(the bench ran ${sec(performance.now())} s)`);
} finally {
  for (const n of names) await podman(["rm", "-f", "-t", "5", n]).catch(() => {});
  await moto.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
  rmSync(storage, { recursive: true, force: true });
}
