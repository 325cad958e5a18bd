// Service volume snapshots (pure): which snapshots retention deletes, the newest usable one of each
// service volume, and the swap that restore and move share (a new volume from a snapshot takes the
// place of the current one, which is kept, retired).
import { createHash } from "node:crypto";
import { currentVolume, volumeKeyString, type VolumeKey, type VolumeRecord } from "./volumes.ts";

/** A snapshot of a service volume, read through its tags (the volume's key and its source volume). */
export interface VolumeSnapshotRecord extends VolumeKey {
  id: string;
  /** The volume it was taken of (`devcluster:source-volume`). */
  volumeId: string;
  /** EC2's state: pending, completed, error, recoverable, recovering. */
  state: string;
  /** When EC2 started it (ISO 8601): the point in time it holds. */
  startedAt: string;
  sizeGiB: number;
}

export const SOURCE_VOLUME_TAG = "devcluster:source-volume";

/**
 * Retention: a completed snapshot is deleted only when it is beyond the newest `keepLast` of its
 * service volume AND older than `maxAgeDays`. Both, not either: a burst of snapshots taken by hand
 * never pushes a week of scheduled ones out by count, and a cluster left stopped for a month never
 * loses its last snapshots by age.
 */
export interface VolumeRetention {
  keepLast: number;
  maxAgeDays: number;
}

/** Daily snapshots, at least the last 7 kept, and every one from the last 30 days. */
export const DEFAULT_VOLUME_RETENTION: VolumeRetention = { keepLast: 7, maxAgeDays: 30 };
/** How often every service volume is snapshotted (an EventBridge schedule). */
export const VOLUME_SNAPSHOT_SCHEDULE = "rate(1 day)";

const DAY_MS = 86_400_000;

const completedNewestFirst = (snaps: VolumeSnapshotRecord[]) =>
  snaps
    .filter((s) => s.state === "completed")
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id));

/**
 * The snapshots retention deletes. Only completed ones are ever considered (a pending one may be a
 * restore's source in the making), and never the newest completed one of any source volume, whatever
 * its age: every volume keeps a way back.
 */
export function planRetention(
  snapshots: VolumeSnapshotRecord[],
  policy: VolumeRetention,
  now: Date,
): VolumeSnapshotRecord[] {
  if (!Number.isInteger(policy.keepLast) || policy.keepLast < 1)
    throw new RangeError(`keepLast must be a whole number >= 1, not ${policy.keepLast}`);
  if (!(policy.maxAgeDays > 0)) throw new RangeError(`maxAgeDays must be > 0, not ${policy.maxAgeDays}`);
  const cutoff = now.getTime() - policy.maxAgeDays * DAY_MS;
  const newestOfVolume = new Set<string>();
  const seenVolume = new Set<string>();
  for (const s of completedNewestFirst(snapshots))
    if (!seenVolume.has(s.volumeId)) {
      seenVolume.add(s.volumeId);
      newestOfVolume.add(s.id);
    }
  const byKey = new Map<string, VolumeSnapshotRecord[]>();
  for (const s of completedNewestFirst(snapshots)) {
    const k = volumeKeyString(s);
    byKey.set(k, [...(byKey.get(k) ?? []), s]);
  }
  const out: VolumeSnapshotRecord[] = [];
  for (const snaps of byKey.values())
    snaps.forEach((s, i) => {
      if (i < policy.keepLast || newestOfVolume.has(s.id)) return;
      const t = Date.parse(s.startedAt);
      if (Number.isFinite(t) && t < cutoff) out.push(s);
    });
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** The newest completed snapshot of a service volume (of any volume that held it), if any. */
export function latestSnapshot(
  snapshots: VolumeSnapshotRecord[],
  k: VolumeKey,
): VolumeSnapshotRecord | undefined {
  return completedNewestFirst(snapshots).find(
    (s) => s.service === k.service && s.instance === k.instance && s.volume === k.volume,
  );
}

/** The volumes a scheduled run snapshots: every service volume in use (not retired, not being made). */
export function volumesToSnapshot(volumes: VolumeRecord[]): VolumeRecord[] {
  return volumes
    .filter((v) => !v.retired && !v.replaces && (v.state === "available" || v.state === "in-use"))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Which service volume an operator names: `service/instance/volume`, or a unit (`db@1.service`,
 * `db@1`) when it has exactly one volume. Returns the key or why it names none.
 */
export function resolveVolumeTarget(target: string, volumes: VolumeRecord[]): VolumeKey | string {
  if (!/^[A-Za-z0-9@._/-]{1,200}$/.test(target))
    return `'${target}' is not a volume (service/instance/volume) or a unit name`;
  const inUse = volumes.filter((v) => !v.retired && !v.replaces);
  const parts = target.split("/");
  if (parts.length === 3) {
    const [service, instance, volume] = parts as [string, string, string];
    if (!inUse.some((v) => v.service === service && v.instance === instance && v.volume === volume))
      return `no volume ${target} in this cluster ('devcluster volumes' lists them)`;
    return { service, instance, volume };
  }
  if (parts.length !== 1) return `'${target}' is not a volume (service/instance/volume) or a unit name`;
  const instance = target.endsWith(".service") ? target.slice(0, -".service".length) : target;
  const names = [...new Set(inUse.filter((v) => v.instance === instance).map((v) => v.volume))].sort();
  if (!names.length) return `unit ${target} has no volume in this cluster ('devcluster volumes' lists them)`;
  if (names.length > 1)
    return `unit ${target} has ${names.length} volumes (${names.join(", ")}): name one as <service>/${instance}/<volume>`;
  const v = inUse.find((x) => x.instance === instance && x.volume === names[0])!;
  return { service: v.service, instance, volume: v.volume };
}

/** What a swap does: the volume replaced, the snapshot its successor is made from, and where. */
export interface SwapPlan {
  key: VolumeKey;
  current: VolumeRecord;
  snapshot: VolumeSnapshotRecord;
  zone: string;
  /** A successor an earlier, interrupted run already made (reused: a retry never makes another). */
  made?: VolumeRecord;
}

/** Nothing to do: the volume in use already is what the swap would make. */
export interface SwapDone {
  done: true;
  key: VolumeKey;
  current: VolumeRecord;
  reason: string;
}

/**
 * Plan a restore (the snapshot named) or a move (a snapshot just taken, another zone). A snapshot
 * of another service volume or cluster (not in `snapshots`), an unknown or an incomplete one is
 * refused with the reason; nothing is planned.
 */
export function planSwap(input: {
  key: VolumeKey;
  volumes: VolumeRecord[];
  snapshots: VolumeSnapshotRecord[];
  /** A snapshot id, or "latest". */
  snapshot: string;
  /** The zone of the new volume (default: the current volume's). */
  zone?: string;
}): SwapPlan | SwapDone | string {
  const { key } = input;
  const name = volumeKeyString(key);
  const current = currentVolume(input.volumes, key);
  if (!current) return `no volume ${name} in use in this cluster`;
  let snap: VolumeSnapshotRecord | undefined;
  if (input.snapshot === "latest") {
    snap = latestSnapshot(input.snapshots, key);
    if (!snap) return `volume ${name} has no completed snapshot`;
  } else {
    if (!/^snap-[0-9a-f]{8,17}$/.test(input.snapshot))
      return `'${input.snapshot}' is not a snapshot id (snap-...) or 'latest'`;
    snap = input.snapshots.find((s) => s.id === input.snapshot);
    if (!snap) return `snapshot ${input.snapshot} is not a snapshot of this cluster's volumes`;
    if (snap.service !== key.service || snap.instance !== key.instance || snap.volume !== key.volume)
      return `snapshot ${snap.id} is of volume ${volumeKeyString(snap)}, not ${name}`;
    if (snap.state !== "completed") return `snapshot ${snap.id} is ${snap.state}, not completed`;
  }
  const zone = input.zone ?? current.zone;
  if (current.fromSnapshot === snap.id && current.zone === zone)
    return { done: true, key, current, reason: `volume ${current.id} in use was made from ${snap.id}` };
  const made = input.volumes
    .filter(
      (v) =>
        !v.retired &&
        v.id !== current.id &&
        v.service === key.service &&
        v.instance === key.instance &&
        v.volume === key.volume &&
        v.fromSnapshot === snap.id &&
        v.zone === zone &&
        (v.replaces === current.id || !v.replaces) &&
        v.state !== "deleting" &&
        v.state !== "deleted",
    )
    .sort((a, b) => a.id.localeCompare(b.id))[0];
  return { key, current, snapshot: snap, zone, ...(made ? { made } : {}) };
}

/**
 * The idempotency token of a swap's new volume: one per volume replaced, snapshot and zone, so a
 * retried CreateVolume on AWS returns the first (64 hex characters, EC2's limit).
 */
export function swapClientToken(cluster: string, replaces: string, snapshotId: string, zone: string): string {
  return createHash("sha256").update(`swap\0${cluster}\0${replaces}\0${snapshotId}\0${zone}`).digest("hex");
}

/** What the retired tag of a replaced volume says: when, why, and by what. */
export function retiredValue(now: Date, why: "restored" | "moved", by: string): string {
  return `${now.toISOString()} ${why}: replaced by ${by}`;
}
