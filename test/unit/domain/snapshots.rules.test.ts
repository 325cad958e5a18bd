// The snapshot rules, each proved on its own: the key layout, what makes a snapshot valid, which one
// restore chooses, and what retention keeps, drops and treats as a leftover.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  chooseSnapshot,
  dataKey,
  idFromKey,
  layoutOf,
  ManifestSchema,
  manifestKey,
  planRetention,
  snapshotId,
  timeOfSnapshotId,
  validity,
  validSnapshots,
  type Manifest,
  type ObservedSnapshot,
} from "../../../functions/domain/snapshots.ts";

const L = { prefix: "etcd-snapshots/", cluster: "dev" };
const H = 3_600_000;
const DAY = 24 * H;
const NOW = Date.parse("2025-03-10T12:00:00.000Z");

function manifestFor(id: string, o: Partial<Manifest> = {}): Manifest {
  return {
    version: 1,
    id,
    cluster: "dev",
    clusterId: "14841639068965178418",
    dataKey: dataKey(L, id),
    size: 100,
    sha256: "0".repeat(63) + "1",
    etag: '"e"',
    revision: 7,
    revisionAfter: 8,
    keyCount: 3,
    members: [
      {
        id: "1",
        name: "i-0a",
        peerUrls: ["http://127.0.0.1:2380"],
        clientUrls: ["http://127.0.0.1:2379"],
        isLearner: false,
      },
    ],
    source: { endpoint: "http://127.0.0.1:2379", memberId: "1" },
    startedAt: "2025-03-10T11:00:00.000Z",
    completedAt: "2025-03-10T11:00:01.000Z",
    durationMs: 1000,
    ...o,
  };
}
let seq = 0;
function snap(at: number, o: Partial<ObservedSnapshot> = {}): ObservedSnapshot {
  const id = snapshotId(new Date(at), (0x10000000 + seq++).toString(16).slice(-8));
  return {
    id,
    manifest: manifestFor(id),
    data: { size: 100, etag: '"e"', lastModified: new Date(at + 1000) },
    manifestLastModified: new Date(at + 2000),
    ...o,
  };
}

describe("the layout", () => {
  it("comes from the configuration", () => {
    expect(layoutOf({ SNAPSHOT_PREFIX: "p/", CLUSTER_NAME: "c1" })).toEqual({ prefix: "p/", cluster: "c1" });
  });

  it("keeps data and manifests under the cluster's own prefix", () => {
    const id = "20250102T030405678Z-00c0ffee";
    expect(dataKey(L, id)).toBe(`etcd-snapshots/dev/data/${id}.db`);
    expect(manifestKey(L, id)).toBe(`etcd-snapshots/dev/manifests/${id}.json`);
  });

  it("recognises an id only in a key of the right kind and suffix", () => {
    const id = "20250102T030405678Z-00c0ffee";
    expect(idFromKey(L, `etcd-snapshots/dev/data/${id}.gz`)).toBeUndefined();
    expect(idFromKey(L, `etcd-snapshots/dev/data/${id}.json`)).toBeUndefined();
    expect(idFromKey(L, `etcd-snapshots/dev/manifests/${id}.yaml`)).toBeUndefined();
    expect(idFromKey(L, `etcd-snapshots/dev/manifests/${id}.db`)).toBeUndefined();
    expect(idFromKey(L, `etcd-snapshots/dev/${id}.db`)).toBeUndefined();
  });

  it("accepts only whole ids with an 8-hex-digit suffix", () => {
    const id = "20250102T030405678Z-00c0ffee";
    expect(timeOfSnapshotId(id)).toEqual(new Date("2025-01-02T03:04:05.678Z"));
    expect(timeOfSnapshotId(`x${id}`)).toBeUndefined();
    expect(timeOfSnapshotId(`${id}0`)).toBeUndefined();
    expect(timeOfSnapshotId("20251302T030405678Z-00c0ffee")).toBeUndefined(); // month 13
    for (const bad of ["00c0ffee0", "x00c0ffee", "00C0FFEE", "0c0ffee"]) {
      expect(() => snapshotId(new Date(0), bad)).toThrow("snapshot id suffix must be 8 hex digits");
    }
  });
});

describe("the manifest", () => {
  it("parses back to exactly what was written", () => {
    const m = manifestFor("20250102T030405678Z-00c0ffee");
    expect(ManifestSchema.parse(JSON.parse(JSON.stringify(m)))).toEqual(m);
  });

  it.each([
    ["a SHA-256 in upper case", { sha256: "A".repeat(64) }],
    ["a SHA-256 too long", { sha256: "0".repeat(65) }],
    ["a SHA-256 with a prefix", { sha256: `x${"0".repeat(64)}` }],
    ["a size of 0", { size: 0 }],
    ["another version", { version: 2 as 1 }],
    ["a malformed id", { id: "latest" }],
  ])("refuses %s", (_n, o) => {
    expect(ManifestSchema.safeParse({ ...manifestFor("20250102T030405678Z-00c0ffee"), ...o }).success).toBe(
      false,
    );
  });
});

describe("validity", () => {
  it("refuses a manifest that names another snapshot, even with the right data key", () => {
    const s = snap(NOW);
    expect(validity(L, { ...s, manifest: { ...s.manifest!, id: "20250102T030405678Z-00c0ffee" } })).toBe(
      "manifest names another snapshot",
    );
  });
  it("compares ETags without their quotes", () => {
    const s = snap(NOW);
    expect(validity(L, { ...s, manifest: { ...s.manifest!, etag: "e" } })).toBeUndefined();
    expect(validity(L, { ...s, data: { ...s.data!, etag: "e" } })).toBeUndefined();
  });
  it("lists valid snapshots newest first, whatever the listing order", () => {
    const a = snap(NOW - 3 * H);
    const b = snap(NOW - 2 * H);
    const c = snap(NOW - H);
    const broken = snap(NOW, { data: undefined });
    expect(validSnapshots(L, [b, broken, a, c]).map((s) => s.id)).toEqual([c.id, b.id, a.id]);
  });
});

describe("restore's choice of snapshot", () => {
  const older = snap(NOW - 2 * H);
  const newer = snap(NOW - H);
  const invalidNewest = snap(NOW, { manifest: undefined });
  const observed = [older, invalidNewest, newer];

  it("is the newest valid one for latest, and none when nothing is valid", () => {
    expect(chooseSnapshot(L, observed, "latest")).toBe(newer);
    expect(chooseSnapshot(L, [invalidNewest], "latest")).toBeUndefined();
  });
  it("is the one named by id, data key or manifest key, valid or not (restore then says why it refuses)", () => {
    expect(chooseSnapshot(L, observed, older.id)).toBe(older);
    expect(chooseSnapshot(L, observed, dataKey(L, older.id))).toBe(older);
    expect(chooseSnapshot(L, observed, manifestKey(L, newer.id))).toBe(newer);
    expect(chooseSnapshot(L, observed, invalidNewest.id)).toBe(invalidNewest);
    expect(validity(L, invalidNewest)).toBe("no manifest (upload not completed)");
  });
  it("is none for an unknown id or a name that is no id", () => {
    expect(chooseSnapshot(L, observed, "20200101T000000000Z-00000000")).toBeUndefined();
    expect(chooseSnapshot(L, observed, "newest")).toBeUndefined();
  });
});

describe("retention", () => {
  const rule = { keepLast: 1, keepDays: 3, orphanGraceMs: DAY };

  it("refuses to keep fewer than one", () => {
    expect(() => planRetention(L, [], new Date(NOW), { ...rule, keepLast: 0 })).toThrow(
      "keepLast must be at least 1",
    );
  });

  it("never takes a snapshot dated after today (a skewed clock) as a day's snapshot", () => {
    const today = snap(NOW - H);
    const tomorrow = snap(NOW + DAY);
    const plan = planRetention(L, [today, tomorrow], new Date(NOW), rule);
    // keepLast 1 keeps the one from the future (newest id); today's daily is today's snapshot.
    expect(plan.keep).toEqual([
      { id: tomorrow.id, why: ["last 1/1"] },
      { id: today.id, why: ["daily 2025-03-10"] },
    ]);
  });

  it("keeps one per day for exactly keepDays days, today included", () => {
    const days = [0, 1, 2, 3].map((d) => snap(NOW - d * DAY - H));
    const plan = planRetention(L, days, new Date(NOW), { ...rule, keepDays: 3 });
    expect(plan.keep.map((k) => k.id)).toEqual([days[0]!.id, days[1]!.id, days[2]!.id]);
    expect(plan.drop).toEqual([days[3]!.id]);
  });

  describe("leftovers (objects of no valid snapshot)", () => {
    const orphansOf = (o: ObservedSnapshot[]) => planRetention(L, o, new Date(NOW), rule).orphans;
    const oldAt = NOW - 2 * DAY;

    it("are removed only once strictly older than the grace period", () => {
      const exact = snap(NOW - DAY, {
        manifest: undefined,
        manifestLastModified: undefined,
        data: { size: 1, etag: "x", lastModified: new Date(NOW - DAY) },
      });
      expect(orphansOf([exact])).toEqual([]);
      const older = { ...exact, data: { ...exact.data!, lastModified: new Date(NOW - DAY - 1) } };
      // The id is 1 ms older than the grace, too (same time as its data here).
      const id = snapshotId(new Date(NOW - DAY - 1), "0000000a");
      expect(orphansOf([{ ...older, id }])).toEqual([dataKey(L, id)]);
    });

    it("are never removed while the id says the upload started within the grace period", () => {
      const recentId = snap(NOW - H, {
        manifest: undefined,
        manifestLastModified: undefined,
        data: { size: 1, etag: "x", lastModified: new Date(oldAt) },
      });
      expect(orphansOf([recentId])).toEqual([]);
    });

    it("are never removed when the id tells no time", () => {
      expect(
        orphansOf([
          {
            id: "not-an-id",
            data: { size: 1, etag: "x", lastModified: new Date(oldAt) },
            manifestLastModified: new Date(oldAt),
          },
        ]),
      ).toEqual([]);
    });

    it("include a manifest object seen but not read, and one read without its time, by the id's age", () => {
      const seen = snap(oldAt, { manifest: undefined, data: undefined });
      expect(orphansOf([seen])).toEqual([manifestKey(L, seen.id)]);
      const unTimed = snap(oldAt, { data: undefined, manifestLastModified: undefined });
      expect(orphansOf([unTimed])).toEqual([manifestKey(L, unTimed.id)]);
      const unparsed = snap(oldAt, {
        manifest: undefined,
        manifestLastModified: undefined,
        invalid: "manifest does not parse",
        data: undefined,
      });
      expect(orphansOf([unparsed])).toEqual([manifestKey(L, unparsed.id)]);
    });

    it("keep a recently written manifest of an old id", () => {
      const rewritten = snap(oldAt, { data: undefined, manifestLastModified: new Date(NOW - H) });
      expect(orphansOf([rewritten])).toEqual([]);
    });

    it("name no manifest key when there was never a manifest", () => {
      const dataOnly = snap(oldAt, { manifest: undefined, manifestLastModified: undefined });
      expect(orphansOf([dataOnly])).toEqual([dataKey(L, dataOnly.id)]);
    });
  });

  it("never drops the newest valid snapshot, never keeps an invalid one, and accounts for every valid one (property)", () => {
    const arb = fc.array(fc.record({ ageH: fc.integer({ min: 0, max: 24 * 40 }), ok: fc.boolean() }), {
      maxLength: 30,
    });
    const ruleArb = fc.record({
      keepLast: fc.integer({ min: 1, max: 10 }),
      keepDays: fc.integer({ min: 0, max: 20 }),
      orphanGraceMs: fc.constant(DAY),
    });
    fc.assert(
      fc.property(arb, ruleArb, (xs, r) => {
        const observed = xs.map((x, i) => {
          const s = snap(NOW - x.ageH * H - i); // distinct times
          return x.ok ? s : { ...s, manifest: undefined };
        });
        const plan = planRetention(L, observed, new Date(NOW), r);
        const valid = validSnapshots(L, observed).map((s) => s.id);
        expect([...plan.keep.map((k) => k.id), ...plan.drop].sort()).toEqual([...valid].sort());
        if (valid.length) expect(plan.keep.map((k) => k.id)).toContain(valid[0]);
        expect(plan.keep.length).toBeGreaterThanOrEqual(Math.min(r.keepLast, valid.length));
        expect(plan.keep.length).toBeLessThanOrEqual(r.keepLast + r.keepDays);
      }),
    );
  });
});
