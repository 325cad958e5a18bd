// Database dump and restore throughput: our path against plain pg_dump/pg_restore, on the same data in
// the same run, in the postgres image (podman) against moto:
// - dump: `perl control.pl dump`, what `devcluster db dump` runs on the node (the running program
//   streams pg_dump -Fc into an S3 multipart upload while hashed, then writes the manifest) vs
//   `pg_dump -Fc -f <file>` on the same volume, each through `podman exec`; also the same dump in a
//   process of its own (`main.mjs dump`, the path before the control socket), and the program's own
//   time (what the scheduled dump, which has no exec, costs);
// - restore: `perl control.pl restore` (manifest checked, the object streamed from S3 into pg_restore while
//   hashed, into a fresh database, then the swap) vs `createdb` + `pg_restore <file>` with the same
//   pg_restore options (one transaction, stop at the first error, objects made as the client);
// - and the S3 transfers alone (the dump's GET to nowhere), to say where the time goes;
// - beside each wall time, the CPU it cost: the container's (its cgroup: pg_dump or pg_restore, the
//   server's backends, our program) and moto's (its process), so the figures mean something on a
//   machine that is not quiet.
//   npx tsx bench/pgDump.ts [--rows 2000000] [--rounds 2]
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { pollUntil } from "../functions/domain/poll.ts";
import { median, out } from "./lib.ts";

const sh = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROWS = arg("rows", 2_000_000);
const ROUNDS = arg("rounds", 2);
const PORT = 15_433;
const BUCKET = "bench-snapshots";
const env = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env, maxBuffer: 64 * 1024 * 1024 });
const mib = (b: number) => b / 1024 / 1024;

const block = reserveLoopbackBlock();
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-pgdump-"));
const volume = join(dir, "volume");
mkdirSync(volume);
const name = `bench-pg-${process.pid}`;
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });

/** CPU ms so far: the container's cgroup (every process in it, exited ones too) and moto's process. */
let containerCpu: () => number = () => 0;
const motoCpu = () => {
  const f = readFileSync(`/proc/${moto.process.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks (100 Hz)
};
async function findContainerCpu(): Promise<() => number> {
  const pid = (await podman(["inspect", "--format", "{{.State.Pid}}", name])).stdout.trim();
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.find((l) => /^\d+:[^:]*\bcpuacct\b[^:]*:/.test(l));
  if (v1) {
    const [, ctrl, path] = v1.split(":");
    const file = `/sys/fs/cgroup/${ctrl}${path}/cpuacct.usage`;
    return () => Number(readFileSync(file, "utf8")) / 1e6;
  }
  const file = `/sys/fs/cgroup${lines.find((l) => l.startsWith("0::"))!.slice(3)}/cpu.stat`;
  return () => Number(/usage_usec (\d+)/.exec(readFileSync(file, "utf8"))![1]) / 1000;
}

/** Wall time of one command, in ms, with its stdout and the CPU ms it cost (container, moto). */
async function timed(args: string[]): Promise<{ ms: number; stdout: string; cpu: number; motoCpu: number }> {
  const c0 = containerCpu();
  const m0 = motoCpu();
  const t0 = performance.now();
  const r = await podman(args);
  const ms = performance.now() - t0;
  return { ms, stdout: r.stdout, cpu: containerCpu() - c0, motoCpu: motoCpu() - m0 };
}
const superSql = (db: string, query: string) =>
  podman([
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
  ]).then((r) => r.stdout.trim());
const conn = `-h /run/postgresql -p ${PORT} -U postgres`;

try {
  const s3 = new S3Client({
    endpoint: moto.endpoint,
    region: "eu-west-1",
    forcePathStyle: true,
    credentials: moto.admin,
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "postgres"], {
    cwd: PROJECT_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 900_000,
  });
  const image = (
    JSON.parse(readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8")) as Record<
      string,
      string
    >
  ).postgres!;
  const containerEnv = {
    LISTEN_ADDRESS: block.address(2),
    PORT: String(PORT),
    CLUSTER: "bench",
    SERVICE: "postgres",
    CLIENTS: "bench",
    DUMP_BUCKET: BUCKET,
    S3_FORCE_PATH_STYLE: "true",
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: moto.admin.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.admin.secretAccessKey,
  };
  await podman([
    "run",
    "-d",
    "--name",
    name,
    "--net",
    "host",
    "-v",
    `${volume}:/var/lib/postgresql`,
    ...Object.entries(containerEnv).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    image,
  ]);
  const up = await pollUntil(
    async () => ((await podman(["logs", name])).stdout.includes('"code":"listening"') ? true : undefined),
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  if (!up) throw new Error("postgres did not start within 180 s");
  containerCpu = await findContainerCpu();

  // The data: made by the client's role, as a client's own tables are.
  const t0 = performance.now();
  await superSql(
    "bench",
    `SET ROLE bench; CREATE TABLE items (id bigint PRIMARY KEY, a text, b text, n numeric, at timestamptz);
     INSERT INTO items SELECT i, md5(i::text) || md5((i * 7)::text), repeat(chr(65 + i % 26), 40) || i, i * 1.5,
       now() - i * interval '1 s' FROM generate_series(1, ${ROWS}) i;
     CREATE INDEX items_at ON items (at); ANALYZE items;`,
  );
  const dbBytes = Number(await superSql("bench", "SELECT pg_database_size('bench')"));
  out(
    `data: ${ROWS} rows, database ${mib(dbBytes).toFixed(0)} MiB (made in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );

  const loadAt = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  out(`load average at the start: ${loadAt()}`);
  const rows: Record<string, number[]> = {
    plainDump: [],
    ourDump: [],
    plainRestore: [],
    ourRestore: [],
    s3Get: [],
    dumpBytes: [],
    pipedDump: [],
    pipedRestore: [],
    ownProcessDump: [],
    inProgramDump: [],
    plainDumpCpu: [],
    ourDumpCpu: [],
    ourDumpMotoCpu: [],
    plainRestoreCpu: [],
    ourRestoreCpu: [],
    ourRestoreMotoCpu: [],
  };
  for (let round = 1; round <= ROUNDS; round++) {
    // Each measure alternates which goes first, so neither always meets a warm or a cold cache.
    const first = round % 2 === 1;
    const plainDump = () =>
      timed([
        "exec",
        "-u",
        "postgres",
        name,
        "sh",
        "-c",
        `pg_dump -Fc ${conn} -d bench -f /var/lib/postgresql/plain.dump`,
      ]);
    const ourDump = () => timed(["exec", name, "perl", "control.pl", "dump", "bench"]);
    let pd, od;
    if (first) {
      pd = await plainDump();
      od = await ourDump();
    } else {
      od = await ourDump();
      pd = await plainDump();
    }
    const manifest = JSON.parse(od.stdout) as { key: string; bytes: number; ms: number };
    rows.plainDump!.push(pd.ms);
    rows.ourDump!.push(od.ms);
    rows.plainDumpCpu!.push(pd.cpu);
    rows.ourDumpCpu!.push(od.cpu);
    rows.ourDumpMotoCpu!.push(od.motoCpu);
    rows.inProgramDump!.push(manifest.ms);
    // Where the time goes: the same dump in a Node process of its own (the whole program loaded again).
    rows.ownProcessDump!.push((await timed(["exec", name, "node", "main.mjs", "dump", "bench"])).ms);
    rows.dumpBytes!.push(manifest.bytes);
    const plainBytes = statSync(join(volume, "plain.dump")).size;

    // The GET alone: what the restore's transfer costs when nothing consumes it.
    const g0 = performance.now();
    const obj = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: manifest.key }));
    for await (const chunk of obj.Body as Readable) void chunk;
    rows.s3Get!.push(performance.now() - g0);

    await superSql("postgres", "DROP DATABASE IF EXISTS plain_r");
    const plainRestore = () =>
      timed([
        "exec",
        "-u",
        "postgres",
        name,
        "sh",
        "-c",
        `createdb ${conn} -O bench -T template0 plain_r && pg_restore ${conn} -d plain_r --no-owner --role=bench --single-transaction --exit-on-error /var/lib/postgresql/plain.dump`,
      ]);
    const ourRestore = () =>
      timed([
        "exec",
        name,
        "perl",
        "control.pl",
        "restore",
        "bench",
        manifest.key,
        "--id",
        `bench-${process.pid}-${round}`,
      ]);
    let pr, or;
    if (first) {
      pr = await plainRestore();
      or = await ourRestore();
    } else {
      or = await ourRestore();
      pr = await plainRestore();
    }
    rows.plainRestore!.push(pr.ms);
    rows.ourRestore!.push(or.ms);
    rows.plainRestoreCpu!.push(pr.cpu);
    rows.ourRestoreCpu!.push(or.cpu);
    rows.ourRestoreMotoCpu!.push(or.motoCpu);
    // Where the time goes: the same plain tools through a pipe (no seeking), as our path feeds them.
    await superSql("postgres", "DROP DATABASE IF EXISTS plain_r");
    const pipedRestore = await timed([
      "exec",
      "-u",
      "postgres",
      name,
      "sh",
      "-c",
      `createdb ${conn} -O bench -T template0 plain_r && cat /var/lib/postgresql/plain.dump | pg_restore ${conn} -d plain_r --no-owner --role=bench --single-transaction --exit-on-error`,
    ]);
    const pipedDump = await timed([
      "exec",
      "-u",
      "postgres",
      name,
      "sh",
      "-c",
      `pg_dump -Fc ${conn} -d bench | cat > /var/lib/postgresql/piped.dump`,
    ]);
    rows.pipedRestore!.push(pipedRestore.ms);
    rows.pipedDump!.push(pipedDump.ms);
    const restored = JSON.parse(or.stdout) as {
      aside: string;
      ms: number;
      phases: { checkMs: number; createMs: number; restoreMs: number; swapMs: number };
    };
    const p = restored.phases;
    out(
      `  ours, inside the program: ${restored.ms} ms (checks ${p.checkMs}, fresh database ${p.createMs}, pg_restore from S3 ${p.restoreMs}, swap ${p.swapMs}); the rest of the command's ${Math.round(or.ms)} ms is docker exec and control.pl`,
    );
    const count = await superSql("bench", "SELECT count(*) FROM items");
    const plainCount = await superSql("plain_r", "SELECT count(*) FROM items");
    if (count !== String(ROWS) || plainCount !== String(ROWS))
      throw new Error(`round ${round}: restored ${count} and ${plainCount} rows, not ${ROWS}`);
    // The replaced database is kept by a restore; the bench drops it so the disk holds one copy.
    await superSql("postgres", `DROP DATABASE "${restored.aside}"`);
    out(
      `round ${round}: dump plain ${(pd.ms / 1000).toFixed(1)} s (${mib(plainBytes).toFixed(0)} MiB), ours ${(od.ms / 1000).toFixed(1)} s (${mib(manifest.bytes).toFixed(0)} MiB; ${(manifest.ms / 1000).toFixed(1)} s inside the program, ${(rows.ownProcessDump!.at(-1)! / 1000).toFixed(1)} s as a process of its own); ` +
        `restore plain ${(pr.ms / 1000).toFixed(1)} s, ours ${(or.ms / 1000).toFixed(1)} s; S3 GET alone ${(rows.s3Get!.at(-1)! / 1000).toFixed(1)} s; load ${loadAt()}`,
    );
    const sec = (ms: number) => (ms / 1000).toFixed(2);
    out(
      `  CPU: dump plain ${sec(pd.cpu)} s, ours ${sec(od.cpu)} s + moto ${sec(od.motoCpu)} s; restore plain ${sec(pr.cpu)} s, ours ${sec(or.cpu)} s + moto ${sec(or.motoCpu)} s`,
    );
  }
  const m = (k: string) => median(rows[k]!);
  const dumpMiB = mib(m("dumpBytes"));
  const dbMiB = mib(dbBytes);
  out("");
  out(`| step (median of ${ROUNDS}) | plain | ours | ours vs plain (throughput) |`);
  out("| --- | --- | --- | --- |");
  out(
    `| dump (${dbMiB.toFixed(0)} MiB database -> ${dumpMiB.toFixed(0)} MiB dump) | ${(m("plainDump") / 1000).toFixed(1)} s (${(dbMiB / (m("plainDump") / 1000)).toFixed(0)} MiB/s) | ${(m("ourDump") / 1000).toFixed(1)} s (${(dbMiB / (m("ourDump") / 1000)).toFixed(0)} MiB/s) | **${(m("plainDump") / m("ourDump")).toFixed(2)}x** |`,
  );
  out(
    `| the same dump: in a process of its own (\`main.mjs dump\`); inside the running program (the scheduled dump's cost) | | ${(m("ownProcessDump") / 1000).toFixed(1)} s; ${(m("inProgramDump") / 1000).toFixed(1)} s | ${(m("plainDump") / m("ownProcessDump")).toFixed(2)}x; ${(m("plainDump") / m("inProgramDump")).toFixed(2)}x |`,
  );
  out(
    `| restore | ${(m("plainRestore") / 1000).toFixed(1)} s (${(dbMiB / (m("plainRestore") / 1000)).toFixed(0)} MiB/s) | ${(m("ourRestore") / 1000).toFixed(1)} s (${(dbMiB / (m("ourRestore") / 1000)).toFixed(0)} MiB/s) | **${(m("plainRestore") / m("ourRestore")).toFixed(2)}x** |`,
  );
  out(
    `| the plain tools through a pipe (\`pg_dump | cat > file\`, \`cat file | pg_restore\`) | dump ${(m("pipedDump") / 1000).toFixed(1)} s, restore ${(m("pipedRestore") / 1000).toFixed(1)} s | | dump ${(m("plainDump") / m("pipedDump")).toFixed(2)}x, restore ${(m("plainRestore") / m("pipedRestore")).toFixed(2)}x of plain |`,
  );
  out(
    `| S3 GET of the dump alone (moto) | | ${(m("s3Get") / 1000).toFixed(1)} s (${(dumpMiB / (m("s3Get") / 1000)).toFixed(0)} MiB/s) | |`,
  );
  const cpuS = (k: string) => `${(m(k) / 1000).toFixed(2)} s`;
  out(
    `| CPU (median): the container's (pg_dump or pg_restore, the server, our program) + moto's | dump ${cpuS("plainDumpCpu")}, restore ${cpuS("plainRestoreCpu")} | dump ${cpuS("ourDumpCpu")} + ${cpuS("ourDumpMotoCpu")}, restore ${cpuS("ourRestoreCpu")} + ${cpuS("ourRestoreMotoCpu")} | |`,
  );
  out(`load average at the end: ${loadAt()}`);
  out("");
  out(
    `dump: ours ${(m("plainDump") / m("ourDump")).toFixed(2)}x of plain pg_dump; restore: ours ${(m("plainRestore") / m("ourRestore")).toFixed(2)}x of plain pg_restore (throughput, median of ${ROUNDS}; goal >= 0.90x)`,
  );
} finally {
  await podman(["rm", "-f", "-t", "5", name]).catch(() => {});
  await moto.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
