// Snapshots of the cluster's service volumes as EC2 lists them (read only: the status function's
// part, apart from ec2VolumeSnapshots.ts so its bundle, and so its role, holds no snapshot writes).
import { DescribeSnapshotsCommand, type EC2Client, type Snapshot } from "@aws-sdk/client-ec2";
import { VOLUME_TAGS } from "../../domain/volumes.ts";
import { SOURCE_VOLUME_TAG, type VolumeSnapshotRecord } from "../../domain/volumeSnapshots.ts";

export function snapshotRecord(s: Snapshot): VolumeSnapshotRecord | undefined {
  const tag = (k: string) => s.Tags?.find((t) => t.Key === k)?.Value;
  const [service, instance, volume, source] = [
    tag(VOLUME_TAGS.service),
    tag(VOLUME_TAGS.instance),
    tag(VOLUME_TAGS.volume),
    tag(SOURCE_VOLUME_TAG),
  ];
  // Tagged with the cluster but not as a service volume's snapshot: not ours to manage.
  if (!s.SnapshotId || !service || !instance || !volume || !source) return undefined;
  return {
    id: s.SnapshotId,
    service,
    instance,
    volume,
    volumeId: source,
    state: String(s.State ?? "unknown"),
    startedAt: s.StartTime ? s.StartTime.toISOString() : "",
    sizeGiB: s.VolumeSize ?? 0,
  };
}

/** Every snapshot of the cluster's service volumes this account owns (any state). */
export async function listVolumeSnapshots(ec2: EC2Client, cluster: string): Promise<VolumeSnapshotRecord[]> {
  const out: VolumeSnapshotRecord[] = [];
  let token: string | undefined;
  do {
    const res = await ec2.send(
      new DescribeSnapshotsCommand({
        // Only this account's own: a public or shared snapshot with a forged tag is never ours.
        OwnerIds: ["self"],
        Filters: [{ Name: `tag:${VOLUME_TAGS.cluster}`, Values: [cluster] }],
        NextToken: token,
      }),
    );
    for (const s of res.Snapshots ?? []) {
      const r = snapshotRecord(s);
      if (r) out.push(r);
    }
    token = res.NextToken;
  } while (token);
  return out;
}
