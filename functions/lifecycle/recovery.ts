// Total loss: telling a lost cluster from a new one, and recovering it. A cluster of which a valid
// snapshot exists has been formed before; when no member of it answers, reconcile restores it (or
// raises the alarm) instead of bootstrapping an empty one.
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import { layoutOf, validSnapshots } from "../core/snapshots.ts";
import { awsClients } from "../adapters/aws.ts";
import { s3SnapshotStore } from "../adapters/s3Snapshots.ts";


export function snapshotHistory(cfg: Config) {
  return {
    async formedBefore(): Promise<boolean> {
      const layout = layoutOf(cfg);
      const store = s3SnapshotStore(awsClients().s3, cfg.SNAPSHOT_BUCKET, layout);
      return validSnapshots(layout, await store.list()).length > 0;
    },
  };
}

/**
 * After a restore: rewrite the discovery records and the registry's DNS, and re-push every node's
 * units, by running reconcile on the restored cluster.
 */
export async function rediscoverAfterRestore(log: Logger): Promise<void> {
  const [{ handleReconcile }, { defaultDeps }] = await Promise.all([import("../reconcile.ts"), import("./deps.ts")]);
  const report = await handleReconcile(defaultDeps(), log.child({ op: "afterRestore" }), { recover: false });
  if (report.failed.length) log.warn("restore: follow-up reconcile left failures", { failed: report.failed });
}

/** reconcile's answer to total loss: restore the newest valid snapshot if AUTO_RESTORE allows, else alarm. */
export async function recoverFromTotalLoss(cfg: Config, log: Logger): Promise<{ action: string; reason?: string }> {
  const { recoverIfTotalLoss, defaultRestoreDeps } = await import("../restore.ts");
  const out = await recoverIfTotalLoss(defaultRestoreDeps(cfg, log, { afterRestore: () => rediscoverAfterRestore(log) }));
  return out.action === "restored" ? { action: "restored" } : { action: out.action, reason: out.reason };
}
