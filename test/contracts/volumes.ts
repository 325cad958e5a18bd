// What every Volumes port answers (create tagged volumes, list the cluster's own), run against the
// in-memory fake and EC2 in moto (test/integration/contracts/awsPorts.test.ts).
import { describe, expect, it } from "vitest";
import type { Volumes } from "../../functions/ports/volumes.ts";

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
