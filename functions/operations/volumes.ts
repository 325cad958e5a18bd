// Service volumes inside a units sync: create the volumes a placement needs, once each, and bring
// each one to its unit's node (attach, detach) under the fencing rules.
import { LockBusyError } from "../domain/errors.ts";
import {
  currentVolume,
  volumeKeyString,
  type VolumeCreate,
  type VolumeNeed,
  type VolumeRecord,
} from "../domain/volumes.ts";
import { planAttachments, unitOfVolumes, type VolumeAction } from "../domain/volumeAttachments.ts";
import { pollUntil } from "../domain/poll.ts";
import type { NodeMount } from "../domain/units/push.ts";
import type { Placement } from "../domain/units/placement.ts";
import type { Logger } from "../ports/log.ts";
import type { VolumeAccess } from "../ports/volumes.ts";

/**
 * Create each volume of `creates` that does not exist yet. Under the volumes lock the cluster's
 * volumes are listed again, so two syncs never both create one (moto ignores EC2's ClientToken, and
 * on AWS a describe may lag a create; the token covers a retry of the same call on AWS).
 */
export async function ensureVolumes(
  access: VolumeAccess,
  creates: VolumeCreate[],
  log: Logger,
): Promise<VolumeRecord[]> {
  if (!creates.length) return [];
  const lock = await access.lock();
  if (!lock) throw new LockBusyError("volumes: another sync is creating volumes; try again");
  try {
    const existing = await access.store.list();
    const made: VolumeRecord[] = [];
    for (const c of creates) {
      if (currentVolume(existing, c)) continue;
      const v = await access.store.create(c);
      existing.push(v);
      made.push(v);
      log.info("volumes: created", {
        volume: volumeKeyString(c),
        id: v.id,
        zone: v.zone,
        sizeGiB: v.sizeGiB,
      });
    }
    return made;
  } finally {
    await lock.release().catch(() => {});
  }
}

export interface FenceResult {
  /** What was done (detaches and attaches, each carried out and waited for). */
  done: VolumeAction[];
  /** Placed units that must not start on their node yet, with why. */
  held: { unit: string; reason: string }[];
  /** unit -> the volumes its node mounts before starting it. */
  mounts: Record<string, NodeMount[]>;
}

/** How long an attachment or a detachment may take to settle (EC2 takes seconds, rarely a minute). */
export const ATTACH_WAIT_MS = 90_000;

/**
 * Bring each placed unit's volumes to its node, fenced (`planAttachments`): detach what the rules
 * allow (a node gone, or a unit its node reported stopped), attach what is free, and wait for EC2
 * to settle each one. Under the volumes lock, so two syncs never act on the same volume at once;
 * EC2 itself refuses a second attachment. A step that fails holds its unit and the rest goes on.
 */
export async function fenceVolumes(
  access: VolumeAccess,
  needs: VolumeNeed[],
  placement: Placement,
  reported: Record<string, string[]>,
  log: Logger,
  waitMs = ATTACH_WAIT_MS,
): Promise<FenceResult> {
  const lock = await access.lock();
  if (!lock) throw new LockBusyError("volumes: another sync is attaching volumes; try again");
  try {
    const store = access.store;
    const volumes = await store.list();
    const nodes = [...new Set(volumes.flatMap((v) => (v.attachedTo ? [v.attachedTo] : [])))];
    const instanceStates = await store.instanceStates(nodes);
    const plan = planAttachments({ needs, volumes, placement, reported, instanceStates });
    const held = new Map(plan.held.map((h) => [h.unit, h.reason]));
    const unitOf = unitOfVolumes(needs, volumes);
    const hold = (volumeId: string, reason: string) => {
      const unit = unitOf.get(volumeId);
      if (unit) held.set(unit, [held.get(unit), reason].filter(Boolean).join("; "));
    };
    const settled = (id: string, ok: (v: VolumeRecord | undefined) => boolean) =>
      pollUntil(async () => (ok((await store.list()).find((v) => v.id === id)) ? true : undefined), {
        timeoutMs: waitMs,
        intervalMs: 250,
        backoff: 1.5,
        maxIntervalMs: 2_000,
      });
    const done: VolumeAction[] = [];
    const failed = new Set<string>();
    for (const a of plan.actions.filter((x) => x.kind === "detach")) {
      try {
        await store.detach(a.volumeId, a.from);
      } catch (e) {
        // EC2 detaches a terminated instance's volumes itself: only a volume still there is a failure.
        const now = (await store.list()).find((v) => v.id === a.volumeId);
        if (now?.attachedTo === a.from && now.attachState !== "detaching") {
          failed.add(a.volumeId);
          hold(
            a.volumeId,
            `volume ${a.volumeId} could not be detached from ${a.from}: ${(e as Error).message}`,
          );
          log.error("volumes: detach failed", {
            volume: a.volumeId,
            from: a.from,
            error: (e as Error).message,
          });
          continue;
        }
      }
      if (!(await settled(a.volumeId, (v) => !v?.attachedTo))) {
        failed.add(a.volumeId);
        hold(a.volumeId, `volume ${a.volumeId} is still detaching from ${a.from}`);
        log.warn("volumes: detach did not settle", { volume: a.volumeId, from: a.from });
        continue;
      }
      done.push(a);
      log.info("volumes: detached", { volume: a.volumeId, from: a.from, reason: a.reason });
    }
    const mounts: Record<string, NodeMount[]> = {};
    for (const a of plan.actions.filter((x) => x.kind === "attach")) {
      if (failed.has(a.volumeId)) continue;
      try {
        await store.attach(a.volumeId, a.to, a.device);
      } catch (e) {
        failed.add(a.volumeId);
        hold(a.volumeId, `volume ${a.volumeId} could not be attached to ${a.to}: ${(e as Error).message}`);
        log.error("volumes: attach failed", { volume: a.volumeId, to: a.to, error: (e as Error).message });
        continue;
      }
      if (!(await settled(a.volumeId, (v) => v?.attachedTo === a.to && v.attachState === "attached"))) {
        failed.add(a.volumeId);
        hold(a.volumeId, `volume ${a.volumeId} is still attaching to ${a.to}`);
        log.warn("volumes: attach did not settle", { volume: a.volumeId, to: a.to });
        continue;
      }
      done.push(a);
      log.info("volumes: attached", { volume: a.volumeId, to: a.to, device: a.device });
    }
    const devices = new Map(
      plan.actions.flatMap((a) => (a.kind === "attach" ? [[a.volumeId, a.device] as const] : [])),
    );
    for (const n of needs) {
      const node = placement[n.unit]?.[0];
      const v = currentVolume(volumes, n);
      if (!node || !v || held.has(n.unit)) continue;
      const device = devices.get(v.id) ?? v.device;
      if (!device) continue;
      (mounts[n.unit] ??= []).push({ unit: n.unit, volumeId: v.id, device, path: n.path });
    }
    for (const [unit, reason] of held) log.warn("volumes: unit held", { unit, reason });
    return {
      done,
      held: [...held]
        .map(([unit, reason]) => ({ unit, reason }))
        .sort((a, b) => a.unit.localeCompare(b.unit)),
      mounts,
    };
  } finally {
    await lock.release().catch(() => {});
  }
}
