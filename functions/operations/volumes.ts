// Service volumes inside a units sync: create the volumes a placement needs, once each.
import { LockBusyError } from "../domain/errors.ts";
import { currentVolume, volumeKeyString, type VolumeCreate, type VolumeRecord } from "../domain/volumes.ts";
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
