// Service volume snapshots and swaps, run by the units function: the scheduled (or by hand)
// snapshot of every volume in use with retention, and restore and move, which make a new volume from
// a snapshot, retire the old one (kept), and then let the units sync bring the unit onto it fenced.
import { z } from "zod";
import { InvalidInputError, LockBusyError, RefusedError } from "../domain/errors.ts";
import { parseInput } from "../domain/input.ts";
import { pollUntil } from "../domain/poll.ts";
import {
  DEFAULT_VOLUME_RETENTION,
  planRetention,
  planSwap,
  resolveVolumeTarget,
  retiredValue,
  swapClientToken,
  volumesToSnapshot,
  type SwapPlan,
  type VolumeRetention,
  type VolumeSnapshotRecord,
} from "../domain/volumeSnapshots.ts";
import { volumeKeyString, type VolumeKey, type VolumeRecord } from "../domain/volumes.ts";
import type { Logger } from "../ports/log.ts";
import type { VolumeAccess, VolumeSnapshots } from "../ports/volumes.ts";

export interface VolumeOpsDeps {
  volumes: VolumeAccess;
  snapshots: VolumeSnapshots;
  /** The zones the cluster's nodes are in (a move goes only to one of them). */
  zones: () => Promise<string[]>;
  log: Logger;
  retention?: VolumeRetention;
  now?: () => Date;
  /** How long a move waits for its snapshot to complete (EBS: minutes for a large first one). */
  snapshotWaitMs?: number;
}

export const VolumeEventSchema = z
  .object({
    action: z.enum(["snapshot", "restore", "move"]),
    /** `service/instance/volume` or a unit with one volume; a snapshot run without it takes every volume. */
    target: z.string().min(1).max(200).optional(),
    /** restore: a snapshot id or "latest". */
    snapshot: z.string().min(1).max(64).optional(),
    /** move: the zone of the new volume. */
    zone: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, "not an availability zone name (letters, digits, -)")
      .optional(),
    /** restore, move: only say what would be done. */
    dryRun: z.boolean().optional(),
  })
  .strict();
export type VolumeEvent = z.infer<typeof VolumeEventSchema>;

export interface SnapshotRunReport {
  action: "snapshot";
  taken: VolumeSnapshotRecord[];
  failed: { volume: string; error: string }[];
  deleted: string[];
  retention: VolumeRetention;
}

export interface SwapReport {
  action: "restore" | "move";
  dryRun: boolean;
  volume: string;
  /** The volume in use before (retired by the swap) and where it is attached. */
  current: { id: string; zone: string; node: string | null; sizeGiB: number; fromSnapshot: string | null };
  snapshot: { id: string; startedAt: string; sizeGiB: number } | null;
  zone: string;
  /** The volume in use after, when made (or reused from an interrupted run). */
  newVolume: string | null;
  /** Already done: the volume in use is what the swap would make; nothing changed. */
  already: string | null;
}

const withLock = async <T>(access: VolumeAccess, what: string, f: () => Promise<T>): Promise<T> => {
  const lock = await access.lock();
  if (!lock) throw new LockBusyError(`volumes: another run holds the volumes lock; ${what} did not start`);
  try {
    return await f();
  } finally {
    await lock.release().catch(() => {});
  }
};

/**
 * Snapshot every service volume in use (or the one `target` names), then apply retention to the
 * cluster's snapshots. A volume whose snapshot fails does not stop the others; retention never
 * deletes a volume's newest completed snapshot (planRetention).
 */
export async function snapshotVolumes(deps: VolumeOpsDeps, target?: string): Promise<SnapshotRunReport> {
  const retention = deps.retention ?? DEFAULT_VOLUME_RETENTION;
  const now = deps.now ?? (() => new Date());
  return withLock(deps.volumes, "the snapshot", async () => {
    const volumes = await deps.volumes.store.list();
    let chosen = volumesToSnapshot(volumes);
    if (target !== undefined) {
      const key = resolveVolumeTarget(target, volumes);
      if (typeof key === "string") throw new InvalidInputError("invalid volume snapshot", [key]);
      chosen = chosen.filter((v) => sameKey(v, key));
    }
    const taken: VolumeSnapshotRecord[] = [];
    const failed: SnapshotRunReport["failed"] = [];
    for (const v of chosen) {
      try {
        const s = await deps.snapshots.create(v);
        taken.push(s);
        deps.log.info("volumes: snapshot started", { volume: volumeKeyString(v), id: v.id, snapshot: s.id });
      } catch (e) {
        failed.push({ volume: volumeKeyString(v), error: (e as Error).message });
        deps.log.error("volumes: snapshot failed", {
          volume: volumeKeyString(v),
          id: v.id,
          error: (e as Error).message,
        });
      }
    }
    const deleted: string[] = [];
    for (const s of planRetention(await deps.snapshots.list(), retention, now())) {
      try {
        await deps.snapshots.delete(s.id);
        deleted.push(s.id);
        deps.log.info("volumes: snapshot expired", {
          volume: volumeKeyString(s),
          snapshot: s.id,
          startedAt: s.startedAt,
        });
      } catch (e) {
        deps.log.warn("volumes: snapshot not expired", { snapshot: s.id, error: (e as Error).message });
      }
    }
    return { action: "snapshot", taken, failed, deleted, retention };
  });
}

const sameKey = (a: VolumeKey, b: VolumeKey) =>
  a.service === b.service && a.instance === b.instance && a.volume === b.volume;

function describe(
  action: SwapReport["action"],
  dryRun: boolean,
  plan: SwapPlan | { key: VolumeKey; current: VolumeRecord },
  zone: string,
): SwapReport {
  const p = plan as Partial<SwapPlan> & { key: VolumeKey; current: VolumeRecord };
  return {
    action,
    dryRun,
    volume: volumeKeyString(p.key),
    current: {
      id: p.current.id,
      zone: p.current.zone,
      node: p.current.attachedTo ?? null,
      sizeGiB: p.current.sizeGiB,
      fromSnapshot: p.current.fromSnapshot ?? null,
    },
    snapshot: p.snapshot
      ? { id: p.snapshot.id, startedAt: p.snapshot.startedAt, sizeGiB: p.snapshot.sizeGiB }
      : null,
    zone,
    newVolume: p.made?.id ?? null,
    already: null,
  };
}

/**
 * The swap restore and move share, under the volumes lock: the new volume is made from the
 * snapshot (or the one an interrupted run made is reused), put in use, and only then is the old one
 * retired (kept, never deleted, still attached where the unit runs). The caller then runs a units
 * sync, whose fence stops the unit there before the old volume is detached and starts it on the new.
 */
async function swap(
  deps: VolumeOpsDeps,
  action: SwapReport["action"],
  cluster: string,
  input: { target: string; snapshot: string; zone?: string; dryRun: boolean },
): Promise<SwapReport> {
  const now = deps.now ?? (() => new Date());
  const plan = async () => {
    const [volumes, snapshots] = await Promise.all([deps.volumes.store.list(), deps.snapshots.list()]);
    const key = resolveVolumeTarget(input.target, volumes);
    if (typeof key === "string") throw new InvalidInputError(`invalid volume ${action}`, [key]);
    const p = planSwap({
      key,
      volumes,
      snapshots,
      snapshot: input.snapshot,
      ...(input.zone ? { zone: input.zone } : {}),
    });
    if (typeof p === "string") throw new InvalidInputError(`invalid volume ${action}`, [p]);
    return p;
  };
  if (input.dryRun) {
    const p = await plan();
    if ("done" in p) return { ...describe(action, true, p, p.current.zone), already: p.reason };
    return describe(action, true, p, p.zone);
  }
  return withLock(deps.volumes, `the ${action}`, async () => {
    const p = await plan();
    if ("done" in p) {
      deps.log.info(`volumes: ${action} already done`, { volume: volumeKeyString(p.key), reason: p.reason });
      return { ...describe(action, false, p, p.current.zone), already: p.reason };
    }
    const made =
      p.made ??
      (await deps.snapshots.createFrom(
        p.snapshot,
        p.current,
        p.zone,
        swapClientToken(cluster, p.current.id, p.snapshot.id, p.zone),
      ));
    deps.log.info("volumes: volume made from snapshot", {
      volume: volumeKeyString(p.key),
      id: made.id,
      snapshot: p.snapshot.id,
      zone: p.zone,
    });
    // The new one first can be current beside the old (the older wins), so at no moment has the
    // key no volume in use (a sync would create an empty one) and never two the fence could mix up.
    if (made.replaces) await deps.snapshots.promote(made.id);
    await deps.snapshots.retire(
      p.current.id,
      retiredValue(now(), action === "restore" ? "restored" : "moved", `${made.id} from ${p.snapshot.id}`),
    );
    deps.log.info(`volumes: ${action}: old volume retired (kept)`, {
      volume: volumeKeyString(p.key),
      retired: p.current.id,
      by: made.id,
    });
    return { ...describe(action, false, p, p.zone), newVolume: made.id };
  });
}

/** Restore a service volume from one of its snapshots (an id, or "latest"). */
export function restoreVolume(
  deps: VolumeOpsDeps,
  cluster: string,
  input: { target: string; snapshot: string; dryRun: boolean },
): Promise<SwapReport> {
  return swap(deps, "restore", cluster, input);
}

/**
 * Move a service volume to another zone: a snapshot of it now (waited for until completed), and the
 * swap to a volume made from it there. A retry after an interruption reuses what was made.
 */
export async function moveVolume(
  deps: VolumeOpsDeps,
  cluster: string,
  input: { target: string; zone: string; dryRun: boolean },
): Promise<SwapReport> {
  const zones = await deps.zones();
  if (!zones.includes(input.zone))
    throw new InvalidInputError("invalid volume move", [
      `zone ${input.zone} has no node of this cluster (its nodes are in ${zones.sort().join(", ") || "no zone"})`,
    ]);
  const volumes = await deps.volumes.store.list();
  const key = resolveVolumeTarget(input.target, volumes);
  if (typeof key === "string") throw new InvalidInputError("invalid volume move", [key]);
  const target = volumeKeyString(key);
  const current = volumes.find((v) => sameKey(v, key) && !v.retired && !v.replaces)!;
  if (current.zone === input.zone && !volumes.some((v) => v.replaces === current.id))
    return {
      ...describe("move", input.dryRun, { key, current }, input.zone),
      already: `volume ${current.id} is in ${input.zone} already`,
    };
  // An interrupted move left its volume (made, not yet in use): the swap reuses it with its snapshot.
  const pending = volumes.find((v) => v.replaces === current.id && v.zone === input.zone && v.fromSnapshot);
  if (input.dryRun)
    return { ...describe("move", true, { key, current }, input.zone), newVolume: pending?.id ?? null };
  let snapshot = pending?.fromSnapshot;
  if (!snapshot) {
    const s = await withLock(deps.volumes, "the move's snapshot", () => deps.snapshots.create(current));
    deps.log.info("volumes: move: snapshot started", { volume: target, snapshot: s.id });
    const done = await pollUntil(
      async () => {
        const now = (await deps.snapshots.list()).find((x) => x.id === s.id);
        if (now?.state === "error")
          throw new RefusedError(`volume move: snapshot ${s.id} failed; nothing was changed`);
        return now?.state === "completed" ? now : undefined;
      },
      { timeoutMs: deps.snapshotWaitMs ?? 600_000, intervalMs: 1_000, backoff: 1.5, maxIntervalMs: 15_000 },
    );
    if (!done)
      throw new RefusedError(
        `volume move: snapshot ${s.id} did not complete in time; nothing else was changed (run the move again: it waits for it)`,
      );
    snapshot = s.id;
  }
  return swap(deps, "move", cluster, { target, snapshot, zone: input.zone, dryRun: false });
}

/** The units function's `volume` event: parsed, then the one action it names. */
export async function runVolumeEvent(
  deps: VolumeOpsDeps,
  cluster: string,
  event: unknown,
): Promise<SnapshotRunReport | SwapReport> {
  const e = parseInput(VolumeEventSchema, event, "invalid volume event");
  const refuse = (m: string) => {
    throw new InvalidInputError("invalid volume event", [m]);
  };
  switch (e.action) {
    case "snapshot":
      if (e.snapshot !== undefined || e.zone !== undefined) refuse("a snapshot takes only a target");
      return snapshotVolumes(deps, e.target);
    case "restore":
      if (!e.target) refuse("a restore needs a target (service/instance/volume or a unit)");
      if (!e.snapshot) refuse("a restore needs a snapshot id or 'latest'");
      if (e.zone !== undefined) refuse("a restore keeps the volume's zone (move changes it)");
      return restoreVolume(deps, cluster, {
        target: e.target!,
        snapshot: e.snapshot!,
        dryRun: Boolean(e.dryRun),
      });
    case "move":
      if (!e.target) refuse("a move needs a target (service/instance/volume or a unit)");
      if (!e.zone) refuse("a move needs a zone");
      if (e.snapshot !== undefined) refuse("a move takes its own snapshot");
      return moveVolume(deps, cluster, { target: e.target!, zone: e.zone!, dryRun: Boolean(e.dryRun) });
  }
}
