// What every SnapshotStore does (upload, manifest once, list with validity, download, delete, the
// lock), run against the in-memory fake and S3 in moto (test/integration/contracts/snapshots.test.ts).
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  dataKey,
  manifestKey,
  snapshotId,
  validity,
  type Manifest,
  type SnapshotLayout,
} from "../../functions/domain/snapshots.ts";
import type { SnapshotStore } from "../../functions/ports/snapshots.ts";

/** A store over a fresh, empty layout. */
export type SnapshotsSubject = () => Promise<SnapshotStore>;

const manifestOf = (l: SnapshotLayout, id: string, body: Buffer, etag: string): Manifest => ({
  version: 1,
  id,
  cluster: l.cluster,
  clusterId: "1",
  dataKey: dataKey(l, id),
  size: body.length,
  sha256: createHash("sha256").update(body).digest("hex"),
  etag,
  revision: 5,
  revisionAfter: 5,
  keyCount: 3,
  members: [],
  source: { endpoint: "http://127.0.0.11:2379", memberId: "1" },
  startedAt: "2026-01-01T00:00:00.000Z",
  completedAt: "2026-01-01T00:00:01.000Z",
  durationMs: 1000,
});

async function bytes(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(Buffer.from(c as Buffer));
  return Buffer.concat(out);
}

export function snapshotsContract(name: string, subject: SnapshotsSubject): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    it("an uploaded snapshot is valid once its manifest is written, and downloads byte for byte", async () => {
      const s = await subject();
      const id = snapshotId(new Date(), randomBytes(4).toString("hex"));
      const body = randomBytes(4096);
      const { etag } = await s.uploadData(dataKey(s.layout, id), Readable.from([body]));
      let [seen] = await s.list();
      expect(seen).toMatchObject({ id, data: { size: body.length } });
      expect(validity(s.layout, seen!)).toBe("no manifest (upload not completed)");
      await s.putManifest(manifestOf(s.layout, id, body, etag));
      [seen] = await s.list();
      expect(validity(s.layout, seen!)).toBeUndefined();
      expect(seen!.manifest!.id).toBe(id);
      expect((await bytes(await s.download(dataKey(s.layout, id)))).equals(body)).toBe(true);
    });

    it("never overwrites a manifest; deleting both keys leaves nothing listed", async () => {
      const s = await subject();
      const id = snapshotId(new Date(), randomBytes(4).toString("hex"));
      const body = randomBytes(100);
      const { etag } = await s.uploadData(dataKey(s.layout, id), Readable.from([body]));
      const m = manifestOf(s.layout, id, body, etag);
      await s.putManifest(m);
      await expect(s.putManifest({ ...m, keyCount: 99 })).rejects.toThrow();
      expect((await s.list())[0]!.manifest!.keyCount).toBe(3);
      await s.deleteKeys([dataKey(s.layout, id), manifestKey(s.layout, id)]);
      expect(await s.list()).toEqual([]);
    });

    it("the lock has one owner; only the owner unlocks it; a stale one is taken over", async () => {
      const s = await subject();
      expect(await s.tryLock("restore", "a", 60_000)).toBe(true);
      expect(await s.tryLock("restore", "b", 60_000)).toBe(false);
      await s.unlock("restore", "b"); // not the owner: still held
      expect(await s.tryLock("restore", "b", 60_000)).toBe(false);
      await new Promise((r) => setTimeout(r, 20));
      expect(await s.tryLock("restore", "b", 10)).toBe(true); // a's is older than 10 ms: stale
      await s.unlock("restore", "b");
      expect(await s.tryLock("restore", "c", 60_000)).toBe(true);
      await s.unlock("restore", "c");
    });
  });
}
