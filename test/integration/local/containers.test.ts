// The local cluster with real containers (rootful podman + runc): the SSH-key lists answer without a
// sign-in, signed with the key in SSM; the sample service answers through
// the front door on another node, comes back after its worker is killed, a unit's Upstreams= reach
// it through an ambassador on the unit's own node, a unit whose image does not exist fails on its
// node alone with a clear reason, units with volumes (a probe, and the catalog's postgres with every
// committed row) come back on another node of their zone after a kill, a volume is restored from a
// snapshot and moved to another zone (a node added there through the real Auto Scaling API, then
// removed) by the units function and by the operator's command, the database is restored from
// a dump by the operator's command, and `down` leaves no
// container, process or listening port. Checked against podman, etcd and the network directly, not only through status.
import { execFile } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { verifyKeyList } from "../../../functions/domain/sshKeyList.ts";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { listeners, useLocalCluster } from "../../rig/localCluster.ts";
import { CATALOG_DIR, readCatalogDir } from "../../../functions/catalog/index.ts";
import { attach, down, kill, removeNode, scale, status } from "../../../local/cluster/cluster.ts";
import { askFrontDoor, waitForAnswer } from "../../../local/cluster/frontdoor.ts";
import type { ClusterStatus } from "../../../local/cluster/status.ts";
import { CONTAINERS_CONF, containersUnder } from "../../../local/containers.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeSubnetsCommand, EC2Client } from "@aws-sdk/client-ec2";
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import { ec2VolumeSnapshots } from "../../../functions/adapters/aws/ec2VolumeSnapshots.ts";
import { ec2Volumes as ec2VolumesAdapter } from "../../../functions/adapters/aws/ec2Volumes.ts";
import { localVolumeDir, readLedger } from "../../../local/volumes.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { addNote, databaseNode, listNotes, notesAddress } from "../../../local/cluster/database.ts";
import { PROJECT_ROOT } from "../../../local/paths.ts";

const run = promisify(execFile);

/** The operator's command line against this cluster: exit code and output. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", ["bin/devcluster.js", ...args, "--dir", lc.dir], {
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

/** moto's own view of the cluster's service volumes, as the administrator reads it. */
const ec2Volumes = () =>
  ec2VolumesAdapter(
    new EC2Client({ endpoint: lc.state.motoEndpoint, region: LOCAL_REGION, credentials: lc.state.admin }),
    lc.state.clusterName,
  ).list();

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

  it("the SSH-key lists answer through the front door without a sign-in, signed with the key kept in SSM; the page needs one", async () => {
    const host = `sshkeys-lists.${lc.state.domain}`;
    const fetchText = (path: string) =>
      pollUntil(
        async () => {
          const a = await askFrontDoor(door, host, 2000, path);
          return a?.status === 200 ? a.body : undefined;
        },
        { timeoutMs: 240_000, intervalMs: 1000 },
      );
    const pub = await fetchText("/v1/public-key");
    expect(pub).toContain("BEGIN PUBLIC KEY");
    const kept = await new SSMClient({
      endpoint: lc.state.motoEndpoint,
      region: LOCAL_REGION,
      credentials: lc.state.admin,
    }).send(
      new GetParameterCommand({
        Name: `/devcluster/${lc.state.clusterName}/sshkeys/signing-key`,
        WithDecryption: true,
      }),
    );
    expect(createPublicKey(kept.Parameter!.Value!).export({ type: "spki", format: "pem" })).toBe(pub);
    const list = await fetchText("/v1/accounts");
    expect(verifyKeyList(list!, pub!, "*", Math.floor(Date.now() / 1000)).subject).toBe("*");
    // The page itself is behind sign-in: the front door answers for it, never the page.
    const page = await askFrontDoor(door, `sshkeys.${lc.state.domain}`, 2000);
    expect(page?.body ?? "").not.toContain("SSH public key");
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

  it("an ad-hoc app written by `devcluster app new` and pushed by `local units` answers through the front door", async () => {
    // The team member's image: here the sample's, by the reference the image build published.
    const refs = JSON.parse(
      readFileSync(join(PROJECT_ROOT, ".build/containers/images.json"), "utf8"),
    ) as Record<string, string>;
    const catalog = mkdtempSync(join(tmpdir(), "app-catalog-"));
    try {
      cpSync(CATALOG_DIR, catalog, { recursive: true, filter: (f) => !f.endsWith(".ts") });
      // `app new` writes a file and reaches no cluster (it takes no --dir, which cli() adds).
      const made = await run(
        "node",
        [
          "bin/devcluster.js",
          "app",
          "new",
          "greet",
          "--image",
          refs.hello!,
          "--port",
          "8390",
          "--public",
        ].concat(["--health", "/healthz", "--catalog", catalog]),
        { cwd: PROJECT_ROOT },
      ).then(
        (r) => ({ code: 0, stderr: r.stderr }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      expect(made.code, made.stderr).toBe(0);
      const pushed = await cli("local", "units", "--catalog", catalog);
      expect(pushed.code, pushed.stderr + pushed.stdout).toBe(0);
      const host = `greet.${lc.state.domain}`;
      const answer = await waitForAnswer(
        async () => {
          const s = await status(lc.dir);
          const on = s.services.find((x) => x.name === "greet")?.instances.find((i) => i.healthy)?.node;
          const fd = frontDoorBesides(s, on);
          return on && fd ? { address: fd.address, avoid: "" } : undefined;
        },
        host,
        120_000,
      );
      // hello without INSTANCE/NODE_ID: the app got only what the unit gives (PORT), in its own network.
      expect(answer.body).toBe("hello from hello on unknown-node\n");
      const s = await status(lc.dir);
      const node = s.nodes.find((n) => n.units.some((u) => u.name === "greet@1.service"))!;
      expect(
        (await podmanRunning()).some((c) => c.name === "greet-1" && c.root.endsWith(`/nodes/${node.id}`)),
      ).toBe(true);
      // Published on its node's private address only.
      const direct = (address: string) =>
        fetch(`http://${address}:8390/healthz`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.status,
          () => 0,
        );
      expect(await direct(node.address)).toBe(200);
      for (const n of s.nodes.filter((x) => x.up && x.id !== node.id))
        expect(await direct(n.address)).toBe(0);
    } finally {
      rmSync(catalog, { recursive: true, force: true });
    }
    // The repository's catalog again: the app stops, nothing else changes.
    const back = await cli("local", "units");
    expect(back.code, back.stderr).toBe(0);
    const after = await status(lc.dir);
    expect(after.nodes.flatMap((n) => n.units.map((u) => u.name)).filter((u) => u.includes("greet"))).toEqual(
      [],
    );
  }, 300_000);

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

  it("a unit with a volume comes back after its node is killed, on another node of its zone, with its files", async () => {
    // Any node may run it (repeated MachineMetadata: or), so its zone keeps a node after the kill.
    const keeper =
      "[Unit]\nDescription=keeps a file on its volume\n\n[Service]\nEnvironmentFile=-/etc/devcluster/node.env\n" +
      "ExecStartPre=-/usr/bin/docker rm -f %p-%i\n" +
      "ExecStart=/usr/bin/docker run --rm --name %p-%i --net host -u 0 -e NODE_ID=${INSTANCE_ID} -v /srv/keeper-%i:/data " +
      "--entrypoint /bin/sh {{image:hello}} -c 'printenv NODE_ID >>/data/starts; [ -f /data/first ] || printenv NODE_ID >/data/first; exec sleep infinity'\n" +
      "ExecStop=/usr/bin/docker stop -t 1 %p-%i\nRestart=always\nRestartSec=2s\n\n[Install]\nWantedBy=multi-user.target\n\n" +
      "[X-Fleet]\nMachineMetadata=role=worker\nMachineMetadata=role=main\n\n[X-Devcluster]\nInstances=1\nVolume=data:1:/srv/keeper-%i\n";
    const catalog = { ...readCatalogDir(), "keeper@.service": keeper };
    const { fns } = await attach(lc.dir);
    const pushed = (await fns.units({ catalog })) as { held: unknown[]; volumeActions: { kind: string }[] };
    expect(pushed.held).toEqual([]);
    expect(pushed.volumeActions.map((a) => a.kind)).toEqual(["attach"]);
    const vol = (await ec2Volumes()).find((v) => v.instance === "keeper@1")!;
    const data = join(localVolumeDir(lc.dir, vol.id), "fs");
    const runningOn = async (not?: string) => {
      const s = await status(lc.dir);
      const n = s.nodes.find(
        (x) => x.up && x.units.some((u) => u.name === "keeper@1.service" && u.state === "active"),
      );
      const c = n?.containers.some((x) => x.name === "keeper-1");
      return n && c && n.id !== not ? n : undefined;
    };
    const lines = (f: string) =>
      existsSync(join(data, f)) ? readFileSync(join(data, f), "utf8").trim().split("\n") : [];
    const first = await pollUntil(
      async () => {
        const n = await runningOn();
        return n && lines("first").length ? n : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(first, "keeper@1 running with its file").toBeDefined();
    expect(lines("first")).toEqual([first!.id]);
    const zone = first!.zone;
    // Created in its node's zone (moto keeps the zone its templates gave the node).
    expect(vol.zone).toBe(zone);
    // moto: one attachment, to the node running it.
    expect((await ec2Volumes()).find((v) => v.id === vol.id)!.attachedTo).toBe(first!.id);

    // The node dies; the unit and its volume come back on another node of the same zone. The
    // lifecycle syncs with the deployed catalog, which does not have this unit: the test pushes its
    // catalog again once the kill was handled, as it did to start the unit.
    const t0 = Date.now();
    const attachments = new Set<number>();
    await kill(lc.dir, first!.id, progress);
    const freed = (await ec2Volumes()).find((v) => v.id === vol.id)!;
    expect(freed.attachedTo === undefined || freed.attachedTo !== first!.id).toBe(true);
    const repushed = (await fns.units({ catalog })) as { held: unknown[]; volumeActions: { kind: string }[] };
    expect(repushed.held).toEqual([]);
    const second = await pollUntil(
      async () => {
        const v = (await ec2Volumes()).filter((x) => x.id === vol.id);
        attachments.add(v.filter((x) => x.attachedTo).length);
        const n = await runningOn(first!.id);
        return n && lines("starts").length >= 2 ? n : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    expect(second, "keeper@1 running again on another node").toBeDefined();
    console.log(
      `unit with a volume back after its node was killed: ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect(second!.zone).toBe(zone);
    // The file written on the first node is there, unformatted, and the unit started again beside it.
    expect(lines("first")).toEqual([first!.id]);
    expect(lines("starts")[0]).toBe(first!.id);
    expect(lines("starts").at(-1)).toBe(second!.id);
    expect([...attachments].every((n) => n <= 1)).toBe(true);
    expect((await ec2Volumes()).find((v) => v.id === vol.id)!.attachedTo).toBe(second!.id);
    // The node stand-ins' ledger: one mkfs, no refused mount, never mounted on two nodes at once.
    const ledger = readLedger(lc.dir).filter((e) => e.volume === vol.id);
    expect(ledger.filter((e) => e.op === "mkfs")).toHaveLength(1);
    expect(ledger.filter((e) => e.op === "refused")).toEqual([]);
    let holder: string | undefined;
    for (const e of ledger) {
      if (e.op === "mount") {
        expect(holder, `${e.node} mounted ${vol.id} while ${holder} held it`).toBeUndefined();
        holder = e.node;
      } else if (e.op === "umount" || e.op === "gone") holder = undefined;
    }
    expect(holder).toBe(second!.id);

    // Restore from a snapshot: a file written, a snapshot taken, the file changed, the volume
    // restored: the unit runs on a new volume with the old file; the old volume is kept, retired,
    // detached; no volume is ever on two nodes, and none is detached from under the running unit.
    writeFileSync(join(data, "marker"), "before\n");
    const snap = (await fns.units({ volume: { action: "snapshot", target: "keeper@1" } })) as {
      volume: { taken: { id: string; volumeId: string }[] };
    };
    expect(snap.volume.taken.map((x) => x.volumeId)).toEqual([vol.id]);
    const snapId = snap.volume.taken[0]!.id;
    // moto completes a snapshot at once: it is the volume's newest completed one in the status.
    expect((await status(lc.dir)).volumes.find((x) => x.id === vol.id)?.lastSnapshot).toBe(snapId);
    writeFileSync(join(data, "marker"), "after\n");
    const restoreEvent = { volume: { action: "restore", target: "keeper@1", snapshot: snapId }, catalog };
    // Bad input first: another volume's or an unknown snapshot, nothing changed.
    const before = JSON.stringify(await ec2Volumes());
    await expect(
      fns.units({ ...restoreEvent, volume: { ...restoreEvent.volume, snapshot: "snap-0123456789abcdef0" } }),
    ).rejects.toThrow(/not a snapshot of this cluster/);
    await expect(
      fns.units({ ...restoreEvent, volume: { ...restoreEvent.volume, target: "nope@1" } }),
    ).rejects.toThrow(/no volume/);
    expect(JSON.stringify(await ec2Volumes())).toBe(before);
    const t1 = Date.now();
    const restored = (await fns.units(restoreEvent)) as {
      volume: { newVolume: string; current: { id: string } };
      sync: { held: unknown[]; failed: string[] };
    };
    expect(restored.volume.current.id).toBe(vol.id);
    expect(restored.sync.held).toEqual([]);
    const fresh = restored.volume.newVolume;
    const freshData = join(localVolumeDir(lc.dir, fresh), "fs");
    const third = await pollUntil(
      async () => {
        const n = await runningOn();
        const starts = existsSync(join(freshData, "starts"))
          ? readFileSync(join(freshData, "starts"), "utf8")
          : "";
        return n && starts.trim().split("\n").length > lines("starts").length ? n : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(third, "keeper@1 running again on the restored volume").toBeDefined();
    console.log(`volume restored and the unit back on it: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    expect(readFileSync(join(freshData, "marker"), "utf8")).toBe("before\n");
    const after = await ec2Volumes();
    expect(after.find((v) => v.id === fresh)).toMatchObject({ attachedTo: third!.id, fromSnapshot: snapId });
    const old = after.find((v) => v.id === vol.id)!;
    expect(old.retired).toMatch(/restored: replaced by/);
    expect(old.attachedTo).toBeUndefined();
    expect(readFileSync(join(data, "marker"), "utf8")).toBe("after\n");
    // The ledger again, over both volumes: no refused mount; the old one unmounted before the new one
    // was mounted; each on one node at a time.
    const both = readLedger(lc.dir).filter((e) => e.volume === vol.id || e.volume === fresh);
    expect(both.filter((e) => e.op === "refused")).toEqual([]);
    expect(both.filter((e) => e.op === "mkfs" && e.volume === fresh)).toEqual([]);
    const lastOld = both.map((e) => e.volume === vol.id && e.op === "umount").lastIndexOf(true);
    const firstNew = both.findIndex((e) => e.volume === fresh && e.op === "mount");
    expect(lastOld).toBeGreaterThanOrEqual(0);
    expect(firstNew).toBeGreaterThan(lastOld);
    // Once more with the same snapshot: nothing new is made.
    const again = (await fns.units(restoreEvent)) as { volume: { already: string | null } };
    expect(again.volume.already).toMatch(/made from/);
    expect((await ec2Volumes()).filter((v) => v.instance === "keeper@1")).toHaveLength(2);

    // Move to another zone. Every local node is in one zone (moto's Auto Scaling launches into the
    // first subnet of VPCZoneIdentifier): the workers' group is given another zone's subnet first for
    // one scale-out through the real API, then its subnets back, so one node stands in a second zone.
    const aws = { endpoint: lc.state.motoEndpoint, region: LOCAL_REGION, credentials: lc.state.admin };
    const asg = new AutoScalingClient(aws);
    const ec2 = new EC2Client(aws);
    const workers = lc.state.groups.worker;
    const group = async () =>
      (await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [workers] })))
        .AutoScalingGroups![0]!;
    const g0 = await group();
    const subnets = g0.VPCZoneIdentifier!.split(",");
    const zoneOfSubnet = new Map(
      ((await ec2.send(new DescribeSubnetsCommand({ SubnetIds: subnets }))).Subnets ?? []).map((x) => [
        x.SubnetId!,
        x.AvailabilityZone!,
      ]),
    );
    const elsewhere = subnets.filter((x) => zoneOfSubnet.get(x) !== zone);
    expect(elsewhere.length, "the workers' subnets span more than one zone").toBeGreaterThanOrEqual(2);
    const zoneB = zoneOfSubnet.get(elsewhere[0]!)!;
    const zoneC = zoneOfSubnet.get(elsewhere[1]!)!;
    const t2 = Date.now();
    await asg.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: workers,
        VPCZoneIdentifier: [elsewhere[0]!, ...subnets.filter((x) => x !== elsewhere[0])].join(","),
      }),
    );
    let out: Awaited<ReturnType<typeof scale>>;
    try {
      out = await scale(lc.dir, "worker", g0.DesiredCapacity! + 1, progress);
    } finally {
      await asg.send(
        new UpdateAutoScalingGroupCommand({
          AutoScalingGroupName: workers,
          VPCZoneIdentifier: g0.VPCZoneIdentifier,
        }),
      );
    }
    expect((await group()).VPCZoneIdentifier).toBe(g0.VPCZoneIdentifier);
    expect(out.launched).toHaveLength(1);
    const nodeB = out.launched[0]!;
    expect((await status(lc.dir)).nodes.find((n) => n.id === nodeB)?.zone).toBe(zoneB);
    const nodesIn = async (z: string) => (await status(lc.dir)).nodes.filter((n) => n.zone === z).length;
    expect(await nodesIn(zoneC), "no node in the third zone").toBe(0);

    // The move, as `devcluster volume move` sends it (with the test's catalog, which has the unit).
    const moveEvent = { volume: { action: "move", target: "keeper@1", zone: zoneB }, catalog };
    const moved = (await fns.units(moveEvent)) as {
      volume: { newVolume: string; current: { id: string }; zone: string };
      sync: { held: unknown[] };
    };
    expect(moved.volume.current.id).toBe(fresh);
    expect(moved.sync.held).toEqual([]);
    const inB = moved.volume.newVolume;
    const inBData = join(localVolumeDir(lc.dir, inB), "fs");
    const onB = await pollUntil(
      async () => {
        const n = await runningOn();
        return n?.id === nodeB && existsSync(join(inBData, "starts")) ? n : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(onB, "keeper@1 running on the node in the other zone").toBeDefined();
    expect(readFileSync(join(inBData, "marker"), "utf8")).toBe("before\n");
    expect(readFileSync(join(inBData, "starts"), "utf8").trim().split("\n").at(-1)).toBe(nodeB);
    const afterMove = await ec2Volumes();
    const newB = afterMove.find((v) => v.id === inB)!;
    expect(newB).toMatchObject({ zone: zoneB, attachedTo: nodeB });
    // From a snapshot the move took of the volume in use, not the one the restore used.
    const snaps = await ec2VolumeSnapshots(ec2, lc.state.clusterName).list();
    const moveSnap = snaps.find((x) => x.id === newB.fromSnapshot);
    expect(moveSnap).toMatchObject({ volumeId: fresh, state: "completed" });
    expect(newB.fromSnapshot).not.toBe(snapId);
    const wasInUse = afterMove.find((v) => v.id === fresh)!;
    expect(wasInUse.retired).toMatch(/moved: replaced by/);
    expect(wasInUse.attachedTo).toBeUndefined();
    expect(afterMove.filter((v) => v.instance === "keeper@1")).toHaveLength(3);
    // A repeated move changes nothing.
    const repeated = (await fns.units(moveEvent)) as { volume: { already: string | null } };
    expect(repeated.volume.already).toMatch(new RegExp(`in ${zoneB} already`));
    // A zone with no node is refused, by the event and by the operator's command, with nothing changed.
    const beforeRefusal = JSON.stringify(await ec2Volumes());
    await expect(fns.units({ ...moveEvent, volume: { ...moveEvent.volume, zone: zoneC } })).rejects.toThrow(
      /has no node of this cluster/,
    );
    const refused = await cli("volume", "move", "keeper@1", "--zone", zoneC, "--yes");
    expect(refused.code, refused.stderr).not.toBe(0);
    expect(refused.stderr).toMatch(/has no node of this cluster/);
    expect(JSON.stringify(await ec2Volumes())).toBe(beforeRefusal);

    // Back to the first zone through the operator's command itself. Its sync pushes the deployed
    // catalog, which does not have this unit: the unit stops on its node, and its retired volume
    // stays attached there (a unit not in the catalog has no volume to follow it). The test then
    // pushes its catalog again, as after the kill above, to every node (force): the old node's word
    // that the unit is stopped is what lets the retired volume go (never pulled from under it).
    const back = await cli("volume", "move", "keeper@1", "--zone", zone, "--yes");
    expect(back.code, back.stderr).toBe(0);
    const backReport = JSON.parse(back.stdout) as { volume: { newVolume: string; zone: string } };
    expect(backReport.volume.zone).toBe(zone);
    const inA = backReport.volume.newVolume;
    const repushedBack = (await fns.units({ catalog, force: true })) as { held: unknown[] };
    expect(repushedBack.held).toEqual([]);
    const inAData = join(localVolumeDir(lc.dir, inA), "fs");
    const onA = await pollUntil(
      async () => {
        const n = await runningOn();
        return n && n.zone === zone && existsSync(join(inAData, "starts")) ? n : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(onA, "keeper@1 back in its first zone").toBeDefined();
    expect(readFileSync(join(inAData, "marker"), "utf8")).toBe("before\n");
    const afterBack = await ec2Volumes();
    expect(afterBack.find((v) => v.id === inA)).toMatchObject({ zone, attachedTo: onA!.id });
    expect(afterBack.find((v) => v.id === inB)!.attachedTo).toBeUndefined();
    expect(afterBack.find((v) => v.id === inB)!.retired).toMatch(/moved: replaced by/);
    // No volume of the unit was ever on two nodes, and none was refused a mount.
    const keeperVolumes = afterBack.filter((v) => v.instance === "keeper@1").map((v) => v.id);
    expect(keeperVolumes).toHaveLength(4);
    const ledger2 = readLedger(lc.dir).filter((e) => keeperVolumes.includes(e.volume));
    expect(ledger2.filter((e) => e.op === "refused")).toEqual([]);
    for (const id of keeperVolumes) {
      let on: string | undefined;
      for (const e of ledger2.filter((x) => x.volume === id)) {
        if (e.op === "mount") {
          expect(on, `${e.node} mounted ${id} while ${on} held it`).toBeUndefined();
          on = e.node;
        } else if (e.op === "umount" || e.op === "gone") on = undefined;
      }
    }
    // The extra node leaves (a scale-in of that node through the real API): the cluster is as before.
    const removed = await removeNode(lc.dir, nodeB, progress);
    expect(removed.terminated).toEqual([nodeB]);
    expect((await group()).DesiredCapacity).toBe(g0.DesiredCapacity);
    expect(await nodesIn(zoneB)).toBe(0);
    console.log(
      `volume moved to another zone and back, with the node added and removed: ${((Date.now() - t2) / 1000).toFixed(1)} s`,
    );

    // Without the unit in the catalog it stops (confirmed: it may run on a main node); its volume is kept.
    await fns.units({ catalog: readCatalogDir(), confirm: true });
    expect((await ec2Volumes()).some((v) => v.id === vol.id)).toBe(true);
  }, 540_000);

  it("postgres keeps every committed row when its node is killed: unit and volume move within the zone, no push needed", async () => {
    // Written through the sample client (notes: its ambassador, its password from SSM); a row
    // counts once notes answered 201, which it does only after Postgres committed the INSERT.
    const ready = await pollUntil(
      async () => {
        const s = await status(lc.dir);
        const db = databaseNode(s);
        const at = notesAddress(s);
        return db && at && (await listNotes(at)) ? { db, at } : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1_000 },
    );
    expect(ready, "postgres@1 running and notes answering through its ambassador").toBeDefined();
    const { db: from } = ready!;
    const vol = (await ec2Volumes()).find((v) => v.service === "postgres" && v.instance === "postgres@1")!;
    expect(vol.attachedTo).toBe(from.id);
    expect(vol.zone).toBe(from.zone);
    // presence elected it: the master record names its node's address.
    const master = (await status(lc.dir)).services.find((x) => x.name === "postgres")!;
    expect(master.instances).toEqual([expect.objectContaining({ node: from.id, port: 5432, healthy: true })]);

    const committed = new Map<number, string>();
    for (let i = 0; i < 40; i++) {
      const body = `row ${i} written before the kill of ${from.id}`;
      const id = await addNote(ready!.at, body);
      expect(id, body).toBeDefined();
      committed.set(id!, body);
    }

    // The node dies. Lifecycle handlers sync with the catalog they were deployed with, which holds
    // postgres and notes: nothing is pushed by hand.
    const t0 = Date.now();
    const attachments = new Set<number>();
    await kill(lc.dir, from.id, progress);
    const back = await pollUntil(
      async () => {
        const v = (await ec2Volumes()).filter((x) => x.id === vol.id);
        attachments.add(v.filter((x) => x.attachedTo).length);
        const s = await status(lc.dir);
        const db = databaseNode(s);
        const at = notesAddress(s);
        if (!db || db.id === from.id || !at) return undefined;
        const rows = await listNotes(at);
        return rows ? { db, rows } : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1_000 },
    );
    expect(back, "postgres@1 answering again on another node").toBeDefined();
    console.log(`postgres back after its node was killed: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(back!.db.zone).toBe(from.zone);
    // Every acknowledged row is there, with its text.
    const got = new Map(back!.rows.map((r) => [r.id, r.body]));
    for (const [id, body] of committed) expect(got.get(id), `row ${id}`).toBe(body);
    expect([...attachments].every((n) => n <= 1)).toBe(true);
    expect((await ec2Volumes()).find((v) => v.id === vol.id)!.attachedTo).toBe(back!.db.id);
    // The node stand-ins' ledger: formatted once, no refused mount, never mounted on two nodes at once.
    const ledger = readLedger(lc.dir).filter((e) => e.volume === vol.id);
    expect(ledger.filter((e) => e.op === "mkfs")).toHaveLength(1);
    expect(ledger.filter((e) => e.op === "refused")).toEqual([]);
    let holder: string | undefined;
    for (const e of ledger) {
      if (e.op === "mount") {
        expect(holder, `${e.node} mounted ${vol.id} while ${holder} held it`).toBeUndefined();
        holder = e.node;
      } else if (e.op === "umount" || e.op === "gone") holder = undefined;
    }
    expect(holder).toBe(back!.db.id);
    // And it takes new rows on its new node.
    const after = await addNote(notesAddress(await status(lc.dir))!, "row written after the move");
    expect(after).toBeGreaterThan(Math.max(...committed.keys()));
  }, 600_000);

  it("the operator dumps the database and restores it from the dump: rows written since are gone, the replaced database is kept", async () => {
    // `npx devcluster db ...` on this cluster: node commands to postgres@1's node, its program there
    // reading the bucket as the node role.
    const cli = (...args: string[]) =>
      run("npx", ["tsx", "bin/devcluster.ts", "db", ...args, "--dir", lc.dir], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, DEVCLUSTER_LOG: "silent" },
      });
    const notesNow = async () => {
      const at = notesAddress(await status(lc.dir));
      return at ? listNotes(at) : undefined;
    };
    const before = await pollUntil(notesNow, { timeoutMs: 120_000, intervalMs: 1000 });
    expect(before, "notes answering").toBeDefined();
    const dumped = JSON.parse((await cli("dump", "postgres", "notes", "--json")).stdout) as { key: string };
    expect(dumped.key).toMatch(new RegExp(`^db-dumps/${lc.state.clusterName}/postgres/notes/.+\\.dump$`));
    const listed = JSON.parse((await cli("dumps", "postgres", "notes", "--json")).stdout) as {
      dumps: { key: string }[];
    };
    expect(listed.dumps[0]?.key).toBe(dumped.key);
    const late = await addNote(notesAddress(await status(lc.dir))!, "written after the dump");
    expect(late).toBeDefined();
    // Not confirmed, and no terminal to ask on: refused, nothing changed.
    const refused = await cli("restore", "postgres", "notes", "latest").then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toMatch(
      /not confirmed and no terminal to ask on; nothing was changed \(pass --yes\)/,
    );
    expect((await notesNow())?.map((r) => r.id)).toContain(late);

    const res = JSON.parse(
      (await cli("restore", "postgres", "notes", dumped.key, "--yes", "--json")).stdout,
    ) as {
      aside: string;
      already: boolean;
    };
    expect(res.already).toBe(false);
    expect(res.aside).toMatch(/^notes__before_\d{8}T\d{9}Z$/);
    // notes reaches the restored database on its next request: the rows of the dump, not the later one.
    const restored = await pollUntil(notesNow, { timeoutMs: 60_000, intervalMs: 1000 });
    expect(restored?.map((r) => r.id).sort((a, b) => a - b)).toEqual(
      before!.map((r) => r.id).sort((a, b) => a - b),
    );
    // The replaced database is still there, with the later row, under its aside name.
    const { stdout: ps } = await run("podman", ["ps", "--format", "json"], {
      env: { ...process.env, CONTAINERS_CONF },
    });
    const pg = (JSON.parse(ps || "[]") as { Names: string[]; Labels: Record<string, string> }[]).find(
      (c) =>
        c.Labels["devcluster.name"] === "postgres-1" &&
        (c.Labels["devcluster.root"] ?? "").startsWith(`${lc.dir}/`),
    );
    expect(pg).toBeDefined();
    const { stdout: aside } = await run(
      "podman",
      [
        "exec",
        "-u",
        "postgres",
        pg!.Names[0]!,
        "psql",
        "-X",
        "-tA",
        "-h",
        "/run/postgresql",
        "-p",
        "5432",
        "-d",
        res.aside,
        "-c",
        `SELECT count(*) FROM notes WHERE id = ${late}`,
      ],
      { env: { ...process.env, CONTAINERS_CONF } },
    );
    expect(aside.trim()).toBe("1");
  }, 300_000);

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
