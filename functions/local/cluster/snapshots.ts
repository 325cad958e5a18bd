// The valid snapshots of a local cluster, as `status` lists them (read from moto's S3 like restore does).
import { S3Client } from "@aws-sdk/client-s3";
import { s3SnapshotStore } from "../../adapters/s3Snapshots.ts";
import { validity, type SnapshotLayout } from "../../core/snapshots.ts";
import type { LocalState } from "./state.ts";

export async function listValidSnapshots(state: LocalState) {
  const layout: SnapshotLayout = { prefix: process.env.SNAPSHOT_PREFIX ?? "etcd-snapshots/", cluster: state.clusterName };
  const store = s3SnapshotStore(new S3Client({ forcePathStyle: true }), state.bucket, layout);
  const all = await store.list();
  return all
    .filter((o) => validity(layout, o) === undefined)
    .map((o) => ({
      key: o.id,
      time: o.manifest!.completedAt,
      revision: o.manifest!.revision,
      keys: o.manifest!.keyCount,
      bytes: o.manifest!.size,
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}
