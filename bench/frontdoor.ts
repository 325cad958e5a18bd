// The front door's cost: requests/s and p99 latency through the front door (the real program and
// its nginx, the service announced by a presence record in a real etcd) against the same service
// reached directly, measured with wrk (Debian's) in the same run, alternating, loopback only.
// Goal: >= 0.7x throughput and p99 at most +5 ms.
//   npx tsx bench/frontdoor.ts [--runs 3] [--seconds 8] [--connections 32]
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { announcementKeys, PresenceRecordSchema } from "../functions/domain/presence.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startEtcdCluster } from "../local/etcd.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { buildPrograms } from "../scripts/build-containers.ts";
import { median, out } from "./lib.ts";
import { httpCode, startJsonService, stopAll, wrk as wrkRun, type WrkResult } from "./wrk.ts";

const sh = promisify(execFile);
const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string" },
    workers: { type: "string" },
  },
});
const RUNS = Number(values.runs ?? 3);
const SECONDS = Number(values.seconds ?? 8);
const CONNECTIONS = Number(values.connections ?? 32);

/** CPU time (user + system) a process has used so far, in ms (clock ticks are 10 ms). */
function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}
const childrenOf = (pid: number) =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        return Number(readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ")[1]) === pid;
      } catch {
        return false;
      }
    });

const wrk = (url: string, host: string) =>
  wrkRun(url, [`Host: ${host}`], { seconds: SECONDS, connections: CONNECTIONS });

const block = reserveLoopbackBlock();
const dir = mkdtempSync(join(tmpdir(), "bench-frontdoor-"));
// The front door's nginx workers run as nobody: they must be able to pass through to its prefix.
chmodSync(dir, 0o711);
const children: ChildProcess[] = [];
let etcdStop: (() => Promise<void>) | undefined;
try {
  const [etcdIp, fdIp, svcIp] = [block.address(11), block.address(20), block.address(30)];
  const etcd = await startEtcdCluster({ ips: [etcdIp], dir: join(dir, "etcd"), token: "bench" });
  etcdStop = etcd.stop;
  const [fd] = await buildPrograms(["frontdoor"], {
    outRoot: join(PROJECT_ROOT, ".build", "bench"),
    deps: false,
  });

  // The service: a plain node HTTP server in its own process (a small JSON answer).
  const svcPort = 18_090;
  const service = await startJsonService(svcIp, svcPort);
  children.push(service);

  const client = new Etcd3({ hosts: etcd.endpoints });
  const rec = PresenceRecordSchema.parse({
    service: "hello",
    instance: "1",
    privateIp: svcIp,
    port: svcPort,
    ports: { http: svcPort },
    http: "http",
  });
  for (const [k, v] of announcementKeys(rec)) await client.put(k).value(v);
  client.close();

  const fdPort = 18_080;
  const frontdoor = spawn(process.execPath, [fd!.entry], {
    env: {
      PATH: process.env.PATH,
      ETCD_ENDPOINTS: etcd.endpoints.join(","),
      DOMAIN: "dev.test",
      LISTEN_ADDRESS: fdIp,
      HTTP_PORT: String(fdPort),
      NGINX_PREFIX: join(dir, "nginx"),
      DEBOUNCE_MS: "50",
      ...(values.workers ? { NGINX_WORKERS: values.workers } : {}),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(frontdoor);
  // Wait until the front door serves the service.
  const t0 = Date.now();
  for (;;) {
    if ((await httpCode(`http://${fdIp}:${fdPort}/`, ["Host: hello.dev.test"])) === "200") break;
    if (Date.now() - t0 > 20_000) throw new Error("the front door never served the service");
    await new Promise((r) => setTimeout(r, 200));
  }
  const { stdout: nginxV } = await sh("/usr/sbin/nginx", ["-v"]).catch((e: { stderr: string }) => ({
    stdout: e.stderr,
  }));
  const { stderr: wrkV } = await sh("wrk", ["-v"]).catch((e: { stdout: string; stderr: string }) => ({
    stderr: e.stdout || e.stderr,
  }));
  out(
    `wrk ${wrkV.split("\n")[0]?.trim() ?? ""}; ${nginxV.trim() || "nginx"}; ${CONNECTIONS} connections, 2 threads, ${SECONDS} s per run, ${RUNS} runs alternating`,
  );

  // nginx's processes: the front door's child (the master) and its workers.
  const nginxPids = () => childrenOf(frontdoor.pid!).flatMap((m) => [m, ...childrenOf(m)]);
  const cpu = { service: 0, serviceReqs: 0, nginx: 0, nginxReqs: 0 };
  const measured = async (url: string, pids: () => number[], into: "service" | "nginx") => {
    const before = pids().reduce((n, p) => n + cpuMs(p), 0);
    const r = await wrk(url, "hello.dev.test");
    cpu[into] += pids().reduce((n, p) => n + cpuMs(p), 0) - before;
    cpu[`${into}Reqs`] += r.rps * SECONDS;
    return r;
  };
  const direct: WrkResult[] = [];
  const through: WrkResult[] = [];
  await wrk(`http://${svcIp}:${svcPort}/`, "hello.dev.test"); // warm-up, not counted
  for (let i = 0; i < RUNS; i++) {
    direct.push(await measured(`http://${svcIp}:${svcPort}/`, () => [service.pid!], "service"));
    through.push(await measured(`http://${fdIp}:${fdPort}/`, nginxPids, "nginx"));
    const d = direct.at(-1)!;
    const f = through.at(-1)!;
    out(
      `run ${i + 1}: direct ${d.rps.toFixed(0)} req/s p50 ${d.p50.toFixed(2)} ms p99 ${d.p99.toFixed(2)} ms (${d.errors} errors) | front door ${f.rps.toFixed(0)} req/s p50 ${f.p50.toFixed(2)} ms p99 ${f.p99.toFixed(2)} ms (${f.errors} errors)`,
    );
  }
  const dr = median(direct.map((r) => r.rps));
  const fr = median(through.map((r) => r.rps));
  const dp = median(direct.map((r) => r.p99));
  const fp = median(through.map((r) => r.p99));
  out("");
  out("| path | req/s (median) | p50 ms | p99 ms (median) | errors |");
  out("| --- | --- | --- | --- | --- |");
  out(
    `| direct to the service | ${dr.toFixed(0)} | ${median(direct.map((r) => r.p50)).toFixed(2)} | ${dp.toFixed(2)} | ${direct.reduce((n, r) => n + r.errors, 0)} |`,
  );
  out(
    `| through the front door | ${fr.toFixed(0)} | ${median(through.map((r) => r.p50)).toFixed(2)} | ${fp.toFixed(2)} | ${through.reduce((n, r) => n + r.errors, 0)} |`,
  );
  out("");
  out(
    `throughput ratio ${(fr / dr).toFixed(2)}x (goal >= 0.7x); p99 ${fp - dp >= 0 ? "+" : ""}${(fp - dp).toFixed(2)} ms (goal <= +5 ms)`,
  );
  // On this machine wrk, nginx and the service share two cores, so nginx's work is taken from the
  // service's; in the cluster the front door runs on its own node. CPU per request says which side
  // would bound throughput there.
  const svcPer = cpu.service / (cpu.serviceReqs / 1000);
  const ngxPer = cpu.nginx / (cpu.nginxReqs / 1000);
  out(
    `CPU per 1000 requests: service ${svcPer.toFixed(1)} ms (direct runs), nginx ${ngxPer.toFixed(1)} ms (front-door runs, master + workers)`,
  );
} finally {
  await stopAll(children);
  await etcdStop?.();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(PROJECT_ROOT, ".build", "bench"), { recursive: true, force: true });
  block.release();
}
