// Buildbot on a whole local cluster (`up --services buildbot,buildbot-worker`): the master on the
// cluster's Postgres, the Linux worker unit logged in through its ambassador with its password from
// SSM. A user made with the real Cognito API signs in at the front door, which passes her name to
// Buildbot as X-Remote-User; she forces a build through the REST API over HTTPS and it succeeds on
// the Linux worker. Slow: the image is built on a fresh machine, and the cluster is five nodes.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cognitoUserDirectory } from "../../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../../functions/operations/users.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { status } from "../../../local/cluster/cluster.ts";
import { CONTAINERS_CONF } from "../../../local/containers.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { PROJECT_ROOT } from "../../../local/paths.ts";
import { useLocalCluster } from "../../rig/localCluster.ts";
import type { HttpAnswer } from "../../rig/http.ts";
import { frontDoorSites, type AskOptions } from "../../rig/frontDoorSites.ts";

const lc = useLocalCluster({ name: "buildbot", frontDoorTls: true, services: "buildbot,buildbot-worker" });
const PASSWORD = "Correct-horse-42";
const sh = promisify(execFile);
const podman = (args: string[]) =>
  sh("podman", args, { env: { ...process.env, CONTAINERS_CONF }, maxBuffer: 16 * 1024 * 1024 });
/** A worker outside the cluster (the role of a team's Windows VM), started by the test. */
const outsideWorker = `bbe2e-outside-${process.pid}`;
let cookie = "";
let ca = "";

const admin = () => ({ endpoint: lc.state.motoEndpoint, region: LOCAL_REGION, credentials: lc.state.admin });

const sites = frontDoorSites(lc, { ca: () => ca, cookie: () => cookie, intervalMs: 2000 });
const frontDoor = sites.frontDoor;
const ask = (path: string, opts?: AskOptions) => sites.ask("buildbot", path, opts);
const askUntil = (path: string, ok: (a: HttpAnswer) => boolean, opts?: AskOptions, timeoutMs = 300_000) =>
  sites.askUntil("buildbot", path, ok, opts, timeoutMs);

const healthy = (name: string) =>
  pollUntil(
    async () =>
      (await status(lc.dir)).services.find((x) => x.name === name)?.instances.some((i) => i.healthy) ||
      undefined,
    { timeoutMs: 600_000, intervalMs: 2000 },
  );

beforeAll(async () => {
  ca = readFileSync(lc.state.frontDoorTls!.caFile, "utf8");
  const cognito = new CognitoIdentityProviderClient(admin());
  await addUser(cognitoUserDirectory(cognito, lc.state.userPool!.userPoolId), "alice", {
    password: PASSWORD,
    groups: ["developers"],
  });
}, 60_000);

afterAll(async () => {
  await podman(["rm", "-f", "-t", "5", outsideWorker]).catch(() => {});
}, 60_000);

describe("buildbot on the local cluster", { shuffle: false }, () => {
  it("is healthy, behind sign-in at the front door", async () => {
    expect(await healthy("buildbot")).toBe(true);
    const anonymous = await askUntil("/api/v2/builders", (a) => a.status !== 502 && a.status !== 503);
    expect(anonymous.status).not.toBe(200);
    const signed = await askUntil("/.auth/login", (a) => a.status === 303, {
      form: { username: "alice", password: PASSWORD, rd: "/" },
    });
    cookie = signed.cookies.find((c) => c.startsWith("devcluster_session="))!;
    expect(cookie).toBeDefined();
    // The UI's page: Buildbot signs in the user the front door names (RemoteUserAuth) and keeps
    // her in its own session cookie, which the browser sends with the API calls that follow.
    const ui = await askUntil("/", (a) => a.status === 200);
    expect(ui.body).toMatch(/"username":\s*"alice"/);
    cookie = `${cookie}; ${ui.cookies.findLast((c) => c.startsWith("TWISTED_SESSION"))!}`;
  }, 900_000);

  it("runs a build forced through the REST API on the Linux worker", async () => {
    // The worker is healthy once it is logged in to the master.
    expect(await healthy("buildbot-worker")).toBe(true);
    const builders = JSON.parse(
      (await askUntil("/api/v2/builders?name=linux-check", (a) => a.status === 200)).body,
    ) as { builders: { builderid: number }[] };
    const builderid = builders.builders[0]!.builderid;
    const forced = await ask("/api/v2/forceschedulers/force", {
      method: "POST",
      json: { jsonrpc: "2.0", method: "force", id: 1, params: { builderid: String(builderid) } },
      headers: { "content-type": "application/json" },
    });
    expect(forced?.status, forced?.body).toBe(200);
    const done = await askUntil(
      `/api/v2/builders/${builderid}/builds`,
      (a) =>
        a.status === 200 &&
        (JSON.parse(a.body) as { builds: { complete: boolean }[] }).builds[0]?.complete === true,
      {},
      240_000,
    );
    const build = (
      JSON.parse(done.body) as { builds: { buildid: number; results: number; workerid: number }[] }
    ).builds[0]!;
    expect(build.results).toBe(0);
    const worker = JSON.parse((await ask(`/api/v2/workers/${build.workerid}`))!.body) as {
      workers: { name: string }[];
    };
    expect(worker.workers[0]!.name).toBe("linux-1");
    // Buildbot took the front door's user as the build's owner.
    const props = JSON.parse((await ask(`/api/v2/builds/${build.buildid}/properties`))!.body) as {
      properties: Record<string, [unknown, string]>[];
    };
    expect(props.properties[0]!.owner?.[0]).toBe("alice");
  }, 600_000);
  it("lets a worker outside the cluster log in through the front door's port 9989 with its password from SSM", async () => {
    // win-build1 is in the master's WORKERS: the master made its password. The real buildbot-worker
    // plays the team's Windows VM here (it only logs in; windows-check is not run).
    const door = (await frontDoor())!;
    const image = (
      JSON.parse(readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8")) as Record<
        string,
        string
      >
    ).buildbot!;
    const creds = lc.state.admin;
    await podman([
      "run",
      "-d",
      "--name",
      outsideWorker,
      "--net",
      "host",
      ...Object.entries({
        ROLE: "worker",
        WORKER_NAME: "win-build1",
        MASTER_HOST: door,
        MASTER_PORT: "9989",
        HEALTH_ADDRESS: door,
        HEALTH_PORT: "18990",
        CLUSTER: lc.state.clusterName,
        AWS_REGION: LOCAL_REGION,
        AWS_ENDPOINT_URL: lc.state.motoEndpoint,
        AWS_ACCESS_KEY_ID: creds.accessKeyId,
        AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      }).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      image,
    ]);
    const connected = await askUntil(
      "/api/v2/workers?name=win-build1",
      (a) =>
        a.status === 200 &&
        ((JSON.parse(a.body) as { workers: { connected_to: unknown[] }[] }).workers[0]?.connected_to.length ??
          0) > 0,
      {},
      120_000,
    );
    expect(connected.status).toBe(200);
  }, 300_000);
});
