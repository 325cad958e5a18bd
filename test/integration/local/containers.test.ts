// The local cluster with real containers (rootful podman + runc): the sample service answers through
// the front door on another node, comes back after its worker is killed, a unit's Upstreams= reach
// it through an ambassador on the unit's own node, a unit whose image does not exist fails on its
// node alone with a clear reason, and `down` leaves no container, process or
// listening port. Checked against podman, etcd and the network directly, not only through status.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { listeners, useLocalCluster } from "../../rig/localCluster.ts";
import { readCatalogDir } from "../../../functions/catalog/index.ts";
import { attach, down, kill, status } from "../../../local/cluster/cluster.ts";
import { askFrontDoor, waitForAnswer } from "../../../local/cluster/frontdoor.ts";
import type { ClusterStatus } from "../../../local/cluster/status.ts";
import { CONTAINERS_CONF, containersUnder } from "../../../local/containers.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";

const run = promisify(execFile);
const progress = () => {};
const lc = useLocalCluster({ name: "containers-e2e", progress });

/** podman's own view: the names of running containers labelled with a node directory under `dir`. */
async function podmanRunning(): Promise<{ name: string; root: string }[]> {
  const { stdout } = await run("podman", ["ps", "--filter", "label=devcluster.root", "--format", "json"], {
    env: { ...process.env, CONTAINERS_CONF },
  });
  return (JSON.parse(stdout || "[]") as { Names: string[]; Labels: Record<string, string> }[])
    .map((c) => ({ name: c.Labels["devcluster.name"] ?? "", root: c.Labels["devcluster.root"] ?? "" }))
    .filter((c) => c.root.startsWith(`${lc.dir}/`));
}

const helloOn = (s: ClusterStatus) =>
  s.services.find((x) => x.name === "hello")?.instances.find((i) => i.healthy)?.node;
const frontDoorBesides = (s: ClusterStatus, node: string | undefined) =>
  s.nodes.find(
    (n) =>
      n.role === "worker" &&
      n.up &&
      n.id !== node &&
      n.units.some((u) => u.name.startsWith("nginx@") && u.state === "active"),
  );

// One scenario: each test starts from the state the one before it left (kept in order under --sequence.shuffle).
describe("real containers in the local cluster", { shuffle: false }, () => {
  let servedBy = "";
  let door = "";

  it("a request through the front door reaches hello on another node", async () => {
    const host = `hello.${lc.state.domain}`;
    const first = await waitForAnswer(
      async () => {
        const s = await status(lc.dir);
        const on = helloOn(s);
        const fd = frontDoorBesides(s, on);
        return on && fd ? { address: fd.address, avoid: "" } : undefined;
      },
      host,
      240_000,
    );
    const s = await status(lc.dir);
    servedBy = helloOn(s)!;
    door = first.address;
    expect(first.body).toBe(`hello from hello@1 on ${servedBy}\n`);
    const doorNode = s.nodes.find((n) => n.address === door)!;
    expect(doorNode.id).not.toBe(servedBy);
    // podman itself runs hello on the serving node and a front door on the other.
    const running = await podmanRunning();
    expect(running.some((c) => c.name === "hello-1" && c.root.endsWith(`/nodes/${servedBy}`))).toBe(true);
    expect(running.some((c) => /^nginx-\d$/.test(c.name) && c.root.endsWith(`/nodes/${doorNode.id}`))).toBe(
      true,
    );
    // status: the service, its front-door name, its instance, and the containers per node.
    const hello = s.services.find((x) => x.name === "hello")!;
    expect(hello.url).toBe(`http://hello.${lc.state.domain}`);
    expect(hello.instances).toEqual([expect.objectContaining({ node: servedBy, port: 8080, healthy: true })]);
    // etcd-amb is restarted (try-restart, RestartSec=5s) whenever the discovery record changes, which
    // a late main-node registration during `up` can still do: wait for it rather than sample once.
    const wanted = ["hello-1", "presence-hello@1", "etcd-amb"];
    const onServer = async () =>
      (await status(lc.dir)).nodes.find((n) => n.id === servedBy)!.containers.map((c) => c.name);
    const seen = await pollUntil(
      async () => {
        const names = await onServer();
        return wanted.every((w) => names.includes(w)) ? names : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(seen ?? (await onServer())).toEqual(expect.arrayContaining(wanted));
    // An unknown name gets the front door's 503, never another service.
    const unknown = await askFrontDoor(door, `nope.${lc.state.domain}`);
    expect(unknown?.status).not.toBe(200);
  }, 300_000);

  it("after the worker running hello is killed, the front door answers from another node", async () => {
    const host = `hello.${lc.state.domain}`;
    const t0 = Date.now();
    const killing = kill(lc.dir, servedBy, progress);
    const again = await waitForAnswer(async () => ({ address: door, avoid: servedBy }), host, 180_000);
    await killing;
    expect(again.body).toMatch(/^hello from hello@1 on i-/);
    expect(again.body).not.toContain(servedBy);
    // The killed node's containers died with it.
    expect((await podmanRunning()).filter((c) => c.root.endsWith(`/nodes/${servedBy}`))).toEqual([]);
    console.log(`failover through the front door: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 240_000);

  it("a unit's Upstreams= reach the service through its ambassador, on the unit's own node", async () => {
    // A caller of hello: its ambassador forwards the node's localhost:18080 to hello's instances.
    const caller =
      "[Unit]\nDescription=calls hello through its ambassador\n\n[Service]\n" +
      "ExecStartPre=-/usr/bin/docker rm -f %p-%i\n" +
      "ExecStart=/usr/bin/docker run --rm --name %p-%i --net host -e LISTEN_ADDRESS=127.0.0.1 -e PORT=18081 -e INSTANCE=%p@%i -e NODE_ID=caller {{image:hello}}\n" +
      "ExecStop=/usr/bin/docker stop %p-%i\nRestart=always\nRestartSec=5s\n\n[Install]\nWantedBy=multi-user.target\n\n" +
      "[X-Fleet]\nMachineMetadata=role=worker\n\n[X-Devcluster]\nInstances=1\nSidecars=ambassador\nUpstreams=hello:18080\n";
    const { fns } = await attach(lc.dir);
    await fns.units({ catalog: { ...readCatalogDir(), "caller@.service": caller } });
    const s = await status(lc.dir);
    const node = s.nodes.find((n) => n.units.some((u) => u.name === "caller@1.service"))!;
    expect(node.units.find((u) => u.name === "ambassador@caller@1.service")?.state).toBe("active");
    // The ambassador listens on the caller's node only (its localhost), and forwards to hello.
    const url = `http://${node.address}:18080/`;
    let body = "";
    const until = Date.now() + 60_000;
    while (Date.now() < until && !body.startsWith("hello from hello@1")) {
      body = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.text(),
        () => "",
      );
      if (!body) await new Promise((r) => setTimeout(r, 500));
    }
    expect(body).toMatch(/^hello from hello@1 on i-/);
    const others = s.nodes.filter((n) => n.up && n.id !== node.id);
    for (const n of others)
      expect(
        await fetch(`http://${n.address}:18080/`).then(
          () => "answered",
          () => "refused",
        ),
      ).toBe("refused");
    // Pushing the catalog without the caller stops it and its ambassador, and nothing else.
    await fns.units({ catalog: readCatalogDir() });
    const after = await status(lc.dir);
    expect(
      after.nodes.flatMap((n) => n.units.map((u) => u.name)).filter((u) => u.includes("caller")),
    ).toEqual([]);
    expect(
      await fetch(url).then(
        () => "answered",
        () => "refused",
      ),
    ).toBe("refused");
  }, 120_000);

  it("a unit whose image does not exist fails on its node with the reason; nothing else stops", async () => {
    const before = await status(lc.dir);
    const activeBefore = before.nodes.flatMap((n) =>
      n.units.filter((u) => u.state === "active").map((u) => `${n.id} ${u.name}`),
    );
    const catalog = {
      ...readCatalogDir(),
      "broken.service":
        "[Unit]\nDescription=a unit whose image was never built\n# systemd's start limit: give up after 3 starts within a minute.\nStartLimitIntervalSec=60\nStartLimitBurst=3\n\n[Service]\nExecStart=/usr/bin/docker run --rm --name broken {{image:no-such-image}}\nRestart=always\nRestartSec=1s\n\n[Install]\nWantedBy=multi-user.target\n\n[X-Fleet]\nMachineMetadata=role=worker\n",
    };
    const { fns } = await attach(lc.dir);
    const report = (await fns.units({ catalog })) as {
      missingImages: Record<string, string[]>;
      failed: string[];
    };
    expect(report.missingImages).toEqual({ "broken.service": ["no-such-image"] });
    let broken: { node: string; state: string; error?: string } | undefined;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      const s = await status(lc.dir);
      const n = s.nodes.find((x) => x.units.some((u) => u.name === "broken.service"));
      const u = n?.units.find((x) => x.name === "broken.service");
      if (n && u?.state === "failed") {
        broken = { node: n.id, ...u };
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(broken?.state).toBe("failed");
    expect(broken?.error).toMatch(
      /Unable to find image 'missing\.devcluster\.invalid\/no-such-image:not-built'/,
    );
    const after = await status(lc.dir);
    const activeAfter = after.nodes.flatMap((n) =>
      n.units.filter((u) => u.state === "active").map((u) => `${n.id} ${u.name}`),
    );
    for (const u of activeBefore) expect(activeAfter, u).toContain(u);
    expect((await askFrontDoor(door, `hello.${lc.state.domain}`))?.status).toBe(200);
  }, 120_000);

  it("down removes every container and leaves no process or listening port", async () => {
    expect((await podmanRunning()).length).toBeGreaterThanOrEqual(6);
    expect((await listeners(lc.block.prefix)).length).toBeGreaterThan(0);
    await down(lc.dir, progress);
    expect(await containersUnder(lc.dir)).toEqual([]);
    const { stdout } = await run(
      "podman",
      ["ps", "-a", "--filter", "label=devcluster.root", "--format", "{{.Labels}}"],
      { env: { ...process.env, CONTAINERS_CONF } },
    );
    expect(stdout.split("\n").filter((l) => l.includes(`${lc.dir}/`))).toEqual([]);
    expect(await listeners(lc.block.prefix)).toEqual([]);
    const { stdout: ps } = await run("ps", ["-eo", "args"]);
    expect(ps.split("\n").filter((l) => l.includes(lc.dir))).toEqual([]);
  }, 60_000);
});
