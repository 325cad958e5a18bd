// What every Volumes and VolumeSnapshots port answers (create tagged volumes, list the cluster's own;
// snapshots, a volume from one, its promotion, a retirement), run against the
// in-memory fake and EC2 in moto (test/integration/contracts/awsPorts.test.ts).
import { describe, expect, it } from "vitest";
import type { VolumeSnapshots, Volumes } from "../../functions/ports/volumes.ts";
import { currentVolume } from "../../functions/domain/volumes.ts";
import { pollUntil } from "../../functions/domain/poll.ts";

export interface VolumesSubject {
  volumes: Volumes;
  /** A zone volumes can be created in. */
  zone: string;
  /** The same store seen by another cluster (its volumes must not be listed by the first). */
  otherCluster: Volumes;
  /** A running instance in `zone` (volumes attach to it). */
  instance(): Promise<string>;
}

export function volumesContract(name: string, subject: () => Promise<VolumesSubject>): void {
  describe(`Volumes contract: ${name}`, () => {
    it("creates a volume in the zone and size asked, listed under its service, instance and volume name", async () => {
      const s = await subject();
      const made = await s.volumes.create({
        unit: "db@1.service",
        service: "db",
        instance: "db@1",
        volume: "data",
        sizeGiB: 3,
        path: "/srv/db-1",
        zone: s.zone,
      });
      expect(made).toMatchObject({
        service: "db",
        instance: "db@1",
        volume: "data",
        zone: s.zone,
        sizeGiB: 3,
      });
      expect(made.id).toMatch(/^vol-[0-9a-f]+$/);
      expect(made.attachedTo).toBeUndefined();
      const listed = await s.volumes.list();
      expect(listed.map((v) => v.id)).toEqual([made.id]);
      expect(listed[0]).toMatchObject({ service: "db", instance: "db@1", volume: "data", zone: s.zone });
      expect(["creating", "available"]).toContain(listed[0]!.state);
    });

    it("lists only its own cluster's volumes", async () => {
      const s = await subject();
      const other = await s.otherCluster.create({
        unit: "db@1.service",
        service: "db",
        instance: "db@1",
        volume: "data",
        sizeGiB: 1,
        path: "/srv/db-1",
        zone: s.zone,
      });
      expect((await s.volumes.list()).map((v) => v.id)).not.toContain(other.id);
      expect((await s.otherCluster.list()).map((v) => v.id)).toContain(other.id);
    });

    it("attaches a volume to an instance, reports the attachment, and detaches it (never forced)", async () => {
      const s = await subject();
      const id = await s.instance();
      const v = await s.volumes.create({
        unit: "db@1.service",
        service: "db",
        instance: "db@1",
        volume: "data",
        sizeGiB: 1,
        path: "/srv/db-1",
        zone: s.zone,
      });
      await s.volumes.attach(v.id, id, "/dev/xvdf");
      expect((await s.volumes.list()).find((x) => x.id === v.id)).toMatchObject({
        attachedTo: id,
        device: "/dev/xvdf",
        state: "in-use",
      });
      expect(await s.volumes.instanceStates([id, "i-0123456789abcdef0"])).toEqual({ [id]: "running" });
      await s.volumes.detach(v.id, id);
      const after = (await s.volumes.list()).find((x) => x.id === v.id)!;
      expect(after.attachedTo).toBeUndefined();
      expect(after.state).toBe("available");
      expect(await s.volumes.instanceStates([])).toEqual({});
    });
  });
}

export interface VolumeSnapshotsSubject {
  volumes: Volumes;
  snapshots: VolumeSnapshots;
  /** Another cluster's snapshots in the same account (never listed by the first). */
  otherVolumes: Volumes;
  otherSnapshots: VolumeSnapshots;
  zone: string;
  /** Another zone of the same region. */
  otherZone: string;
}

const dbData = (zone: string) => ({
  unit: "db@1.service",
  service: "db",
  instance: "db@1",
  volume: "data",
  sizeGiB: 2,
  path: "/srv/db-1",
  zone,
});

/** Until the snapshot is completed (EBS takes a while; moto and the fake at once). */
async function completed(s: VolumeSnapshots, id: string) {
  const done = await pollUntil(
    async () => {
      const x = (await s.list()).find((y) => y.id === id);
      return x?.state === "completed" ? x : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  if (!done) throw new Error(`snapshot ${id} did not complete`);
  return done;
}

export function volumeSnapshotsContract(name: string, subject: () => Promise<VolumeSnapshotsSubject>): void {
  describe(`VolumeSnapshots contract: ${name}`, () => {
    it("snapshots a volume tagged with its key and source, lists only its own cluster's, deletes it", async () => {
      const s = await subject();
      const v = await s.volumes.create(dbData(s.zone));
      const snap = await s.snapshots.create(v);
      expect(snap).toMatchObject({ service: "db", instance: "db@1", volume: "data", volumeId: v.id });
      expect(snap.id).toMatch(/^snap-[0-9a-f]+$/);
      const done = await completed(s.snapshots, snap.id);
      expect(done.sizeGiB).toBe(2);
      expect(Date.parse(done.startedAt)).toBeGreaterThan(Date.now() - 600_000);
      const other = await s.otherSnapshots.create(await s.otherVolumes.create(dbData(s.zone)));
      expect((await s.snapshots.list()).map((x) => x.id)).toEqual([snap.id]);
      expect((await s.otherSnapshots.list()).map((x) => x.id)).toEqual([other.id]);
      await s.snapshots.delete(snap.id);
      expect(await s.snapshots.list()).toEqual([]);
      await expect(s.snapshots.delete(snap.id)).rejects.toThrow();
    });

    it("makes a volume from a snapshot in another zone, not in use until promoted; retires the old one", async () => {
      const s = await subject();
      const v = await s.volumes.create(dbData(s.zone));
      const snap = await completed(s.snapshots, (await s.snapshots.create(v)).id);
      const made = await s.snapshots.createFrom(snap, v, s.otherZone, `t-${v.id}`);
      expect(made).toMatchObject({
        service: "db",
        instance: "db@1",
        volume: "data",
        zone: s.otherZone,
        sizeGiB: 2,
        replaces: v.id,
        fromSnapshot: snap.id,
      });
      expect(currentVolume(await s.volumes.list(), v)?.id).toBe(v.id);
      await s.snapshots.promote(made.id);
      await s.snapshots.retire(v.id, "2026-01-01T00:00:00.000Z restored: replaced by test");
      const after = await s.volumes.list();
      expect(currentVolume(after, v)?.id).toBe(made.id);
      expect(after.find((x) => x.id === made.id)?.replaces).toBeUndefined();
      expect(after.find((x) => x.id === v.id)).toMatchObject({
        retired: "2026-01-01T00:00:00.000Z restored: replaced by test",
      });
    });
  });
}
