// Buildbot, run for real: its image (Buildbot 4.3 from PyPI) in podman on a loopback address, the
// master on a real Postgres (the project's postgres image making its database and password in SSM),
// moto's SSM (the nodes' role from the template, IAM enforced) and a real etcd announcing one front
// door. A Linux worker logs in with the password the master made; a build is forced through the REST
// API from the front door's address and succeeds; a restart keeps the builds; refusals are checked.
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { workerPasswordParameter } from "../../containers/buildbot/src/config.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { templateRoleStatements } from "../rig/roles.ts";
import { builtImages } from "../rig/images.ts";
import { httpAsk, type HttpAnswer } from "../rig/http.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true, etcdMembers: 1 });
const CLUSTER = "bbtest";
const PG_PORT = 15_499;
const HTTP_PORT = 18_010;
const WWW_PORT = 18_411;
const WORKER_PORT = 18_989;
const HEALTH_PORT = 18_990;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
const images: Record<string, string> = {};
let ip = "";
let doorIp = "";
let nodeCreds: AwsCredentials;
let n = 0;
let masterVolume = "";
let masterName = "";

async function run(env: Record<string, string>, prefix: string, image: string, extra: string[] = []) {
  const name = `${prefix}-${process.pid}-${++n}`;
  started.push(name);
  const all: Record<string, string> = {
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: rig.moto!.endpoint,
    AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
    ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
    ...env,
  };
  await podman([
    "run",
    "-d",
    "--name",
    name,
    "--net",
    "host",
    ...extra,
    ...Object.entries(all).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    image,
  ]);
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
    .map((l) => JSON.parse(l) as { code?: string; error?: string; fresh?: boolean; parameter?: string });

async function waitCode(name: string, code: string, timeoutMs = 300_000) {
  const ok = await pollUntil(
    async () => {
      const c = await codes(name);
      if (c.some((l) => l.code === code)) return true;
      if (c.some((l) => l.code === "start.failed" || l.code === "failed" || l.code === "config.invalid"))
        return false;
      return undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );
  expect(ok, await logsOf(name)).toBe(true);
}

const masterEnv = (extra: Record<string, string> = {}) => ({
  ROLE: "master",
  LISTEN_ADDRESS: ip,
  HTTP_PORT: String(HTTP_PORT),
  WWW_ADDRESS: "127.0.0.1",
  WWW_PORT: String(WWW_PORT),
  WORKER_PORT: String(WORKER_PORT),
  CLUSTER,
  DOMAIN: "dev.example.test",
  DB_HOST: ip,
  DB_PORT: String(PG_PORT),
  DB_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/postgres/buildbot/password`,
  WORKERS: "linux-1,win-vm1",
  ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
  ...extra,
});

const workerEnv = (extra: Record<string, string> = {}) => ({
  ROLE: "worker",
  CLUSTER,
  WORKER_NAME: "linux-1",
  MASTER_HOST: ip,
  MASTER_PORT: String(WORKER_PORT),
  HEALTH_ADDRESS: ip,
  HEALTH_PORT: String(HEALTH_PORT),
  ...extra,
});

/** Buildbot's session cookie, made when the UI's page is loaded with the front door's user. */
let session = "";

/** The web UI through the gate, from the front door's address (as the front door sends it) by default. */
const api = (path: string, opts: Parameters<typeof httpAsk>[2] = {}): Promise<HttpAnswer> =>
  httpAsk({ address: ip, port: HTTP_PORT }, path, {
    localAddress: doorIp,
    ...opts,
    headers: { "X-Remote-User": "alice", ...(session ? { cookie: session } : {}), ...opts.headers },
    signal: AbortSignal.timeout(30_000),
  });

/** Load the UI's page as a browser does: Buildbot signs the front door's user in (RemoteUserAuth). */
async function signIn() {
  session = "";
  const page = await api("/");
  expect(page.status).toBe(200);
  expect(page.body).toMatch(/"username":\s*"alice"/);
  // The last one: the page first sets an anonymous session, then the signed-in one.
  session = page.cookies.findLast((c) => c.startsWith("TWISTED_SESSION"))!;
  expect(session).toBeDefined();
}

interface Build {
  buildid: number;
  number: number;
  complete: boolean;
  results: number | null;
  workerid: number;
}

/** Force linux-check through the REST API (JSON-RPC, as the UI's button does); the finished build. */
async function forceBuild(): Promise<Build> {
  const builders = JSON.parse((await api("/api/v2/builders?name=linux-check")).body) as {
    builders: { builderid: number }[];
  };
  const builderid = builders.builders[0]!.builderid;
  const before = (JSON.parse((await api(`/api/v2/builders/${builderid}/builds`)).body) as { builds: Build[] })
    .builds.length;
  const forced = await api("/api/v2/forceschedulers/force", {
    method: "POST",
    json: { jsonrpc: "2.0", method: "force", id: 1, params: { builderid: String(builderid) } },
    headers: { "content-type": "application/json" },
  });
  expect(forced.status, forced.body).toBe(200);
  const build = await pollUntil(
    async () => {
      const builds = (
        JSON.parse((await api(`/api/v2/builders/${builderid}/builds?order=number`)).body) as {
          builds: Build[];
        }
      ).builds;
      const last = builds.length > before ? builds[builds.length - 1] : undefined;
      return last?.complete ? last : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  expect(build).toBeDefined();
  return build!;
}

/** The text of a build's `check` step's stdio log. */
async function checkOutput(buildid: number): Promise<string> {
  const steps = JSON.parse((await api(`/api/v2/builds/${buildid}/steps`)).body) as {
    steps: { stepid: number; name: string }[];
  };
  const step = steps.steps.find((s) => s.name === "check")!;
  return (await api(`/api/v2/steps/${step.stepid}/logs/stdio/raw`)).body;
}

const workerHealthy = () =>
  pollUntil(
    async () => {
      const a = await httpAsk({ address: ip, port: HEALTH_PORT }, "/healthz").catch(() => undefined);
      return a?.status === 200 ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );

beforeAll(async () => {
  ip = rig.block.address(40);
  doorIp = rig.block.address(43);
  const etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
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
  nodeCreds = await rig.roleCredentials(
    templateRoleStatements("node", { bucket: "notused", cluster: CLUSTER }),
  );
  Object.assign(images, await builtImages(["postgres", "buildbot"]));
  const pgVolume = join(rig.dir, "pg");
  mkdirSync(pgVolume);
  const pg = await run(
    { LISTEN_ADDRESS: ip, PORT: String(PG_PORT), CLUSTER, SERVICE: "postgres", CLIENTS: "buildbot" },
    "bbtest-pg",
    images.postgres!,
    ["-v", `${pgVolume}:/var/lib/postgresql`],
  );
  await waitCode(pg, "listening", 120_000);
}, 1_500_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "10", name]).catch(() => {});
}, 120_000);

describe("buildbot", { shuffle: false }, () => {
  it("without its database password, the master stops naming the parameter and leaves the volume untouched", async () => {
    const volume = join(rig.dir, "vol-nopw");
    mkdirSync(volume);
    const missing = `/devcluster/${CLUSTER}/db/postgres/nosuch/password`;
    const name = await run(
      masterEnv({ DB_PASSWORD_PARAM: missing, WAIT_SECONDS: "2" }),
      "bbtest-master",
      images.buildbot!,
      ["-v", `${volume}:/var/lib/buildbot`],
    );
    expect(Number((await podman(["wait", name])).stdout.trim())).toBe(2);
    const failed = (await codes(name)).find((l) => l.code === "config.invalid");
    expect(failed?.error).toContain(`missing secret: SSM parameter ${missing}`);
    expect(readdirSync(volume)).toEqual([]);
  }, 120_000);

  it("refuses a bad worker name before touching anything", async () => {
    const volume = join(rig.dir, "vol-badworker");
    mkdirSync(volume);
    const name = await run(masterEnv({ WORKERS: "linux-1,Bad Name" }), "bbtest-master", images.buildbot!, [
      "-v",
      `${volume}:/var/lib/buildbot`,
    ]);
    expect(Number((await podman(["wait", name])).stdout.trim())).toBe(2);
    expect((await codes(name)).find((l) => l.code === "config.invalid")?.error).toContain("WORKERS");
    expect(readdirSync(volume)).toEqual([]);
  }, 120_000);

  it("starts on Postgres, makes each worker's password once in SSM, and a Linux worker runs a forced build", async () => {
    masterVolume = join(rig.dir, "vol-master");
    mkdirSync(masterVolume);
    masterName = await run(masterEnv(), "bbtest-master", images.buildbot!, [
      "-v",
      `${masterVolume}:/var/lib/buildbot`,
    ]);
    await waitCode(masterName, "listening");
    expect((await codes(masterName)).find((l) => l.code === "database.ready")?.fresh).toBe(true);
    const ssm = new SSMClient({});
    for (const w of ["linux-1", "win-vm1"]) {
      const p = await ssm.send(
        new GetParameterCommand({ Name: workerPasswordParameter(CLUSTER, w), WithDecryption: true }),
      );
      expect(p.Parameter?.Type).toBe("SecureString");
      expect(p.Parameter?.Value).toMatch(/^[A-Za-z0-9_-]{32}$/);
      // Never in the logs.
      expect(await logsOf(masterName)).not.toContain(p.Parameter!.Value!);
    }
    await run(workerEnv(), "bbtest-worker", images.buildbot!);
    expect(await workerHealthy()).toBe(true);
    await signIn();
    const build = await forceBuild();
    expect(build.results).toBe(0);
    expect(await checkOutput(build.buildid)).toMatch(/built on .* by buildbot/);
    // The build's owner is the front door's user.
    const props = JSON.parse((await api(`/api/v2/builds/${build.buildid}/properties`)).body) as {
      properties: Record<string, [unknown, string]>[];
    };
    expect(props.properties[0]!.owner?.[0]).toBe("alice");
  }, 600_000);

  it("lets only the announced front doors (and the node itself) reach the web UI", async () => {
    const stranger = await api("/api/v2/builders", { localAddress: rig.block.address(44) });
    expect(stranger.status).toBe(403);
    expect(JSON.parse(stranger.body)).toMatchObject({ code: "caller.not_front_door" });
    expect((await api("/api/v2/builders")).status).toBe(200);
    // The node's own address: presence's health check.
    expect((await api("/api/v2/masters", { localAddress: ip })).status).toBe(200);
  }, 60_000);

  it("a worker whose name the master does not know stops naming its missing parameter", async () => {
    const name = await run(
      workerEnv({ WORKER_NAME: "linux-9", WAIT_SECONDS: "2", HEALTH_PORT: "18991" }),
      "bbtest-worker",
      images.buildbot!,
    );
    expect(Number((await podman(["wait", name])).stdout.trim())).toBe(2);
    expect((await codes(name)).find((l) => l.code === "config.invalid")?.error).toContain(
      `missing secret: SSM parameter ${workerPasswordParameter(CLUSTER, "linux-9")}`,
    );
  }, 120_000);

  it("a restarted master keeps its builds, its worker logs in again and builds again", async () => {
    await podman(["stop", "-t", "30", masterName]);
    const again = await run(masterEnv(), "bbtest-master", images.buildbot!, [
      "-v",
      `${masterVolume}:/var/lib/buildbot`,
    ]);
    await waitCode(again, "listening");
    expect((await codes(again)).find((l) => l.code === "database.ready")?.fresh).toBe(false);
    const builders = JSON.parse((await api("/api/v2/builders?name=linux-check")).body) as {
      builders: { builderid: number }[];
    };
    const kept = JSON.parse(
      (await api(`/api/v2/builders/${builders.builders[0]!.builderid}/builds`)).body,
    ) as {
      builds: Build[];
    };
    expect(kept.builds.map((b) => b.number)).toEqual([1]);
    expect(await workerHealthy()).toBe(true);
    const build = await forceBuild();
    expect(build.number).toBe(2);
    expect(build.results).toBe(0);
  }, 600_000);
});
