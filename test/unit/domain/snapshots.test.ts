// Retention and the validity rule, without I/O: a simulated month of snapshots.
import { describe, expect, it } from "vitest";
import {
  chooseSnapshot,
  dataKey,
  idFromKey,
  manifestKey,
  planRetention,
  snapshotId,
  timeOfSnapshotId,
  validity,
  type Manifest,
  type ObservedSnapshot,
  type RetentionRule,
} from "../../../functions/domain/snapshots.ts";

const L = { prefix: "etcd-snapshots/", cluster: "dev" };
const H = 3_600_000;
const DAY = 24 * H;
const T0 = Date.parse("2025-03-01T00:00:00.000Z");

function valid(at: number, n = 0): ObservedSnapshot {
  const id = snapshotId(new Date(at), (n + 0x10000000).toString(16).slice(-8));
  const manifest = { version: 1, id, dataKey: dataKey(L, id), size: 100, etag: `"e${n}"` } as Manifest;
  return {
    id,
    manifest,
    data: { size: 100, etag: `"e${n}"`, lastModified: new Date(at + 1000) },
    manifestLastModified: new Date(at + 1000),
  };
}
const RULE: RetentionRule = { keepLast: 24, keepDays: 14, orphanGraceMs: DAY };
const ids = (xs: ObservedSnapshot[]) => xs.map((x) => x.id).sort();
const dayOf = (id: string) => timeOfSnapshotId(id)!.toISOString().slice(0, 10);

describe("snapshot ids and keys", () => {
  it("sort by time, name their time, and are recognised in either key", () => {
    const a = snapshotId(new Date("2025-01-02T03:04:05.678Z"), "00c0ffee");
    expect(a).toBe("20250102T030405678Z-00c0ffee");
    expect(timeOfSnapshotId(a)!.toISOString()).toBe("2025-01-02T03:04:05.678Z");
    const b = snapshotId(new Date("2025-01-02T03:04:05.679Z"), "00000000");
    expect(a < b).toBe(true);
    expect(idFromKey(L, dataKey(L, a))).toBe(a);
    expect(idFromKey(L, manifestKey(L, a))).toBe(a);
    expect(idFromKey(L, a)).toBe(a);
    expect(idFromKey(L, "etcd-snapshots/other/data/" + a + ".db")).toBeUndefined();
    expect(idFromKey(L, "latest")).toBeUndefined();
    expect(() => snapshotId(new Date(), "xyz")).toThrow();
  });

  it("a snapshot is valid only when its manifest exists and matches its data object", () => {
    const s = valid(T0);
    expect(validity(L, s)).toBeUndefined();
    expect(validity(L, { ...s, manifest: undefined })).toMatch(/no manifest/);
    expect(validity(L, { ...s, data: undefined })).toMatch(/data object missing/);
    expect(validity(L, { ...s, data: { ...s.data!, size: 99 } })).toMatch(/size 99 != manifest 100/);
    expect(validity(L, { ...s, data: { ...s.data!, etag: '"other"' } })).toMatch(/ETag/);
    expect(validity(L, { ...s, invalid: "manifest does not parse" })).toMatch(/parse/);
    expect(validity(L, { ...s, manifest: { ...s.manifest!, dataKey: "x" } })).toMatch(/another snapshot/);
  });

  it("latest is the newest valid one; an invalid newer one is skipped", () => {
    const old = valid(T0, 1);
    const newer = valid(T0 + H, 2);
    const broken = { ...valid(T0 + 2 * H, 3), manifest: undefined };
    expect(chooseSnapshot(L, [old, broken, newer], "latest")!.id).toBe(newer.id);
    expect(chooseSnapshot(L, [old, broken, newer], old.id)!.id).toBe(old.id);
    expect(chooseSnapshot(L, [], "latest")).toBeUndefined();
  });
});

describe("retention: keep the last N and one per day for D days", () => {
  it("over a month of hourly snapshots keeps exactly the last 24 and the newest of each of the last 14 days", () => {
    const all = Array.from({ length: 30 * 24 }, (_, i) => valid(T0 + i * H, i));
    const now = new Date(T0 + 30 * DAY - H + 10 * 60_000); // 2025-03-30T23:10Z, 10 min after the last one
    const plan = planRetention(L, all, now, RULE);
    // By hand: the last 24 are 03-30 00:00..23:00; the dailies are 23:00 of 03-17..03-30 (today included).
    const lastDay = all.slice(-24).map((s) => s.id);
    const dailies = Array.from({ length: 14 }, (_, d) => all[(29 - d) * 24 + 23]!.id);
    const expected = [...new Set([...lastDay, ...dailies])].sort();
    expect(expected).toHaveLength(24 + 13);
    expect(plan.keep.map((k) => k.id).sort()).toEqual(expected);
    expect(plan.drop.sort()).toEqual(ids(all).filter((id) => !expected.includes(id)));
    expect(new Set(plan.keep.map((k) => k.id).map(dayOf)).size).toBe(14);
    expect(plan.orphans).toEqual([]);
    const newest = plan.keep.find((k) => k.id === all.at(-1)!.id)!;
    expect(newest.why).toEqual(["last 1/24", "daily 2025-03-30"]);
  });

  it("applied after every snapshot for a month (every 6 h, with missed days), ends with exactly what the rule says", () => {
    let bucket: ObservedSnapshot[] = [];
    let n = 0;
    const rule = { keepLast: 5, keepDays: 7, orphanGraceMs: DAY };
    const days = 31;
    for (let d = 0; d < days; d++) {
      if (d === 20 || d === 21 || d === 27) continue; // snapshots failed on these days
      for (const h of [1, 7, 13, 19]) {
        const at = T0 + d * DAY + h * H;
        bucket.push(valid(at, n++));
        const plan = planRetention(L, bucket, new Date(at + 60_000), rule);
        bucket = bucket.filter((s) => !plan.drop.includes(s.id));
        // The newest snapshot is never dropped.
        expect(bucket.at(-1)!.id).toBe(snapshotId(new Date(at), (n - 1 + 0x10000000).toString(16).slice(-8)));
      }
    }
    // Last snapshot: 03-31 19:00. Last 5: 03-30 19:00 and 03-31 01:00, 07:00, 13:00, 19:00.
    // Dailies over 03-25..03-31: newest of each day that had snapshots; 03-28 (d=27) had none and is not
    // replaced by an older day.
    const kept = ids(bucket).map((id) => timeOfSnapshotId(id)!.toISOString().slice(5, 13));
    expect(kept).toEqual([
      "03-25T19",
      "03-26T19",
      "03-27T19",
      "03-29T19",
      "03-30T19",
      "03-31T01",
      "03-31T07",
      "03-31T13",
      "03-31T19",
    ]);
  });

  it.each([
    { name: "keepDays 0: only the last N", rule: { keepLast: 3, keepDays: 0 }, expectKept: 3 },
    { name: "keepLast 1, keepDays 1: just the newest", rule: { keepLast: 1, keepDays: 1 }, expectKept: 1 },
    { name: "keepLast larger than the bucket: all", rule: { keepLast: 100, keepDays: 0 }, expectKept: 10 },
    // 03-01..03-05, two a day: the newest of each of the 5 days, plus 03-05 00:00 as one of the last 2.
    {
      name: "10 days of dailies over 5 days of snapshots, 2 a day, and the last 2",
      rule: { keepLast: 2, keepDays: 10 },
      expectKept: 6,
    },
    { name: "2 days of dailies and the last 1", rule: { keepLast: 1, keepDays: 2 }, expectKept: 2 },
  ])("$name", ({ rule, expectKept }) => {
    const all = Array.from({ length: 10 }, (_, i) => valid(T0 + i * 12 * H, i));
    const plan = planRetention(L, all, new Date(T0 + 4.5 * DAY + H), { orphanGraceMs: DAY, ...rule });
    expect(plan.keep).toHaveLength(expectKept);
    expect(plan.keep.length + plan.drop.length).toBe(10);
    expect(plan.keep.map((k) => k.id)).toContain(all.at(-1)!.id);
  });

  it("never counts or drops invalid ones as snapshots; removes leftovers only after the grace period", () => {
    const now = T0 + 10 * DAY;
    const good = [valid(now - 3 * H, 1), valid(now - 2 * H, 2)];
    const inFlight = { ...valid(now - 5 * 60_000, 3), manifest: undefined, manifestLastModified: undefined };
    const oldOrphanData = {
      ...valid(now - 3 * DAY, 4),
      manifest: undefined,
      manifestLastModified: undefined,
    };
    const oldBadManifest = { ...valid(now - 3 * DAY, 5), data: undefined };
    const recentBadManifest = { ...valid(now - H, 6), data: undefined };
    const plan = planRetention(
      L,
      [...good, inFlight, oldOrphanData, oldBadManifest, recentBadManifest],
      new Date(now),
      {
        keepLast: 1,
        keepDays: 0,
        orphanGraceMs: DAY,
      },
    );
    expect(plan.keep.map((k) => k.id)).toEqual([good[1]!.id]);
    expect(plan.drop).toEqual([good[0]!.id]);
    expect(plan.orphans.sort()).toEqual(
      [dataKey(L, oldOrphanData.id), manifestKey(L, oldBadManifest.id)].sort(),
    );
  });

  it("refuses a rule that could delete every snapshot", () => {
    expect(() => planRetention(L, [], new Date(), { keepLast: 0, keepDays: 5, orphanGraceMs: 0 })).toThrow();
  });
});
