// The pure parts of volume snapshots: retention, the newest usable snapshot, naming a volume, the
// swap plan's refusals and its reuse of an interrupted run, and the fence around a retired volume.
import { describe, expect, it } from "vitest";
import {
  latestSnapshot,
  planRetention,
  planSwap,
  resolveVolumeTarget,
  type VolumeSnapshotRecord,
} from "../../../functions/domain/volumeSnapshots.ts";
import { currentVolume, type VolumeRecord } from "../../../functions/domain/volumes.ts";
import { planAttachments } from "../../../functions/domain/volumeAttachments.ts";

const key = { service: "db", instance: "db@1", volume: "data" };
const vol = (id: string, over: Partial<VolumeRecord> = {}): VolumeRecord => ({
  id,
  ...key,
  zone: "z-a",
  sizeGiB: 2,
  state: "available",
  createdAt: `2026-01-01T00:00:0${id.slice(-1)}.000Z`,
  ...over,
});
const day = (d: number) => new Date(Date.UTC(2026, 0, d)).toISOString();
const snap = (n: number, d: number, over: Partial<VolumeSnapshotRecord> = {}): VolumeSnapshotRecord => ({
  id: `snap-${n.toString(16).padStart(8, "0")}`,
  ...key,
  volumeId: "vol-1",
  state: "completed",
  startedAt: day(d),
  sizeGiB: 2,
  ...over,
});

describe("planRetention", () => {
  const now = new Date(Date.UTC(2026, 1, 15)); // day 46
  it("deletes only snapshots beyond the last N and older than the max age", () => {
    const snaps = Array.from({ length: 12 }, (_, i) => snap(i + 1, i + 1)); // days 1..12, all > 30 days old
    const del = planRetention(snaps, { keepLast: 7, maxAgeDays: 30 }, now).map((s) => s.id);
    expect(del).toEqual(snaps.slice(0, 5).map((s) => s.id));
  });
  it("keeps every snapshot younger than the max age, however many", () => {
    const snaps = Array.from({ length: 12 }, (_, i) => snap(i + 1, 40 + (i % 5)));
    expect(planRetention(snaps, { keepLast: 2, maxAgeDays: 30 }, now)).toEqual([]);
  });
  it("never deletes a volume's newest completed snapshot, a pending one, or counts another volume's", () => {
    const snaps = [
      snap(1, 1, { volumeId: "vol-old" }), // the only one of a retired volume: kept
      snap(2, 2),
      snap(3, 3),
      snap(4, 4, { state: "pending" }),
      snap(5, 5, { service: "web", instance: "web@1" }),
    ];
    const del = planRetention(snaps, { keepLast: 1, maxAgeDays: 1 }, now).map((s) => s.id);
    expect(del).toEqual([snap(2, 2).id]);
  });
  it("refuses a policy that would keep nothing", () => {
    expect(() => planRetention([], { keepLast: 0, maxAgeDays: 30 }, now)).toThrow(/keepLast/);
    expect(() => planRetention([], { keepLast: 3, maxAgeDays: 0 }, now)).toThrow(/maxAgeDays/);
  });
});

describe("latestSnapshot and resolveVolumeTarget", () => {
  it("the newest completed snapshot of the service volume, of any source volume", () => {
    const snaps = [snap(1, 1), snap(2, 3, { volumeId: "vol-2" }), snap(3, 4, { state: "pending" })];
    expect(latestSnapshot(snaps, key)?.id).toBe(snap(2, 3).id);
    expect(latestSnapshot(snaps, { ...key, volume: "logs" })).toBeUndefined();
  });
  it("names a volume by key or by a unit with one volume; refuses the rest clearly", () => {
    const vols = [
      vol("vol-1"),
      vol("vol-2", { instance: "two@1", service: "two", volume: "a" }),
      vol("vol-3", { instance: "two@1", service: "two", volume: "b" }),
    ];
    expect(resolveVolumeTarget("db/db@1/data", vols)).toEqual(key);
    expect(resolveVolumeTarget("db@1.service", vols)).toEqual(key);
    expect(resolveVolumeTarget("db@1", vols)).toEqual(key);
    expect(resolveVolumeTarget("two@1", vols)).toMatch(/2 volumes \(a, b\)/);
    expect(resolveVolumeTarget("db/db@1/logs", vols)).toMatch(/no volume db\/db@1\/logs/);
    expect(resolveVolumeTarget("x@9", vols)).toMatch(/no volume/);
    expect(resolveVolumeTarget("a b; rm -rf /", vols)).toMatch(/is not a volume/);
  });
});

describe("planSwap", () => {
  const vols = [vol("vol-1")];
  const snaps = [
    snap(1, 1),
    snap(2, 2, { state: "pending" }),
    snap(3, 3, { service: "web", instance: "web@1" }),
  ];
  it("refuses an unknown, foreign, other volume's or incomplete snapshot, and a bad id", () => {
    const p = (snapshot: string) => planSwap({ key, volumes: vols, snapshots: snaps, snapshot });
    expect(p("snap-0000000000000beef")).toMatch(/not a snapshot of this cluster/);
    expect(p(snap(3, 3).id)).toMatch(/is of volume web\/web@1\/data/);
    expect(p(snap(2, 2).id)).toMatch(/is pending, not completed/);
    expect(p("vol-1")).toMatch(/not a snapshot id/);
    expect(planSwap({ key, volumes: vols, snapshots: [], snapshot: "latest" })).toMatch(
      /no completed snapshot/,
    );
    expect(
      planSwap({ key: { ...key, volume: "x" }, volumes: vols, snapshots: snaps, snapshot: "latest" }),
    ).toMatch(/no volume/);
  });
  it("plans the newest completed one for latest, in the current zone or the one given", () => {
    expect(planSwap({ key, volumes: vols, snapshots: snaps, snapshot: "latest" })).toMatchObject({
      current: { id: "vol-1" },
      snapshot: { id: snap(1, 1).id },
      zone: "z-a",
    });
    expect(planSwap({ key, volumes: vols, snapshots: snaps, snapshot: "latest", zone: "z-b" })).toMatchObject(
      { zone: "z-b" },
    );
  });
  it("reuses what an interrupted run made, before and after its promotion, and is done once swapped", () => {
    const id = snap(1, 1).id;
    const pending = vol("vol-2", { replaces: "vol-1", fromSnapshot: id });
    expect(planSwap({ key, volumes: [...vols, pending], snapshots: snaps, snapshot: id })).toMatchObject({
      made: { id: "vol-2" },
    });
    const promoted = vol("vol-2", { fromSnapshot: id });
    // Promoted but the old one not yet retired: the old one is still the one in use.
    expect(currentVolume([...vols, promoted], key)?.id).toBe("vol-1");
    expect(planSwap({ key, volumes: [...vols, promoted], snapshots: snaps, snapshot: id })).toMatchObject({
      made: { id: "vol-2" },
    });
    const swapped = [vol("vol-1", { retired: "x" }), promoted];
    expect(planSwap({ key, volumes: swapped, snapshots: snaps, snapshot: id })).toMatchObject({ done: true });
  });
});

describe("planAttachments around a retired volume", () => {
  const needs = [{ unit: "db@1.service", ...key, sizeGiB: 2, path: "/srv/db-1" }];
  const volumes = [
    vol("vol-1", {
      retired: "x",
      state: "in-use",
      attachedTo: "i-a",
      device: "/dev/xvdf",
      attachState: "attached",
    }),
    vol("vol-2", { fromSnapshot: "snap-1" }),
  ];
  const placement = { "db@1.service": ["i-a"] };
  it("holds the unit while its node has not reported it stopped: nothing is detached", () => {
    const p = planAttachments({
      needs,
      volumes,
      placement,
      reported: {},
      instanceStates: { "i-a": "running" },
    });
    expect(p.actions.filter((a) => a.kind === "detach")).toEqual([]);
    expect(p.held).toEqual([
      {
        unit: "db@1.service",
        reason: expect.stringMatching(/retired volume vol-1 is still attached to i-a/),
      },
    ]);
  });
  it("detaches it once the node reported the unit stopped, and attaches the new one on another device", () => {
    const p = planAttachments({
      needs,
      volumes,
      placement,
      reported: { "i-a": [] },
      instanceStates: { "i-a": "running" },
    });
    expect(p.actions).toEqual([
      { kind: "detach", volumeId: "vol-1", from: "i-a", reason: "unit-stopped" },
      { kind: "attach", volumeId: "vol-2", to: "i-a", device: "/dev/xvdg" },
    ]);
    expect(p.ready).toEqual(["db@1.service"]);
  });
  it("never detaches it from a node that still reports the unit running", () => {
    const p = planAttachments({
      needs,
      volumes,
      placement,
      reported: { "i-a": ["db@1.service"] },
      instanceStates: { "i-a": "running" },
    });
    expect(p.actions.filter((a) => a.kind === "detach")).toEqual([]);
    expect(p.ready).toEqual([]);
  });
});
