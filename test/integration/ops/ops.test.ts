// Operating a running local cluster: each command's answer checked against etcd, moto, podman and
// the node directories directly (not only through the same reader); the AWS path (the stack resolved
// through CloudFormation in moto, the status function invoked through its handler with its own role)
// answers the same; bad input changes nothing; the dashboard in Debian's Chromium shows the nodes
// and services and restarts a unit from the page. One local cluster for the whole file.
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useLocalCluster } from "../../rig/localCluster.ts";
import { httpAsk } from "../../rig/http.ts";
import { PROJECT_ROOT } from "../../../local/paths.ts";
import { CONTAINERS_CONF } from "../../../local/containers.ts";
import { localOpsTarget } from "../../../local/cluster/opsTarget.ts";
import { status } from "../../../local/cluster/cluster.ts";
import { unitsOnNode as unitsOnNodeOf } from "../../../local/cluster/status.ts";
import { readView, unitRows, journal } from "../../../bin/ops/operate.ts";
import type { OpsTarget } from "../../../bin/ops/target.ts";
import { awsOpsTarget } from "../../../bin/ops/awsTarget.ts";
import { startDashboard, type Dashboard } from "../../../bin/ops/dashboard.ts";
import { loadFunctions } from "../../../local/cluster/functions.ts";
import { localEnv } from "../../../local/cluster/functions.ts";
import { etcdClientUrl } from "../../../functions/domain/model.ts";
import { PLACEMENT_KEY, unitStatesKey } from "../../../functions/domain/etcdKeys.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { CloudWatchLogsClient, FilterLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { logGroupOf, parseEvent } from "../../../bin/ops/cloudWatchEvents.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { cognitoUserDirectory } from "../../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../../functions/operations/users.ts";
import type { ClusterView } from "../../../functions/domain/clusterView.ts";
import { InvalidInputError, NotFoundError } from "../../../functions/domain/errors.ts";
import { functionsHostPidPath, invokeWarm } from "../../../local/cluster/functionsHost.ts";
import { pidAlive, readPidFile } from "../../../local/processes.ts";

const exec = promisify(execFile);
// The functions log here (to their log file and CloudWatch Logs, as on AWS): the events are checked.
process.env.DEVCLUSTER_LOG = "";
const lc = useLocalCluster({ name: "ops" });

/** The `devcluster` bin against this cluster: exit code, stdout, stderr (stdin is not a terminal). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec("node", ["bin/devcluster.js", ...args, "--dir", lc.dir], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DEVCLUSTER_LOG: "silent" },
      timeout: 240_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** podman's own record of a unit's container on a node: its id changes when the unit restarts. */
async function containerId(node: string, unit: string): Promise<string | undefined> {
  const { stdout } = await exec("podman", ["ps", "--filter", "label=devcluster.root", "--format", "json"], {
    env: { ...process.env, CONTAINERS_CONF },
  });
  const all = JSON.parse(stdout || "[]") as {
    Id: string;
    State: string;
    Labels: Record<string, string> | null;
  }[];
  return all.find(
    (c) =>
      c.Labels?.["devcluster.root"]?.endsWith(`/nodes/${node}`) &&
      c.Labels["devcluster.root"].startsWith(`${lc.dir}/`) &&
      c.Labels["devcluster.unit"] === unit &&
      c.State === "running",
  )?.Id;
}

const etcdOf = (v: ClusterView) =>
  new Etcd3({ hosts: v.machines.filter((m) => m.role === "main").map((m) => etcdClientUrl(m.address)) });

/** Waits (polling) until `check` holds; under load a restart takes seconds, so the bound is generous. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const v = await pollUntil(check, { timeoutMs, intervalMs: 500 });
  if (v === undefined) throw new Error(`timed out waiting for ${what}`);
  return v;
}

let t: OpsTarget;
let view: ClusterView;
let helloNode = "";

beforeAll(async () => {
  t = await localOpsTarget(lc.dir);
  // hello is announced once its container answers (a few seconds after up under load).
  view = await eventually("hello to be announced", async () => {
    const v = await readView(t);
    return v.services.some((s) => s.name === "hello") ? v : undefined;
  });
  helloNode = view.units.find((u) => u.name === "hello@1.service")!.machines[0]!;
}, 300_000);

// Each command line call is a whole `npx devcluster` process (the prebuilt bundle, the status function
// through the cluster's warm host): about a second each on a loaded machine; the first after a source
// change builds the bundle. The tests that make several have minutes.
describe("the operator's view of a local cluster", { timeout: 600_000 }, () => {
  it("machines are the groups' instances in moto, with their addresses and registry state", async () => {
    const s = await status(lc.dir);
    expect(view.machines.map((m) => [m.id, m.role, m.address, m.lifecycle]).sort()).toEqual(
      s.nodes.map((n) => [n.id, n.role, n.address, n.state]).sort(),
    );
    expect(view.machines.every((m) => m.registry === "active")).toBe(true);
  });

  it("members are etcd's member list, each healthy, each on its main machine", async () => {
    const etcd = etcdOf(view);
    try {
      const list = await etcd.cluster.memberList({});
      expect(view.etcd.members.map((m) => m.id).sort()).toEqual(list.members.map((m) => m.ID).sort());
      const mains = view.machines.filter((m) => m.role === "main");
      expect(view.etcd.members.map((m) => m.machine).sort()).toEqual(mains.map((m) => m.id).sort());
      expect(view.etcd.members.every((m) => m.healthy)).toBe(true);
    } finally {
      etcd.close();
    }
  });

  it("units are etcd's placement, each with the state its node's systemctl reports", async () => {
    const etcd = etcdOf(view);
    const placement = JSON.parse((await etcd.get(PLACEMENT_KEY).string())!) as {
      placement: Record<string, string[]>;
    };
    etcd.close();
    expect(Object.fromEntries(view.units.map((u) => [u.name, u.machines]))).toEqual(
      Object.fromEntries(Object.entries(placement.placement).map(([k, v]) => [k, [...v].sort()])),
    );
    // The states are what each node publishes (every 10 s, on change): poll until they agree with
    // the node's own systemctl, then compare once more with a fresh read.
    const agrees = (rows: ReturnType<typeof unitRows>) =>
      rows
        .filter((x) => x.machine)
        .every((r) => unitsOnNodeOf(lc.dir, r.machine).find((u) => u.name === r.unit)?.state === r.state);
    const settled = await pollUntil(
      async () => {
        const rows = unitRows(await readView(t));
        return agrees(rows) && rows.some((r) => r.unit === "hello@1.service" && r.state === "active")
          ? rows
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(settled, "published unit states agree with the nodes").toBeDefined();
    for (const r of settled!.filter((x) => x.machine)) {
      const onNode = unitsOnNodeOf(lc.dir, r.machine).find((u) => u.name === r.unit);
      expect(onNode?.state, `${r.unit} on ${r.machine}`).toBe(r.state);
    }
    expect(settled!.find((r) => r.unit === "hello@1.service")).toMatchObject({
      machine: helloNode,
      state: "active",
    });
    // They come from the node's own record in etcd, on a lease (gone when the node stops publishing).
    const e = etcdOf(view);
    try {
      const rec = await e.get(unitStatesKey(helloNode)).exec();
      expect(rec.kvs[0]?.value.toString()).toContain("hello@1.service active");
      expect(rec.kvs[0]?.lease.toString()).not.toBe("0");
    } finally {
      e.close();
    }
  });

  it("services are the presence records in etcd", async () => {
    // Presence announces each instance once its check passes: read both until they agree, then check.
    const instanceKeys = async () => {
      const etcd = etcdOf(view);
      try {
        return (await etcd.getAll().prefix("/services/").keys())
          .filter((k) => /^\/services\/[^/]+\/instances\/[^/]+$/.test(k))
          .sort();
      } finally {
        etcd.close();
      }
    };
    const listed = (v: ClusterView) =>
      v.services.flatMap((s) => s.instances.map((i) => `/services/${s.name}/instances/${i.id}`)).sort();
    // One pair read together: an instance announced after the poll (a service still starting) would
    // make a later second read of etcd differ from this view.
    const [v, keys] = await eventually("the view and etcd to agree on the services", async () => {
      const [fresh, keys] = await Promise.all([readView(t), instanceKeys()]);
      const names = new Set(fresh.services.map((s) => s.name));
      // Until the two agree with the catalog's services announced (hello may come up last).
      return JSON.stringify(listed(fresh)) === JSON.stringify(keys) &&
        names.has("hello") &&
        names.has("nginx")
        ? ([fresh, keys] as const)
        : undefined;
    });
    expect(listed(v)).toEqual(keys);
    // One entry per announced service, in name order; the catalog's own services among them.
    expect(v.services.map((s) => s.name)).toEqual([...new Set(keys.map((k) => k.split("/")[2]!))].sort());
    expect(v.services.map((s) => s.name)).toEqual(expect.arrayContaining(["hello", "nginx"]));
    expect(v.services.find((s) => s.name === "hello")?.instances[0]?.machine).toBe(helloNode);
  });

  it("the command line prints the same view: tables, and JSON with --json", async () => {
    const table = await cli("machines");
    expect(table.code).toBe(0);
    for (const m of view.machines) expect(table.stdout).toContain(m.id);
    const json = await cli("members", "--json");
    expect(json.code).toBe(0);
    expect(
      (JSON.parse(json.stdout) as { members: ClusterView["etcd"] }).members.members.map((m) => m.id).sort(),
    ).toEqual(view.etcd.members.map((m) => m.id).sort());
    const vols = await cli("volumes");
    // The catalog's database has the cluster's one volume: a row with its id, unit instance and name.
    expect(vols.code).toBe(0);
    const db = view.volumes.find((v) => v.instance === "postgres@1");
    expect(db, "the database's volume in the view").toBeDefined();
    expect(vols.stdout).toMatch(new RegExp(`^${db!.id}\\s+postgres\\s+postgres@1\\s+data\\s`, "m"));
    // Volume snapshots go through the units function, with its role; a restore of a volume the
    // cluster does not have is a clear error.
    const snap = await cli("volume", "snapshot", "postgres@1");
    expect(snap.code).toBe(0);
    const taken = (
      JSON.parse(snap.stdout) as { volume: { taken: { volumeId: string }[]; failed: unknown[] } }
    ).volume;
    expect(taken.taken.map((t) => t.volumeId)).toEqual([db!.id]);
    expect(taken.failed).toEqual([]);
    const restore = await cli("volume", "restore", "nope@1", "latest", "--yes");
    expect(restore.code).not.toBe(0);
    expect(restore.stderr).toMatch(/unit nope@1 has no volume in this cluster/);
  });

  it("the command line invokes the functions through the cluster's warm host (Lambda's Invoke shape)", async () => {
    // `up` started it; it keeps the status function's container warm between command lines.
    const pid = readPidFile(functionsHostPidPath(lc.dir));
    expect(pid !== undefined && pidAlive(pid)).toBe(true);
    const warm = await invokeWarm(lc.dir, lc.state.createdAt, "status", {});
    expect((warm?.result as ClusterView).machines.map((m) => m.id).sort()).toEqual(
      view.machines.map((m) => m.id).sort(),
    );
    // A handler's error comes back with its class and message, as from the function run in-process.
    const bad = { catalog: 42 };
    const here = await (await loadFunctions(lc.dir, lc.state)).invoke("units", bad).catch((e: Error) => e);
    const there = await invokeWarm(lc.dir, lc.state.createdAt, "units", bad).catch((e: Error) => e);
    expect(here).toBeInstanceOf(InvalidInputError);
    expect(there).toBeInstanceOf(InvalidInputError);
    expect((there as Error).message).toBe((here as Error).message);
    // The host answers for its own cluster only: another cluster in this directory runs in-process.
    expect(await invokeWarm(lc.dir, "2000-01-01T00:00:00.000Z", "status", {})).toBeUndefined();
  });

  it("status and journal show the unit on its node, from its log", async () => {
    const r = await cli("status", "hello@1.service");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`hello@1.service on ${helloNode}`);
    expect(r.stdout).toContain("hello.listening");
    // Following: the first call with a cursor sets it; the next prints only what came since.
    await journal(t, helloNode, "hello@1.service", { lines: 5, cursor: "test-follow" });
    const quiet = await journal(t, helloNode, "hello@1.service", { lines: 5, cursor: "test-follow" });
    expect(quiet).toBe("");
  });

  it("an unknown unit, node or stack is a clear error and changes nothing", async () => {
    const before = await containerId(helloNode, "hello@1.service");
    const unknown = await cli("restart", "nope@1.service");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no unit nope@1.service is placed");
    expect(await cli("restart", "hello@1.service", "--node", "i-0000000000000000")).toMatchObject({
      code: 1,
    });
    expect(await cli("restart", "x;rm -rf /")).toMatchObject({ code: 2 });
    const ssh = await cli("ssh", "i-0000000000000000");
    expect(ssh.code).toBe(1);
    expect(ssh.stderr).toContain("no node i-0000000000000000");
    const env = localEnv(lc.dir, lc.state);
    const stack = await exec(
      "node",
      ["bin/devcluster.js", "machines", "--stack", "nope", "--region", env.AWS_REGION!],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, ...env },
      },
    ).catch((e: { code: number; stderr: string }) => e);
    expect(stack).toMatchObject({ code: 1 });
    expect((stack as { stderr: string }).stderr).toContain("no stack nope");
    expect(await containerId(helloNode, "hello@1.service")).toBe(before);
  });

  it("restart restarts the unit's container on its node (podman shows a new one)", async () => {
    const before = await containerId(helloNode, "hello@1.service");
    expect(before).toBeDefined();
    const r = await cli("restart", "hello@1.service");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${helloNode}\\s+ok\\s+active`));
    const after = await eventually("a new hello container", async () => {
      const id = await containerId(helloNode, "hello@1.service");
      return id && id !== before ? id : undefined;
    });
    expect(after).not.toBe(before);
    // Its presence sidecar (BindsTo=) comes back with it, as systemd restarts bound units.
    await eventually("presence@hello@1 active again", async () =>
      unitsOnNodeOf(lc.dir, helloNode).find((u) => u.name === "presence@hello@1.service")?.state === "active"
        ? true
        : undefined,
    );
  });

  it("the restart function restarts a placed unit where it is placed, and nothing else", async () => {
    const before = await containerId(helloNode, "hello@1.service");
    // Through the cluster's functions host, with the restart function's own role (IAM by moto).
    const r = (await t.invoke("restart", { unit: "hello@1.service" })) as {
      results: { machine: string; ok: boolean; state: string }[];
    };
    expect(r.results).toEqual([expect.objectContaining({ machine: helloNode, ok: true, state: "active" })]);
    await eventually("a new hello container", async () => {
      const id = await containerId(helloNode, "hello@1.service");
      return id && id !== before ? id : undefined;
    });
    const after = await containerId(helloNode, "hello@1.service");
    for (const [event, kind] of [
      [{ unit: "sshd.service" }, NotFoundError],
      [{ unit: "hello@1.service", script: "reboot" }, InvalidInputError],
      [{ unit: "hello@1.service", node: view.machines.find((m) => m.id !== helloNode)!.id }, NotFoundError],
    ] as const)
      await expect(t.invoke("restart", event)).rejects.toBeInstanceOf(kind);
    expect(await containerId(helloNode, "hello@1.service")).toBe(after);
  });

  it("stop and start act on the unit on its node; ssh opens a shell on the unit's node", async () => {
    const state = (unit: string) => unitsOnNodeOf(lc.dir, helloNode).find((u) => u.name === unit)?.state;
    expect((await cli("stop", "hello@1.service")).code).toBe(0);
    expect(state("hello@1.service")).toBe("inactive");
    await eventually("hello's container gone", async () =>
      (await containerId(helloNode, "hello@1.service")) === undefined ? true : undefined,
    );
    expect((await cli("start", "hello@1.service")).code).toBe(0);
    // Its presence sidecar stopped with it (BindsTo=); start it again as an operator would.
    expect((await cli("start", "presence@hello@1.service")).code).toBe(0);
    expect(state("hello@1.service")).toBe("active");
    await eventually("hello's container running", async () => containerId(helloNode, "hello@1.service"));
    // ssh: the shell runs on the node the unit is placed on (locally, in its directory).
    const child = spawn("node", ["bin/devcluster.js", "ssh", "hello@1.service", "--dir", lc.dir], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DEVCLUSTER_LOG: "silent" },
    });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stdin.end('echo "on=$INSTANCE_ID"; exit 0\n');
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(0);
    expect(stdout).toContain(`on=${helloNode}`);
  });

  it("snapshot stores one; restore without confirmation refuses and changes nothing", async () => {
    const snap = await cli("snapshot");
    expect(snap.code).toBe(0);
    const id = (JSON.parse(snap.stdout) as { id: string }).id;
    const listed = await cli("snapshots", "--json");
    expect(
      (JSON.parse(listed.stdout) as { snapshots: { id: string }[] }).snapshots.map((s) => s.id),
    ).toContain(id);
    const etcd = etcdOf(view);
    await etcd.put("/ops-test/kept").value("yes");
    const members = (await etcd.cluster.memberList({})).members.map((m) => m.ID).sort();
    const r = await cli("restore", "latest");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`restore ${id}`);
    expect(r.stderr).toMatch(/revision \d+, \d+ keys/);
    expect(r.stderr).toContain("not confirmed and no terminal to ask on; nothing was changed");
    expect(await etcd.get("/ops-test/kept").string()).toBe("yes");
    expect((await etcd.cluster.memberList({})).members.map((m) => m.ID).sort()).toEqual(members);
    etcd.close();
  });

  it("deploy shows the plan and pushes nothing when the catalog is what runs; reconcile reports", async () => {
    const d = await cli("deploy", "--yes");
    expect(d.code).toBe(0);
    expect(d.stdout).toContain("placement changes:\n  (none)");
    const rc = await cli("reconcile");
    expect(rc.code).toBe(0);
    expect(JSON.parse(rc.stdout)).toHaveProperty("repairs");
  });
});

describe(
  "the AWS path (a stack by name, the status function through its handler)",
  { timeout: 300_000 },
  () => {
    it("reads the same view as the local target", async () => {
      Object.assign(process.env, localEnv(lc.dir, lc.state));
      const fns = await loadFunctions(lc.dir, lc.state);
      const byName = new Map(Object.entries(lc.state.functions).map(([fn, f]) => [f.name, fn]));
      const aws = await awsOpsTarget(
        { stack: lc.state.stackName, region: process.env.AWS_REGION! },
        {
          // moto cannot run a function (it would need Docker): the stack's physical name is mapped to
          // the same deployed handler the local function host runs with the function's own role.
          invoker: async (name, fn, payload) => {
            expect(byName.get(name)).toBe(fn);
            return fns.invoke(fn, payload);
          },
        },
      );
      try {
        expect(aws.cluster).toBe(lc.state.clusterName);
        const a = await readView(aws);
        const b = await readView(t);
        const strip = (v: ClusterView) => ({
          ...v,
          at: "",
          etcd: { ...v.etcd, members: v.etcd.members.map((m) => ({ ...m, healthy: true })) },
        });
        expect(strip(a)).toEqual(strip(b));
      } finally {
        await aws.close();
      }
    });
  },
);

describe("the dashboard", { timeout: 300_000 }, () => {
  let ui: Dashboard;
  let browser: Browser;
  beforeAll(async () => {
    ui = await startDashboard(t, { host: "127.0.0.1", port: 0 });
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await ui?.close();
  });

  it("shows every node and service of the cluster", async () => {
    const page = await browser.newPage();
    await page.goto(ui.url);
    for (const m of view.machines)
      await page.locator(`div.node[data-node="${m.id}"]`).waitFor({ timeout: 120_000 });
    const services = await page.locator("#services").innerText();
    for (const s of view.services) expect(services).toContain(s.name);
    await page.close();
  });

  // Locally the operator's node commands; the dashboard service's way is the restart function.
  it.each([
    ["through node commands", false],
    ["through the restart function", true],
  ])("a restart from the page restarts the unit on its node (%s)", async (_how, byFunction) => {
    const d = byFunction
      ? await startDashboard(t, { host: "127.0.0.1", port: 0, restartByFunction: true })
      : ui;
    try {
      const before = await containerId(helloNode, "hello@1.service");
      const page = await browser.newPage();
      await page.goto(d.url);
      const button = page.locator(`button[data-unit="hello@1.service"][data-node="${helloNode}"]`);
      await button.waitFor({ timeout: 120_000 });
      await button.click();
      // The answer stays on the button for 3 s, through the page's periodic refresh.
      const answered = page
        .locator(`button[data-unit="hello@1.service"][data-node="${helloNode}"]`)
        .filter({ hasText: /restarted|failed/ });
      await answered.waitFor({ timeout: 180_000 });
      expect(await answered.innerText()).toBe("restarted");
      await eventually("a new hello container", async () => {
        const id = await containerId(helloNode, "hello@1.service");
        return id && id !== before ? id : undefined;
      });
      await page.close();
    } finally {
      if (d !== ui) await d.close();
    }
  });

  it("events are the handlers' lines in moto's CloudWatch Logs, shipped there as Lambda does", async () => {
    // up ran the lifecycle function for every launch: its group holds those lines.
    const logs = new CloudWatchLogsClient({
      endpoint: lc.state.motoEndpoint,
      region: LOCAL_REGION,
      credentials: lc.state.admin,
    });
    try {
      // Everything in the functions' groups, read directly from moto.
      const stored = async () => {
        const out = new Set<string>();
        for (const f of Object.values(lc.state.functions)) {
          const r = await logs.send(new FilterLogEventsCommand({ logGroupName: logGroupOf(f.name) }));
          for (const e of r.events ?? []) {
            // Not every line is a handler's (moto writes its own when asked to run a function).
            const l = parseEvent(e.message ?? "");
            if (l) out.add(`${l.time} ${l.fn} ${l.msg}`);
          }
        }
        return out;
      };
      // up ran the lifecycle function for every launch: its lines are there.
      await eventually("lifecycle lines in CloudWatch Logs", async () =>
        [...(await stored())].some((l) => l.includes(" lifecycle ")) ? true : undefined,
      );
      const events = (await (await fetch(new URL("/api/events", ui.url))).json()) as {
        events: { fn: string; msg: string; time: string }[];
      };
      expect(events.events.length).toBeGreaterThan(0);
      const inGroups = await stored();
      for (const e of events.events) expect(inGroups.has(`${e.time} ${e.fn} ${e.msg}`), e.msg).toBe(true);
      const page = await browser.newPage();
      await page.goto(ui.url);
      const newest = events.events.at(-1)!;
      await page.locator("#events td", { hasText: newest.fn }).first().waitFor({ timeout: 60_000 });
      await page.close();
    } finally {
      logs.destroy();
    }
  });

  it("refuses a POST without the page's token, from another origin, or to another host name", async () => {
    const before = await containerId(helloNode, "hello@1.service");
    const post = (headers: Record<string, string>) =>
      fetch(new URL("/api/restart", ui.url), {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ unit: "hello@1.service" }),
      });
    expect((await post({})).status).toBe(403);
    const page = await (await fetch(ui.url)).text();
    const token = /"token":"([^"]+)"/.exec(page)![1]!;
    expect((await post({ "x-csrf-token": token, origin: "http://evil.example" })).status).toBe(403);
    const other = await exec("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      "Host: evil.example",
      ui.url,
    ]);
    expect(other.stdout).toBe("421");
    expect(await containerId(helloNode, "hello@1.service")).toBe(before);
  });

  it("behind the front door: only its requests, with its identity headers; only admins act, with the page's token and the front door's origin", async () => {
    // This test's requests come from 127.0.0.1: here that is "the front door"; 127.0.0.2 is not.
    const proxied = await startDashboard(t, {
      host: "127.0.0.1",
      port: 0,
      trustProxy: (a) => a === "127.0.0.1",
    });
    const elsewhere = await startDashboard(t, { host: "127.0.0.1", port: 0, trustProxy: "127.0.0.2" });
    const ask = async (d: Dashboard, path: string, headers: Record<string, string>, body?: unknown) => {
      const u = new URL(d.url);
      const r = await httpAsk({ address: u.hostname, port: u.port }, path, {
        headers,
        ...(body === undefined ? {} : { json: body }),
      });
      return { status: r.status, text: r.body };
    };
    const as = (user: string, groups: string) => ({
      host: "dashboard.dev.test",
      "x-remote-user": user,
      "x-remote-groups": groups,
    });
    try {
      // Not from a front door: refused whatever it claims.
      expect((await ask(elsewhere, "/", as("mallory", "admins"))).status).toBe(403);
      expect((await ask(elsewhere, "/api/view", as("mallory", "admins"))).status).toBe(403);
      // From the front door but without a user (it always sets one after sign-in): refused.
      expect((await ask(proxied, "/", { host: "dashboard.dev.test" })).status).toBe(403);
      // A developer sees the page, without restart buttons, and cannot act.
      const devPage = await ask(proxied, "/", as("alice", "developers"));
      expect(devPage.status).toBe(200);
      expect(devPage.text).toContain("alice");
      expect(devPage.text).not.toContain("alice (admin)");
      const token = /"token":"([^"]+)"/.exec(devPage.text)![1]!;
      const before = await containerId(helloNode, "hello@1.service");
      const post = (who: Record<string, string>, extra: Record<string, string>) =>
        ask(
          proxied,
          "/api/restart",
          { ...who, "content-type": "application/json", ...extra },
          { unit: "hello@1.service", node: helloNode },
        );
      const origin = { origin: "https://dashboard.dev.test" };
      const dev = await post(as("alice", "developers"), { "x-csrf-token": token, ...origin });
      expect(dev.status).toBe(403);
      expect(dev.text).toContain("only the admins group");
      // An admin still needs the page's token and the front door's origin.
      expect((await post(as("carol", "admins"), origin)).status).toBe(403);
      expect(
        (await post(as("carol", "admins"), { "x-csrf-token": token, origin: "https://evil.example" })).status,
      ).toBe(403);
      expect(await containerId(helloNode, "hello@1.service")).toBe(before);
      // With both, the restart happens.
      const ok = await post(as("carol", "developers, admins"), { "x-csrf-token": token, ...origin });
      expect(ok.status, ok.text).toBe(200);
      expect((JSON.parse(ok.text) as { results: { ok: boolean }[] }).results.every((r) => r.ok)).toBe(true);
      await eventually("a new hello container", async () => {
        const id = await containerId(helloNode, "hello@1.service");
        return id && id !== before ? id : undefined;
      });
    } finally {
      await proxied.close();
      await elsewhere.close();
    }
  });
});

describe(
  "the dashboard service (its container), through the cluster's front door and sign-in",
  { timeout: 300_000 },
  () => {
    const PASSWORD = "Correct-horse-42";
    let door = "";
    let host = "";
    /** One request to the front door (port 80) for `host`, as a browser resolving the name would. */
    const viaDoor = async (
      path: string,
      opts: { form?: Record<string, string>; headers?: Record<string, string> } = {},
    ) => {
      const r = await httpAsk({ address: door, port: 80 }, path, { ...opts, host });
      return { status: r.status, text: r.body, cookies: r.cookies };
    };
    const session = (cookies: string[]) => cookies.find((c) => c.startsWith("devcluster_session="));
    const field = (body: string, n: string) =>
      new RegExp(`name="${n}" value="([^"]*)"`).exec(body)?.[1] ?? "";

    beforeAll(async () => {
      const pool = lc.state.userPool!;
      expect(pool).toBeDefined();
      const users = cognitoUserDirectory(
        new CognitoIdentityProviderClient({
          endpoint: lc.state.motoEndpoint,
          region: LOCAL_REGION,
          credentials: lc.state.admin,
        }),
        pool.userPoolId,
      );
      await addUser(users, "dana", { password: PASSWORD, groups: ["developers"] });
      await addUser(users, "erin", { password: PASSWORD, groups: ["admins"] });
      host = `dashboard.${lc.state.domain}`;
      // The dashboard and the front door are announced once their containers answer (under load, a
      // minute or more after up): wait until a front door asks for a login on the dashboard's name.
      door = await eventually(
        "the front door to serve the dashboard's name",
        async () => {
          const v = await readView(t);
          if (!v.services.some((s) => s.name === "dashboard")) return undefined;
          for (const i of v.services.find((s) => s.name === "nginx")?.instances ?? []) {
            door = i.address;
            if ((await viaDoor("/").catch(() => undefined))?.status === 401) return i.address;
          }
          return undefined;
        },
        240_000,
      );
    }, 300_000);

    it("asks for a login; a signed-in non-admin is refused at the front door", async () => {
      expect((await viaDoor("/")).text).toContain('action="/.auth/login"');
      const r = await viaDoor("/.auth/login", { form: { username: "dana", password: PASSWORD, rd: "/" } });
      expect(r.status).toBe(303);
      const cookie = session(r.cookies)!;
      expect((await viaDoor("/", { headers: { cookie } })).status).toBe(403);
      expect((await viaDoor("/api/events", { headers: { cookie } })).status).toBe(403);
    });

    it("an admin reaches it as themself and reads the events from CloudWatch Logs with the node's role", async () => {
      // An admin sets up a second factor first (moto accepts any code), then signs in with one.
      const first = await viaDoor("/.auth/login", {
        form: { username: "erin", password: PASSWORD, rd: "/" },
      });
      await viaDoor("/.auth/mfa-setup", {
        form: { username: "erin", token: field(first.text, "token"), code: "123456", rd: "/" },
      });
      const again = await viaDoor("/.auth/login", {
        form: { username: "erin", password: PASSWORD, rd: "/" },
      });
      const done = await viaDoor("/.auth/code", {
        form: {
          username: "erin",
          session: field(again.text, "session"),
          challenge: field(again.text, "challenge"),
          code: "123456",
          rd: "/",
        },
      });
      expect(done.status, done.text).toBe(303);
      const cookie = session(done.cookies)!;
      // Forged identity headers from outside are replaced by the front door's.
      const page = await viaDoor("/", {
        headers: { cookie, "x-remote-user": "mallory", "x-remote-groups": "admins" },
      });
      expect(page.status).toBe(200);
      expect(page.text).toContain("erin (admin)");
      expect(page.text).not.toContain("mallory");
      const events = await eventually("events through the front door", async () => {
        const r = await viaDoor("/api/events", { headers: { cookie } });
        const e = JSON.parse(r.text) as { events: { fn: string; msg: string }[]; unavailable?: string };
        return e.events.length ? e : undefined;
      });
      expect(events.unavailable).toBeUndefined();
      expect(events.events.map((e) => e.fn)).toContain("lifecycle");
    });

    it("is not reachable around the front door: direct requests with forged headers are refused", async () => {
      const v = await readView(t);
      const inst = v.services.find((s) => s.name === "dashboard")!.instances[0]!;
      const direct = await fetch(`http://${inst.address}:${inst.port}/api/view`, {
        headers: { "x-remote-user": "mallory", "x-remote-groups": "admins" },
      });
      expect(direct.status).toBe(403);
      // Its health check (what presence asks from the node) answers without identity and without data.
      const health = await fetch(`http://${inst.address}:${inst.port}/healthz`);
      expect(await health.json()).toEqual({ ok: true });
    });
  },
);
