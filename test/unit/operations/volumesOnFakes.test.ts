// Units with volumes on the in-memory fakes: volumes created once, in their node's zone, and the
// units held to that zone afterwards; retries and concurrent syncs never make a second volume.
import { describe, expect, it } from "vitest";
import { EMPTY_PLACEMENT, type StoredPlacement } from "../../../functions/domain/units/index.ts";
import { etcdClientUrl, type NodeRecord } from "../../../functions/domain/model.ts";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import { runVolumes, syncUnits, type UnitsDeps } from "../../../functions/operations/units.ts";
import type { PlacementStore } from "../../../functions/ports/units.ts";
import { FakeCommands, type NodeBehaviour } from "../../fakes/commands.ts";
import { FakeEtcd, fakeClusterStore } from "../../fakes/clusterStore.ts";
import { FakeVolumeSnapshots, FakeVolumes } from "../../fakes/volumes.ts";
import { quietLog } from "../../fakes/world.ts";

const DB = [
  "[Unit]",
  "Description=db",
  "[Service]",
  "ExecStart=/usr/bin/docker run --rm -v /srv/db-%i:/data {{image:hello}}",
  "[X-Fleet]",
  "MachineMetadata=role=worker",
  "Conflicts=db@*.service",
  "[X-Devcluster]",
  "Instances=2",
  "Volume=data:20:/srv/db-%i",
].join("\n");

const node = (instanceId: string, zone: string, state: NodeRecord["state"] = "active"): NodeRecord => ({
  instanceId,
  role: "worker",
  zone,
  group: "g-worker",
  privateIp: "127.0.0.1",
  state,
  updatedAt: "",
});

function memoryPlacements(): PlacementStore & { state: StoredPlacement } {
  let revision = 0;
  const s = {
    state: { ...EMPTY_PLACEMENT },
    async load() {
      return { state: structuredClone(s.state), revision: String(revision) };
    },
    async save(next: StoredPlacement, rev: string) {
      if (rev !== String(revision)) return false;
      s.state = structuredClone(next);
      revision++;
      return true;
    },
  };
  return s;
}

function world(nodes: NodeRecord[], opts: { clientToken?: boolean } = {}) {
  const volumes = new FakeVolumes("dev", opts.clientToken ?? true);
  const etcd = new FakeEtcd([{ name: "i-main", ip: "127.0.0.9" }]);
  const store = fakeClusterStore(etcd, [etcdClientUrl("127.0.0.9")]);
  const placements = memoryPlacements();
  const commands = new FakeCommands();
  const deps: UnitsDeps = {
    log: quietLog,
    nodes: { listNodes: async () => nodes },
    placements,
    commands,
    catalog: () => ({ "db@.service": DB }),
    volumes: { store: volumes, lock: () => store.tryLock("volumes", "t", { ttlSeconds: 30, waitMs: 5_000 }) },
  };
  return { deps, volumes, placements, commands, nodes };
}

describe("units with volumes, on fakes", () => {
  it("when a unit with a volume is first placed, its volume is created once in its node's zone, before the push", async () => {
    const w = world([node("i-a", "z-a"), node("i-b", "z-b")]);
    let createdBeforePush = 0;
    w.commands.answer(() => {
      createdBeforePush = w.volumes.volumes.size;
      return { status: "Success", exitCode: 0, stdout: "", stderr: "" };
    });
    const r = await syncUnits(w.deps);
    expect(createdBeforePush).toBe(2);
    const vols = await w.volumes.list();
    expect(vols.map((v) => `${v.instance}:${v.zone}:${v.sizeGiB}`).sort()).toEqual(
      [
        `db@1:${zoneOf(r.placement, "db@1.service", w.nodes)}:20`,
        `db@2:${zoneOf(r.placement, "db@2.service", w.nodes)}:20`,
      ].sort(),
    );
    expect(r.volumesCreated).toHaveLength(2);

    // Again, and forced: nothing new.
    const again = await syncUnits(w.deps, { force: true });
    expect(again.volumesToCreate).toEqual([]);
    expect(w.volumes.volumes.size).toBe(2);
    expect(again.volumeZones).toEqual({
      "db@1.service": zoneOf(r.placement, "db@1.service", w.nodes),
      "db@2.service": zoneOf(r.placement, "db@2.service", w.nodes),
    });
  });

  it("when the node of a unit with a volume leaves, the unit goes to a node of the same zone, or stays pending", async () => {
    const w = world([node("i-a1", "z-a"), node("i-b1", "z-b")]);
    await syncUnits(w.deps);
    const before = w.placements.state.placement;
    const onA = Object.keys(before).find((u) => before[u]![0] === "i-a1")!;
    // Only a node of the other zone can take it: it stays pending, with the reason.
    const pending = await syncUnits(w.deps, { terminating: "i-a1" });
    expect(pending.placement[onA]).toBeUndefined();
    expect(pending.unplaceable).toEqual([
      { unit: onA, reason: expect.stringMatching(/outside zone z-a, where its volumes are/) },
    ]);
    expect(w.volumes.volumes.size).toBe(2);
    // A node joins in z-a: the unit comes back there; no volume is created.
    w.nodes.find((n) => n.instanceId === "i-a1")!.state = "gone";
    w.nodes.push(node("i-a2", "z-a"));
    const back = await syncUnits(w.deps);
    expect(back.placement[onA]).toEqual(["i-a2"]);
    expect(back.volumesCreated).toEqual([]);
    expect(w.volumes.volumes.size).toBe(2);
  });

  it("when syncs run concurrently or a create is retried, each volume exists once", async () => {
    // Without the creation token (as in moto), only the volumes lock and the listing under it keep
    // five concurrent syncs from each creating its own volumes.
    const w = world([node("i-a", "z-a"), node("i-b", "z-b")], { clientToken: false });
    await Promise.allSettled(Array.from({ length: 5 }, () => syncUnits(w.deps)));
    expect(w.volumes.volumes.size).toBe(2);
    expect(w.volumes.creates).toBe(2);
    // On EC2, a create retried after a lost answer returns the first volume (the creation token).
    const ec2 = new FakeVolumes("dev");
    const first = await ec2.create({
      unit: "db@1.service",
      service: "db",
      instance: "db@1",
      volume: "data",
      sizeGiB: 20,
      path: "/srv/db-1",
      zone: "z-a",
    });
    const retried = await ec2.create({
      unit: "db@1.service",
      service: first.service,
      instance: first.instance,
      volume: first.volume,
      sizeGiB: 20,
      path: "/srv/db-1",
      zone: first.zone,
    });
    expect(retried.id).toBe(first.id);
    expect(ec2.volumes.size).toBe(1);
  });

  it("when the run is a dry run, it lists the volumes it would create and creates none", async () => {
    const w = world([node("i-a", "z-a")]);
    const r = await syncUnits(w.deps, { dryRun: true });
    expect(r.volumesToCreate.map((c) => `${c.instance}/${c.volume}@${c.zone}`)).toEqual(["db@1/data@z-a"]);
    expect(w.volumes.creates).toBe(0);
    expect(w.commands.requests).toEqual([]);
  });

  it("when a volume spec is bad, the sync fails before anything is created or pushed", async () => {
    const w = world([node("i-a", "z-a")]);
    w.deps.catalog = () => ({ "db@.service": DB.replace("data:20:", "data:99999:") });
    await expect(syncUnits(w.deps)).rejects.toBeInstanceOf(InvalidInputError);
    expect(w.volumes.creates).toBe(0);
    expect(w.commands.requests).toEqual([]);
    expect(w.placements.state).toEqual(EMPTY_PLACEMENT);
  });
});

/**
 * Nodes that answer a push as the push script does, reading their part of it: units that left are
 * stopped and their volumes unmounted; a placed unit's volumes are mounted (only when attached to
 * that node in the fake EC2) before it starts. Every mount is checked: never one volume on two nodes.
 */
function simulatedNodes(volumes: FakeVolumes) {
  const running = new Map<string, Set<string>>();
  const mounted = new Map<string, Map<string, string>>(); // node -> volume -> unit
  const violations: string[] = [];
  const pushes: { node: string; attachedAtPush: Record<string, string | undefined> }[] = [];
  const behaviour: NodeBehaviour = (req, id) => {
    const line = req.script.split("\n").find((l) => l.startsWith(`  '${id}') units=(`))!;
    const list = (name: string) =>
      [...(line.match(new RegExp(`${name}=\\(([^)]*)\\)`))?.[1] ?? "").matchAll(/'([^']*)'/g)].map(
        (m) => m[1]!,
      );
    const units = list("units");
    const mounts = list("mounts").map((m) => m.split("|") as [string, string, string, string]);
    const run = running.get(id) ?? new Set<string>();
    const mine = mounted.get(id) ?? new Map<string, string>();
    running.set(id, run);
    mounted.set(id, mine);
    pushes.push({
      node: id,
      attachedAtPush: Object.fromEntries(
        mounts.map(([, vol]) => [vol, volumes.volumes.get(vol)?.attachedTo]),
      ),
    });
    for (const u of [...run]) if (!units.includes(u)) run.delete(u);
    for (const [vol, u] of [...mine]) if (!run.has(u) && !units.includes(u)) mine.delete(vol);
    const failed: string[] = [];
    for (const u of units) {
      const own = mounts.filter(([mu]) => mu === u);
      const ok = own.every(([, vol]) => volumes.volumes.get(vol)?.attachedTo === id);
      if (!ok) {
        failed.push(u);
        continue;
      }
      for (const [, vol] of own) {
        for (const [other, m] of mounted)
          if (other !== id && m.has(vol) && volumes.instances.get(other) !== "terminated")
            violations.push(`${vol} on ${other} and ${id}`);
        mine.set(vol, u);
      }
      run.add(u);
    }
    const out = { instanceId: id, ok: !failed.length, units, failed, mounted: [...mine.keys()] };
    return {
      status: failed.length ? "Failed" : "Success",
      exitCode: failed.length ? 1 : 0,
      stdout: `DEVCLUSTER_UNITS ${JSON.stringify(out)}\n`,
      stderr: "",
    };
  };
  return { behaviour, running, mounted, violations, pushes };
}

const ONE = DB.replace("Instances=2", "Instances=1");

/** Two live nodes in one zone and the unit pinned to i-a1 (`pinned(id)` pins it elsewhere), synced once. */
async function runningOnA1() {
  const w = world([node("i-a1", "z-a"), node("i-a2", "z-a")]);
  for (const n of w.nodes) w.volumes.instances.set(n.instanceId, "running");
  const pinned = (id: string) => ONE.replace("Conflicts=db@*.service", `MachineID=${id}`);
  w.deps.catalog = () => ({ "db@.service": pinned("i-a1") });
  const sim = simulatedNodes(w.volumes);
  w.commands.answer(sim.behaviour);
  await syncUnits(w.deps);
  return { w, sim, pinned };
}

describe("volumes that follow their unit, on fakes", () => {
  it("when a unit with a volume is placed, its volume is attached to that node before the push that starts it", async () => {
    const w = world([node("i-a", "z-a"), node("i-b", "z-b")]);
    const sim = simulatedNodes(w.volumes);
    w.commands.answer(sim.behaviour);
    const r = await syncUnits(w.deps);
    expect(r.failed).toEqual([]);
    expect(r.held).toEqual([]);
    for (const v of w.volumes.volumes.values()) {
      const unit = `${v.instance}.service`;
      expect(v.attachedTo).toBe(r.placement[unit]![0]);
      expect(sim.running.get(v.attachedTo!)?.has(unit)).toBe(true);
    }
    // Each push that carried a mount found the volume already attached to its node.
    const seen = sim.pushes.flatMap((p) => Object.values(p.attachedAtPush).map((at) => at === p.node));
    expect(seen).toEqual([true, true]);
    expect(r.volumeActions.map((a) => a.kind)).toEqual(["attach", "attach"]);
    // Again: nothing to attach or detach.
    const again = await syncUnits(w.deps, { force: true });
    expect(again.volumeActions).toEqual([]);
  });

  it("when the unit's node is terminated, its volume follows the unit to a node of the same zone in one sync", async () => {
    const w = world([node("i-a1", "z-a"), node("i-a2", "z-a"), node("i-b1", "z-b")]);
    w.deps.catalog = () => ({ "db@.service": ONE });
    const sim = simulatedNodes(w.volumes);
    w.commands.answer(sim.behaviour);
    for (const n of w.nodes) w.volumes.instances.set(n.instanceId, "running");
    const first = await syncUnits(w.deps);
    const from = first.placement["db@1.service"]![0]!;
    const zone = w.nodes.find((n) => n.instanceId === from)!.zone;
    // The node dies: EC2 says terminated, the terminate event re-places its units.
    w.volumes.instances.set(from, "terminated");
    w.commands.gone.add(from);
    const r = await syncUnits(w.deps, { terminating: from });
    const to = r.placement["db@1.service"]![0]!;
    expect(to).not.toBe(from);
    expect(w.nodes.find((n) => n.instanceId === to)!.zone).toBe(zone);
    expect(r.volumeActions.map((a) => `${a.kind}:${a.kind === "detach" ? a.reason : a.to}`)).toEqual([
      "detach:node-gone",
      `attach:${to}`,
    ]);
    expect([...w.volumes.volumes.values()][0]!.attachedTo).toBe(to);
    expect(sim.running.get(to)?.has("db@1.service")).toBe(true);
    expect(r.held).toEqual([]);
    expect(sim.violations).toEqual([]);
  });

  it("when the unit's node is unreachable but still running, the volume stays there and the unit waits", async () => {
    const w = world([node("i-a1", "z-a"), node("i-a2", "z-a")]);
    w.deps.catalog = () => ({ "db@.service": ONE });
    const sim = simulatedNodes(w.volumes);
    w.commands.answer(sim.behaviour);
    for (const n of w.nodes) w.volumes.instances.set(n.instanceId, "running");
    const from = (await syncUnits(w.deps)).placement["db@1.service"]![0]!;
    const other = w.nodes.find((n) => n.instanceId !== from)!.instanceId;
    // Its terminate hook came, but the instance still runs (and may run the unit): never detached.
    w.commands.gone.add(from);
    const r = await syncUnits(w.deps, { terminating: from });
    expect(r.placement["db@1.service"]).toEqual([other]);
    expect(r.held).toEqual([
      {
        unit: "db@1.service",
        reason: expect.stringMatching(/attached to .*which has not reported the unit stopped/),
      },
    ]);
    expect(r.volumeActions).toEqual([]);
    expect([...w.volumes.volumes.values()][0]!.attachedTo).toBe(from);
    expect(sim.running.get(other)?.has("db@1.service") ?? false).toBe(false);
    // The node it goes to is pushed again next time; once EC2 says terminated, the volume follows.
    expect(w.placements.state.pending).toContain(other);
    w.volumes.instances.set(from, "terminated");
    w.nodes.find((n) => n.instanceId === from)!.state = "gone";
    const later = await syncUnits(w.deps);
    expect(later.held).toEqual([]);
    expect([...w.volumes.volumes.values()][0]!.attachedTo).toBe(other);
    expect(sim.running.get(other)?.has("db@1.service")).toBe(true);
    expect(w.placements.state.pending).toEqual([]);
    expect(sim.violations).toEqual([]);
  });

  it("when a unit moves off a live node, that node stops it and unmounts first, then the volume follows in the same sync", async () => {
    const { w, sim, pinned } = await runningOnA1();
    expect(sim.running.get("i-a1")?.has("db@1.service")).toBe(true);
    w.deps.catalog = () => ({ "db@.service": pinned("i-a2") });
    const r = await syncUnits(w.deps);
    expect(r.placement["db@1.service"]).toEqual(["i-a2"]);
    expect(r.volumeActions.map((a) => `${a.kind}:${a.kind === "detach" ? a.reason : a.to}`)).toEqual([
      "detach:unit-stopped",
      "attach:i-a2",
    ]);
    expect(sim.running.get("i-a1")?.has("db@1.service")).toBe(false);
    expect(sim.running.get("i-a2")?.has("db@1.service")).toBe(true);
    expect(r.held).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(w.placements.state.pending).toEqual([]);
    expect(sim.violations).toEqual([]);
  });

  it("when the old node fails to stop the unit, its volume stays there and the unit waits", async () => {
    const { w, sim, pinned } = await runningOnA1();
    const vol = [...w.volumes.volumes.keys()][0]!;
    // i-a1 answers that the volume is still mounted (its unit did not stop).
    w.commands.answer((req, id) => {
      const a = sim.behaviour(req, id);
      if (id !== "i-a1") return a;
      const j = JSON.parse(a.stdout.slice("DEVCLUSTER_UNITS ".length)) as Record<string, unknown>;
      return { ...a, stdout: `DEVCLUSTER_UNITS ${JSON.stringify({ ...j, ok: false, mounted: [vol] })}\n` };
    });
    w.deps.catalog = () => ({ "db@.service": pinned("i-a2") });
    const r = await syncUnits(w.deps);
    expect(r.volumeActions).toEqual([]);
    expect(w.volumes.volumes.get(vol)!.attachedTo).toBe("i-a1");
    expect(r.held.map((h) => h.unit)).toEqual(["db@1.service"]);
    expect(sim.running.get("i-a2")?.has("db@1.service") ?? false).toBe(false);
  });
});

function zoneOf(p: Record<string, string[]>, unit: string, nodes: NodeRecord[]) {
  return nodes.find((n) => n.instanceId === p[unit]![0])!.zone;
}

describe("restore and move of a unit's volume, on fakes", () => {
  /** runningOnA1 with snapshots, and each detach recorded with what its node ran at that moment. */
  async function withSnapshots() {
    const r = await runningOnA1();
    const snapshots = new FakeVolumeSnapshots(r.w.volumes);
    r.w.deps.volumeSnapshots = { store: snapshots, cluster: "dev" };
    const detachedWhileRunning: string[] = [];
    const detach = r.w.volumes.detach.bind(r.w.volumes);
    r.w.volumes.detach = async (id, from) => {
      if (r.sim.running.get(from)?.has("db@1.service")) detachedWhileRunning.push(`${id} from ${from}`);
      return detach(id, from);
    };
    return { ...r, snapshots, detachedWhileRunning };
  }

  it("restore: the unit is stopped before the old volume leaves, then runs on the new one; the old is kept, retired", async () => {
    const { w, sim, snapshots, detachedWhileRunning } = await withSnapshots();
    const old = [...w.volumes.volumes.values()][0]!;
    const taken = (await runVolumes(w.deps, { volume: { action: "snapshot" } })).volume;
    expect(taken).toMatchObject({ action: "snapshot", taken: [{ volumeId: old.id }] });
    const snap = [...snapshots.snapshots.keys()][0]!;
    const dry = await runVolumes(w.deps, {
      volume: { action: "restore", target: "db@1", snapshot: snap, dryRun: true },
    });
    expect(dry.volume).toMatchObject({
      dryRun: true,
      current: { id: old.id, node: "i-a1" },
      snapshot: { id: snap },
    });
    expect(w.volumes.volumes.size).toBe(1);
    const r = await runVolumes(w.deps, { volume: { action: "restore", target: "db@1", snapshot: snap } });
    const made = (r.volume as { newVolume: string }).newVolume;
    expect(w.volumes.volumes.get(old.id)).toMatchObject({
      state: "available",
      retired: expect.stringMatching(/restored: replaced by/),
    });
    expect(w.volumes.volumes.get(old.id)!.attachedTo).toBeUndefined();
    expect(w.volumes.volumes.get(made)).toMatchObject({ attachedTo: "i-a1", fromSnapshot: snap });
    expect(sim.running.get("i-a1")?.has("db@1.service")).toBe(true);
    expect(sim.mounted.get("i-a1")?.get(made)).toBe("db@1.service");
    expect(sim.mounted.get("i-a1")?.has(old.id)).toBe(false);
    expect(r.sync?.held).toEqual([]);
    expect(detachedWhileRunning).toEqual([]);
    expect(sim.violations).toEqual([]);
    // Again with the same snapshot: nothing new.
    const again = await runVolumes(w.deps, { volume: { action: "restore", target: "db@1", snapshot: snap } });
    expect(again.volume).toMatchObject({ already: expect.stringMatching(/made from/) });
    expect(w.volumes.volumes.size).toBe(2);
  });

  it("restore refuses an unknown, incomplete or other volume's snapshot with nothing changed", async () => {
    const { w, snapshots } = await withSnapshots();
    const slow = new FakeVolumeSnapshots(w.volumes, false);
    w.deps.volumeSnapshots = { store: slow, cluster: "dev" };
    const pending = await slow.create([...w.volumes.volumes.values()][0]!);
    const before = JSON.stringify([...w.volumes.volumes.values()]);
    const bad = async (volume: unknown) => {
      await expect(runVolumes(w.deps, { volume })).rejects.toBeInstanceOf(InvalidInputError);
      expect(JSON.stringify([...w.volumes.volumes.values()])).toBe(before);
    };
    await bad({ action: "restore", target: "db@1", snapshot: pending.id });
    await bad({ action: "restore", target: "db@1", snapshot: "snap-00000000000000bad" });
    await bad({ action: "restore", target: "db@1", snapshot: "latest" }); // none completed
    await bad({ action: "restore", target: "nope@1", snapshot: "latest" });
    await bad({ action: "restore", target: "db@1" });
    await bad({ action: "restore", target: "db@1", snapshot: "latest", zone: "us-east-1b" });
    await bad({ action: "format", target: "db@1" });
    await expect(runVolumes(w.deps, { volume: { action: "snapshot" }, force: true })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    // A catalog beside a swap is checked as a units event's is (no key read as an empty catalog).
    await expect(
      runVolumes(
        w.deps,
        JSON.parse(
          '{"volume":{"action":"restore","target":"db@1","snapshot":"latest"},"catalog":{"__proto__":"x"}}',
        ),
      ),
    ).rejects.toThrow(/not a unit file name/);
    expect(JSON.stringify([...w.volumes.volumes.values()])).toBe(before);
    expect(snapshots.snapshots.size).toBe(0);
  });

  it("move: a snapshot now, a volume from it in the other zone, and the unit placed there", async () => {
    const w = world([node("i-a1", "z-a"), node("i-b1", "z-b")]);
    for (const n of w.nodes) w.volumes.instances.set(n.instanceId, "running");
    w.deps.catalog = () => ({ "db@.service": ONE });
    const sim = simulatedNodes(w.volumes);
    w.commands.answer(sim.behaviour);
    const from = (await syncUnits(w.deps)).placement["db@1.service"]![0]!;
    const [fromZone, toZone, to] = from === "i-a1" ? ["z-a", "z-b", "i-b1"] : ["z-b", "z-a", "i-a1"];
    const snapshots = new FakeVolumeSnapshots(w.volumes);
    w.deps.volumeSnapshots = { store: snapshots, cluster: "dev" };
    await expect(
      runVolumes(w.deps, { volume: { action: "move", target: "db@1", zone: "us-east-9z" } }),
    ).rejects.toThrow(/has no node/);
    const old = [...w.volumes.volumes.values()][0]!;
    expect(old.zone).toBe(fromZone);
    const r = await runVolumes(w.deps, { volume: { action: "move", target: "db/db@1/data", zone: toZone } });
    const made = (r.volume as { newVolume: string }).newVolume;
    expect(w.volumes.volumes.get(made)).toMatchObject({ zone: toZone, attachedTo: to });
    expect(w.volumes.volumes.get(old.id)).toMatchObject({ retired: expect.stringMatching(/moved/) });
    expect(w.volumes.volumes.get(old.id)!.attachedTo).toBeUndefined();
    expect(r.sync?.placement["db@1.service"]).toEqual([to]);
    expect(sim.running.get(to)?.has("db@1.service")).toBe(true);
    expect(sim.running.get(from)?.has("db@1.service")).toBe(false);
    expect(sim.violations).toEqual([]);
    const again = await runVolumes(w.deps, { volume: { action: "move", target: "db@1", zone: toZone } });
    expect(again.volume).toMatchObject({ already: expect.stringMatching(/already/) });
    expect(w.volumes.volumes.size).toBe(2);
  });
});
