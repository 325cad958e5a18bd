// Units with volumes on the in-memory fakes: volumes created once, in their node's zone, and the
// units held to that zone afterwards; retries and concurrent syncs never make a second volume.
import { describe, expect, it } from "vitest";
import { EMPTY_PLACEMENT, type StoredPlacement } from "../../../functions/domain/units/index.ts";
import { etcdClientUrl, type NodeRecord } from "../../../functions/domain/model.ts";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import { syncUnits, type UnitsDeps } from "../../../functions/operations/units.ts";
import type { PlacementStore } from "../../../functions/ports/units.ts";
import { FakeCommands } from "../../fakes/commands.ts";
import { FakeEtcd, fakeClusterStore } from "../../fakes/clusterStore.ts";
import { FakeVolumes } from "../../fakes/volumes.ts";
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

function zoneOf(p: Record<string, string[]>, unit: string, nodes: NodeRecord[]) {
  return nodes.find((n) => n.instanceId === p[unit]![0])!.zone;
}
