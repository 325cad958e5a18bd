import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import { loadCatalog, placeUnits } from "../../../functions/domain/units/index.ts";
import {
  currentVolume,
  parseVolume,
  planVolumeCreates,
  volumeClientToken,
  volumeNeeds,
  volumeZones,
  type VolumeRecord,
} from "../../../functions/domain/volumes.ts";

const unit = (volumeLines: string[], opts: { name?: string; fleet?: string; extra?: string } = {}) => ({
  [opts.name ?? "db@.service"]: [
    "[Unit]",
    "Description=db",
    "[Service]",
    "ExecStart=/usr/bin/docker run --rm -v /srv/db-%i:/data {{image:hello}}",
    "[X-Fleet]",
    opts.fleet ?? "MachineMetadata=role=worker",
    "[X-Devcluster]",
    ...(opts.name?.includes("@") === false ? [] : ["Instances=2"]),
    ...volumeLines,
    opts.extra ?? "",
  ].join("\n"),
});

const issuesOf = (src: Record<string, string>) => {
  try {
    loadCatalog(src);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    return (e as InvalidInputError).issues;
  }
  throw new Error("catalog was accepted");
};

describe("Volume= in the catalog", () => {
  it("when a unit declares volumes, each instance gets them with its own expanded mount path", () => {
    const c = loadCatalog(unit(["Volume=data:20:/srv/db-%i", "Volume=logs:1:/mnt/db-logs-%i"]));
    expect(c.byName.get("db@1.service")!.volumes).toEqual([
      { name: "data", sizeGiB: 20, path: "/srv/db-1" },
      { name: "logs", sizeGiB: 1, path: "/mnt/db-logs-1" },
    ]);
    expect(c.byName.get("db@2.service")!.volumes[0]!.path).toBe("/srv/db-2");
    expect(volumeNeeds(c.units).map((n) => `${n.service}/${n.instance}/${n.volume}`)).toEqual([
      "db/db@1/data",
      "db/db@1/logs",
      "db/db@2/data",
      "db/db@2/logs",
    ]);
  });

  it("when a unit has volumes, the file a node gets refuses to start it unless each path is mounted", () => {
    const f = loadCatalog(unit(["Volume=data:20:/srv/db-%i"])).files.get("db@.service")!;
    expect(f.rendered).toMatch(/^\[Unit\]\nDescription=db\nAssertPathIsMountPoint=\/srv\/db-%i\n/);
    expect(f.rendered).not.toMatch(/Volume=/);
    const without = loadCatalog(unit([])).files.get("db@.service")!;
    expect(without.rendered).not.toMatch(/AssertPathIsMountPoint/);
    // A changed volume is a changed file: the push re-sends it.
    expect(loadCatalog(unit(["Volume=data:21:/srv/db-%i"])).files.get("db@.service")!.hash).not.toBe(f.hash);
  });

  it.each([
    ["data", /takes <name>:<size GiB>:<mount path>/],
    ["data:20", /takes <name>:<size GiB>:<mount path>/],
    ["data:20:/srv/a:b", /takes <name>:<size GiB>:<mount path>/],
    ["Data:20:/srv/x-%i", /volume name 'Data'/],
    ["data:0:/srv/x-%i", /size must be a whole number of GiB from 1 to 16384, not '0'/],
    ["data:16385:/srv/x-%i", /not '16385'/],
    ["data:1.5:/srv/x-%i", /not '1.5'/],
    ["data:-1:/srv/x-%i", /not '-1'/],
    ["data:20:/var/lib/etcd", /must be a directory under \/srv\/ or \/mnt\//],
    ["data:20:/srv/", /must be a directory under/],
    ["data:20:/srv", /must be a directory under/],
    ["data:20:relative/x", /must be a directory under/],
    ["data:20:/srv/../etc", /must be normalised/],
    ["data:20:/srv/x//y", /must be normalised/],
    ["data:20:/srv/x/", /must be normalised/],
    ["data:20:/srv/x;rm -rf", /may hold only/],
    ["data:20:/srv/$(id)", /may hold only/],
  ])("when Volume=%s, the catalog is refused with a reason at its line", (value, reason) => {
    const issues = issuesOf(unit([`Volume=${value}`]));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^db@\.service:9: /);
    expect(issues[0]).toMatch(reason);
  });

  it("when a mount path is shared by two instances (no %i) or declared twice, every problem is reported", () => {
    const issues = issuesOf(unit(["Volume=data:20:/srv/db", "Volume=data:2:/srv/other"]));
    expect(issues).toEqual([
      "db@.service:10: volume data is declared twice",
      expect.stringMatching(
        /^db@\.service:9: db@2\.service: volume data mounts at \/srv\/db, as db@1\.service \(volume data\) does/,
      ),
    ]);
  });

  it("when a specifier expands into a path outside the rules, the instance is named", () => {
    expect(issuesOf(unit(["Volume=data:20:/srv/%f"]))).toEqual([
      "db@.service:9: db@1.service: volume data: mount path '/srv//1' must be normalised (no empty, '.' or '..' segment, no trailing '/')",
      "db@.service:9: db@2.service: volume data: mount path '/srv//2' must be normalised (no empty, '.' or '..' segment, no trailing '/')",
    ]);
  });

  it("when a Global unit or a sidecar declares a volume, it is refused (a volume belongs to one instance)", () => {
    const g = issuesOf(unit(["Volume=data:20:/srv/g"], { name: "g.service", fleet: "Global=true" }));
    expect(g).toEqual([
      "g.service:8: a volume belongs to one service instance: a Global unit cannot have Volume=",
    ]);
  });

  it("parses a good value and refuses a bad one without throwing", () => {
    expect(parseVolume("data:20:/srv/db-%i")).toEqual({ name: "data", sizeGiB: 20, path: "/srv/db-%i" });
    expect(typeof parseVolume("data:20:/etc")).toBe("string");
  });
});

const vol = (over: Partial<VolumeRecord>): VolumeRecord => ({
  id: "vol-1",
  service: "db",
  instance: "db@1",
  volume: "data",
  zone: "z-a",
  sizeGiB: 20,
  state: "available",
  createdAt: "2026-01-01T00:00:00.000Z",
  ...over,
});

describe("volumes and placement", () => {
  const catalog = loadCatalog(unit(["Volume=data:20:/srv/db-%i"]));
  const needs = volumeNeeds(catalog.units);
  const nodes = [
    { id: "i-a1", role: "worker", zone: "z-a", healthy: true },
    { id: "i-a2", role: "worker", zone: "z-a", healthy: true },
    { id: "i-b1", role: "worker", zone: "z-b", healthy: true },
  ];

  it("when a volume exists, its unit is placed only in the volume's zone", () => {
    const { zones } = volumeZones(needs, [
      vol({ instance: "db@1", zone: "z-b" }),
      vol({ id: "vol-2", instance: "db@2", zone: "z-b" }),
    ]);
    expect(zones).toEqual({ "db@1.service": "z-b", "db@2.service": "z-b" });
    const r = placeUnits(nodes, catalog.units, {}, { zones });
    expect(r.placement).toEqual({ "db@1.service": ["i-b1"], "db@2.service": ["i-b1"] });
  });

  it("when a unit runs outside its volume's zone, it moves into the zone", () => {
    const r = placeUnits(
      nodes,
      catalog.units,
      { "db@1.service": ["i-a1"] },
      { zones: { "db@1.service": "z-b" } },
    );
    expect(r.placement["db@1.service"]).toEqual(["i-b1"]);
    expect(r.moves).toContainEqual({ unit: "db@1.service", from: ["i-a1"], to: ["i-b1"] });
  });

  it("when no healthy node is in the volume's zone, the unit stays unplaced with the reason", () => {
    const r = placeUnits(
      nodes.filter((n) => n.zone === "z-a"),
      catalog.units,
      { "db@1.service": ["i-b1"] },
      { zones: { "db@1.service": "z-b" } },
    );
    expect(r.placement["db@1.service"]).toBeUndefined();
    expect(r.placement["db@2.service"]).toHaveLength(1);
    expect(r.unplaceable).toEqual([
      {
        unit: "db@1.service",
        reason: expect.stringMatching(/2 are outside zone z-b, where its volumes are/),
      },
    ]);
  });

  it("creates each placed unit's missing volume once, in its node's zone; existing and retired ones count right", () => {
    const placement = { "db@1.service": ["i-a1"], "db@2.service": ["i-b1"] };
    const zoneOf = new Map(nodes.map((n) => [n.id, n.zone]));
    expect(planVolumeCreates(needs, [], placement, zoneOf).map((c) => `${c.instance}@${c.zone}`)).toEqual([
      "db@1@z-a",
      "db@2@z-b",
    ]);
    expect(
      planVolumeCreates(needs, [vol({ zone: "z-a" })], placement, zoneOf).map((c) => c.instance),
    ).toEqual(["db@2"]);
    // A retired volume (kept after a move or a restore) is not the current one.
    expect(
      planVolumeCreates(needs, [vol({ retired: "moved" })], { "db@1.service": ["i-a1"] }, zoneOf),
    ).toHaveLength(1);
    // Nothing placed, nothing created.
    expect(planVolumeCreates(needs, [], {}, zoneOf)).toEqual([]);
  });

  it("picks the oldest live volume when two exist, and reports volumes split across zones", () => {
    const older = vol({ id: "vol-old", createdAt: "2026-01-01T00:00:00.000Z", zone: "z-a" });
    const newer = vol({ id: "vol-new", createdAt: "2026-02-01T00:00:00.000Z", zone: "z-b" });
    expect(currentVolume([newer, older], needs[0]!)?.id).toBe("vol-old");
    expect(currentVolume([vol({ state: "deleting" })], needs[0]!)).toBeUndefined();
    const two = loadCatalog(unit(["Volume=data:20:/srv/db-%i", "Volume=logs:1:/srv/db-logs-%i"]));
    const z = volumeZones(volumeNeeds(two.units), [
      vol({ zone: "z-a" }),
      vol({ id: "vol-9", volume: "logs", zone: "z-b" }),
    ]);
    expect(z.split).toEqual([{ unit: "db@1.service", zones: ["z-a", "z-b"] }]);
    expect(z.zones).toEqual({});
  });

  it("derives one creation token per cluster and volume, within EC2's 64 characters", () => {
    const k = { service: "db", instance: "db@1", volume: "data" };
    expect(volumeClientToken("dev", k)).toBe(volumeClientToken("dev", { ...k }));
    expect(volumeClientToken("dev", k)).not.toBe(volumeClientToken("prod", k));
    expect(volumeClientToken("dev", k)).not.toBe(volumeClientToken("dev", { ...k, instance: "db@2" }));
    expect(volumeClientToken("dev", k).length).toBeLessThanOrEqual(64);
  });
});
