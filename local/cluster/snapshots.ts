// The valid snapshots of a local cluster, as `status` lists them (read from moto's S3 like restore does).
import { createAwsClients } from "../../functions/adapters/aws/clients.ts";
import { s3SnapshotStore } from "../../functions/adapters/aws/s3Snapshots.ts";
import { loadConfig } from "../../functions/runtime/config.ts";
import { layoutOf, validSnapshots } from "../../functions/domain/snapshots.ts";
import type { LocalState } from "./state.ts";

/** The environment already points at the cluster (its configuration, moto's endpoint). */
export async function listValidSnapshots(state: LocalState) {
  const layout = layoutOf(loadConfig());
  const store = s3SnapshotStore(createAwsClients().s3, state.bucket, layout);
  return validSnapshots(layout, await store.list())
    .map((o) => ({
      key: o.id,
      time: o.manifest!.completedAt,
      revision: o.manifest!.revision,
      keys: o.manifest!.keyCount,
      bytes: o.manifest!.size,
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}
