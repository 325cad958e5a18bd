// Snapshots of the etcd cluster in S3: the object layout, the manifest that makes a snapshot valid,
// and the retention rule. Pure: no I/O.
import { InvariantError } from "./errors.ts";
import { z } from "zod";
import type { Config } from "./config.ts";

/**
 * Layout under `<SNAPSHOT_PREFIX><cluster>/`:
 *   data/<id>.db         the etcd v3 snapshot stream, byte for byte (what `etcdctl snapshot save` writes)
 *   manifests/<id>.json  written only after the data upload completed; a snapshot is valid only when
 *                        its manifest exists, parses, and matches the data object (size and ETag)
 * `<id>` is `YYYYMMDDTHHMMSSmmmZ-<8 hex>`: it sorts by time and is never reused, so no key is ever
 * overwritten and a failed upload can never replace an older good snapshot.
 */
export interface SnapshotLayout {
  prefix: string;
  cluster: string;
}

/** Where a cluster's snapshots live, from its configuration. */
export const layoutOf = (cfg: Pick<Config, "SNAPSHOT_PREFIX" | "CLUSTER_NAME">): SnapshotLayout => ({
  prefix: cfg.SNAPSHOT_PREFIX,
  cluster: cfg.CLUSTER_NAME,
});

const ID_RE = /^(\d{8}T\d{9}Z)-([0-9a-f]{8})$/;

export function snapshotId(at: Date, random: string): string {
  if (!/^[0-9a-f]{8}$/.test(random)) throw new InvariantError("snapshot id suffix must be 8 hex digits");
  const iso = at.toISOString(); // 2025-01-02T03:04:05.678Z
  return `${iso.slice(0, 10).replaceAll("-", "")}T${iso.slice(11, 19).replaceAll(":", "")}${iso.slice(20, 23)}Z-${random}`;
}

export function timeOfSnapshotId(id: string): Date | undefined {
  const m = ID_RE.exec(id);
  if (!m) return undefined;
  const s = m[1]!;
  const d = new Date(
    `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}.${s.slice(15, 18)}Z`,
  );
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export const isSnapshotId = (id: string) => timeOfSnapshotId(id) !== undefined;

export const clusterPrefix = (l: SnapshotLayout) => `${l.prefix}${l.cluster}/`;
export const dataPrefix = (l: SnapshotLayout) => `${clusterPrefix(l)}data/`;
export const manifestPrefix = (l: SnapshotLayout) => `${clusterPrefix(l)}manifests/`;
export const dataKey = (l: SnapshotLayout, id: string) => `${dataPrefix(l)}${id}.db`;
export const manifestKey = (l: SnapshotLayout, id: string) => `${manifestPrefix(l)}${id}.json`;

/** The id named by a key of either kind (or by the id itself); undefined if it names none. */
export function idFromKey(l: SnapshotLayout, keyOrId: string): string | undefined {
  let s = keyOrId;
  if (s.startsWith(dataPrefix(l)) && s.endsWith(".db")) s = s.slice(dataPrefix(l).length, -3);
  else if (s.startsWith(manifestPrefix(l)) && s.endsWith(".json")) s = s.slice(manifestPrefix(l).length, -5);
  return isSnapshotId(s) ? s : undefined;
}

const MemberSchema = z.object({
  id: z.string(),
  name: z.string(),
  peerUrls: z.array(z.string()),
  clientUrls: z.array(z.string()),
  isLearner: z.boolean(),
});

export const ManifestSchema = z.object({
  version: z.literal(1),
  id: z.string().regex(ID_RE),
  cluster: z.string(),
  /** etcd's cluster id (decimal uint64), from the source member's response header. */
  clusterId: z.string(),
  dataKey: z.string(),
  size: z.number().int().positive(),
  /** SHA-256 (hex) of the whole data object. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The ETag S3 returned for the data object: ties the manifest to that exact upload. */
  etag: z.string(),
  /**
   * The store revision when the snapshot began (etcd 3.4 does not put a header on the snapshot stream),
   * and when it ended: the snapshot's own revision lies between them (equal on a quiet cluster).
   */
  revision: z.number().int().nonnegative(),
  revisionAfter: z.number().int().nonnegative(),
  /** Keys in the store at `revision`. */
  keyCount: z.number().int().nonnegative(),
  members: z.array(MemberSchema),
  source: z.object({ endpoint: z.string(), memberId: z.string() }),
  startedAt: z.string(),
  completedAt: z.string(),
  durationMs: z.number().nonnegative(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** What listing saw of a manifest and its data object. */
export interface ObservedSnapshot {
  id: string;
  manifest?: Manifest | undefined;
  /** Why the manifest does not make the snapshot valid (unparseable, data missing, size/ETag differ). */
  invalid?: string | undefined;
  data?: { size: number; etag: string; lastModified: Date } | undefined;
  manifestLastModified?: Date | undefined;
}

/** The check that makes a snapshot valid: its manifest matches its data object. */
export function validity(l: SnapshotLayout, o: ObservedSnapshot): string | undefined {
  if (o.invalid) return o.invalid;
  const m = o.manifest;
  if (!m) return "no manifest (upload not completed)";
  if (m.id !== o.id || m.dataKey !== dataKey(l, o.id)) return "manifest names another snapshot";
  if (!o.data) return "data object missing";
  if (o.data.size !== m.size) return `data object size ${o.data.size} != manifest ${m.size}`;
  if (normEtag(o.data.etag) !== normEtag(m.etag)) return "data object ETag differs from the manifest";
  return undefined;
}

const normEtag = (e: string) => e.replaceAll('"', "");

/** The valid snapshots among those listed, newest first. */
export function validSnapshots(l: SnapshotLayout, observed: ObservedSnapshot[]): ObservedSnapshot[] {
  return observed.filter((o) => validity(l, o) === undefined).sort((a, b) => (a.id < b.id ? 1 : -1));
}

export interface RetentionRule {
  keepLast: number;
  /** One per UTC calendar day for the last `keepDays` days, today included (0: none). */
  keepDays: number;
  /** Objects that are not (or no longer) part of a valid snapshot are deleted after this long. */
  orphanGraceMs: number;
}

export interface RetentionPlan {
  keep: { id: string; why: string[] }[];
  /** Valid snapshots to delete: manifest first, then data (a half-deleted one is never listed valid). */
  drop: string[];
  /** Keys of leftovers: data without a manifest, manifests that match nothing, past the grace period. */
  orphans: string[];
}

const utcDay = (d: Date) => Math.floor(d.getTime() / 86_400_000);

/**
 * Keep the newest `keepLast` valid snapshots, and the newest valid snapshot of each of the last
 * `keepDays` UTC days (today and the days before it). Everything else valid is dropped. Objects that
 * belong to no valid snapshot are removed only after `orphanGraceMs` (an upload may be in flight).
 */
export function planRetention(
  l: SnapshotLayout,
  observed: ObservedSnapshot[],
  now: Date,
  rule: RetentionRule,
): RetentionPlan {
  if (rule.keepLast < 1) throw new InvariantError("keepLast must be at least 1");
  const valid = validSnapshots(l, observed).map((o) => ({ id: o.id, at: timeOfSnapshotId(o.id)! }));
  const why = new Map<string, string[]>();
  const mark = (id: string, reason: string) => why.set(id, [...(why.get(id) ?? []), reason]);
  valid.slice(0, rule.keepLast).forEach((s, i) => mark(s.id, `last ${i + 1}/${rule.keepLast}`));
  const today = utcDay(now);
  const seenDay = new Set<number>();
  for (const s of valid) {
    const day = utcDay(s.at);
    if (day > today || day <= today - rule.keepDays || seenDay.has(day)) continue;
    seenDay.add(day);
    mark(s.id, `daily ${new Date(day * 86_400_000).toISOString().slice(0, 10)}`);
  }
  const keep = valid.filter((s) => why.has(s.id)).map((s) => ({ id: s.id, why: why.get(s.id)! }));
  const drop = valid.filter((s) => !why.has(s.id)).map((s) => s.id);
  const validIds = new Set(valid.map((s) => s.id));
  const orphans: string[] = [];
  const old = (d: Date | undefined) => d !== undefined && now.getTime() - d.getTime() > rule.orphanGraceMs;
  for (const o of observed) {
    if (validIds.has(o.id)) continue;
    // The id's own time bounds how long ago the upload started; an object's time how long ago it landed.
    const started = timeOfSnapshotId(o.id);
    if (!old(started)) continue;
    if (o.manifestLastModified !== undefined || o.manifest || o.invalid) {
      if (old(o.manifestLastModified ?? started)) orphans.push(manifestKey(l, o.id));
    }
    if (o.data && old(o.data.lastModified)) orphans.push(dataKey(l, o.id));
  }
  return { keep, drop, orphans };
}

/** The newest valid snapshot, or the one named by id or key; undefined when there is none. */
export function chooseSnapshot(l: SnapshotLayout, observed: ObservedSnapshot[], which: string) {
  if (which === "latest") return validSnapshots(l, observed)[0];
  const id = idFromKey(l, which);
  return id ? observed.find((o) => o.id === id) : undefined;
}
