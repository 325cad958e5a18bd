// What the sign-in check adds per request at the front door: the same small service behind the same
// front door (the real program and its nginx), once public and once protected (nginx's auth_request
// to the real auth program, which checks the session cookie), measured with wrk in the same run,
// alternating, loopback only; twice: with the auth service asked on every request, then with its
// decisions on valid sessions kept a few seconds by the front door (the default). The session key is
// a SecureString in moto's SSM, the pool in moto's cognito-idp. Goal: the protected p99 at most 2 ms
// above the public one.
//   npx tsx bench/sso.ts [--runs 3] [--seconds 6] [--connections 32]
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Etcd3 } from "etcd3";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { announcementKeys, PresenceRecordSchema } from "../functions/domain/presence.ts";
import { ensureUserPool } from "../functions/adapters/aws/cognitoPool.ts";
import { parseKeys, signSession } from "../containers/auth/src/session.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startEtcdCluster } from "../local/etcd.ts";
import { startMoto } from "../local/moto.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { buildPrograms } from "../scripts/build-containers.ts";
import { median, out } from "./lib.ts";
import { httpCode, startJsonService, stopAll, wrk as wrkRun, type WrkResult } from "./wrk.ts";

const { values } = parseArgs({
  options: { runs: { type: "string" }, seconds: { type: "string" }, connections: { type: "string" } },
});
const RUNS = Number(values.runs ?? 3);
const SECONDS = Number(values.seconds ?? 6);
const CONNECTIONS = Number(values.connections ?? 32);
const wrk = (url: string, headers: string[]) =>
  wrkRun(url, headers, { seconds: SECONDS, connections: CONNECTIONS });

const block = reserveLoopbackBlock();
const dir = mkdtempSync(join(tmpdir(), "bench-sso-"));
// The front door's nginx workers run as nobody: they must be able to pass through to its prefix.
chmodSync(dir, 0o711);
const children: ChildProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];
try {
  const [motoIp, etcdIp, fdIp, svcIp, authIp] = [1, 11, 20, 30, 31].map((n) => block.address(n)) as string[];
  const moto = await startMoto({ host: motoIp!, dir: join(dir, "moto") });
  stops.push(() => moto.stop());
  Object.assign(process.env, moto.env);
  const etcd = await startEtcdCluster({ ips: [etcdIp!], dir: join(dir, "etcd"), token: "bench" });
  stops.push(() => etcd.stop());
  const built = await buildPrograms(["frontdoor", "auth"], {
    outRoot: join(PROJECT_ROOT, ".build", "bench-sso"),
    deps: false,
  });
  const entry = (n: string) => built.find((b) => b.name === n)!.entry;

  const pool = await ensureUserPool(new CognitoIdentityProviderClient({}), "bench");
  const key = randomBytes(32).toString("base64");
  const keyParam = "/devcluster/bench/auth/session-key";
  await new SSMClient({}).send(new PutParameterCommand({ Name: keyParam, Type: "SecureString", Value: key }));

  const svcPort = 18_090;
  const service = await startJsonService(svcIp!, svcPort);
  children.push(service);

  // The auth service, keeping its decisions on valid sessions `cacheS` seconds (0: asked every time).
  const startAuth = (cacheS: number) => {
    const auth = spawn(process.execPath, [entry("auth")], {
      env: {
        PATH: process.env.PATH,
        ...moto.env,
        LISTEN_ADDRESS: authIp,
        PORT: "8090",
        DOMAIN: "dev.test",
        USER_POOL_ID: pool.userPoolId,
        USER_POOL_CLIENT_ID: pool.clientId,
        SESSION_KEY_PARAM: keyParam,
        CHECK_CACHE_S: String(cacheS),
        DEVCLUSTER_LOG: "silent",
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    children.push(auth);
    return auth;
  };
  let auth = startAuth(0);

  const client = new Etcd3({ hosts: etcd.endpoints });
  const announce = async (service: string, ip: string, port: number, extra: object) => {
    const rec = PresenceRecordSchema.parse({
      service,
      instance: "1",
      privateIp: ip,
      port,
      ports: { http: port },
      http: "http",
      ...extra,
    });
    for (const [k, v] of announcementKeys(rec)) await client.put(k).value(v);
  };
  await announce("auth", authIp!, 8090, { public: true });
  await announce("open", svcIp!, svcPort, { public: true });
  await announce("team", svcIp!, svcPort, { groups: ["developers"] });
  client.close();

  const fdPort = 18_080;
  const frontdoor = spawn(process.execPath, [entry("frontdoor")], {
    env: {
      PATH: process.env.PATH,
      ETCD_ENDPOINTS: etcd.endpoints.join(","),
      DOMAIN: "dev.test",
      LISTEN_ADDRESS: fdIp,
      HTTP_PORT: String(fdPort),
      NGINX_PREFIX: join(dir, "nginx"),
      DEBOUNCE_MS: "50",
      DEVCLUSTER_LOG: "silent",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(frontdoor);

  const now = Math.floor(Date.now() / 1000);
  const cookie = `Cookie: devcluster_session=${signSession({ user: "bench", groups: ["developers"], issuedAt: now, expiresAt: now + 3600, mfa: false }, parseKeys(key))}`;
  const code = (host: string, extra: string[] = []) =>
    httpCode(`http://${fdIp}:${fdPort}/`, [`Host: ${host}`, ...extra]);
  const untilServed = async () => {
    const t0 = Date.now();
    while ((await code("open.dev.test")) !== "200" || (await code("team.dev.test", [cookie])) !== "200") {
      if (Date.now() - t0 > 30_000) throw new Error("the front door never served both services");
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await untilServed();
  const anonymous = await code("team.dev.test");
  if (anonymous !== "401" && anonymous !== "302")
    throw new Error(`the protected service answered ${anonymous} without a session`);

  out(
    `${CONNECTIONS} connections, 2 threads, ${SECONDS} s per run, ${RUNS} runs alternating with the public service; one nginx worker`,
  );
  const url = `http://${fdIp}:${fdPort}/`;
  const m = (xs: WrkResult[], k: keyof WrkResult) => median(xs.map((r) => r[k]));
  const phase = async (name: string) => {
    const open: WrkResult[] = [];
    const team: WrkResult[] = [];
    await wrk(url, ["Host: open.dev.test"]); // warm-up
    await wrk(url, ["Host: team.dev.test", cookie]);
    for (let i = 0; i < RUNS; i++) {
      open.push(await wrk(url, ["Host: open.dev.test"]));
      team.push(await wrk(url, ["Host: team.dev.test", cookie]));
      const o = open.at(-1)!;
      const t = team.at(-1)!;
      out(
        `${name}, run ${i + 1}: public ${o.rps.toFixed(0)} req/s p50 ${o.p50.toFixed(2)} p99 ${o.p99.toFixed(2)} ms (${o.errors} errors) | signed in ${t.rps.toFixed(0)} req/s p50 ${t.p50.toFixed(2)} p99 ${t.p99.toFixed(2)} ms (${t.errors} errors)`,
      );
    }
    return { name, open, team };
  };
  const asked = await phase("asked every request");
  auth.kill("SIGTERM");
  await new Promise((r) => auth.once("exit", r));
  auth = startAuth(5);
  await untilServed();
  const kept = await phase("decisions kept 5 s");

  out("");
  out("| through the front door | req/s (median) | p50 ms | p99 ms | errors | vs public, same phase |");
  out("| --- | --- | --- | --- | --- | --- |");
  for (const ph of [asked, kept])
    for (const [name, xs] of [
      [`public service (${ph.name} phase)`, ph.open],
      [`protected service, ${ph.name}`, ph.team],
    ] as const)
      out(
        `| ${name} | ${m(xs, "rps").toFixed(0)} | ${m(xs, "p50").toFixed(2)} | ${m(xs, "p99").toFixed(2)} | ${xs.reduce((n, r) => n + r.errors, 0)} | ${(m(xs, "rps") / m(ph.open, "rps")).toFixed(2)}x req/s, p50 ${(m(xs, "p50") - m(ph.open, "p50")).toFixed(2)} ms, p99 ${(m(xs, "p99") - m(ph.open, "p99")).toFixed(2)} ms |`,
      );
  out("");
  out("goal: the sign-in check adds at most 2 ms at p99");
} finally {
  await stopAll(children);
  for (const s of stops.reverse()) await s().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(PROJECT_ROOT, ".build", "bench-sso"), { recursive: true, force: true });
  block.release();
}
