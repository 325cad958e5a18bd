// The read-only listing of the service volumes' snapshots, which the status function loads on demand
// (apart from volumesLoader.ts, so the other functions' bundles and roles hold no snapshot call).
import { awsClients } from "../adapters/aws/clients.ts";
import { listVolumeSnapshots } from "../adapters/aws/ec2VolumeSnapshotList.ts";
import type { VolumeSnapshotRecord } from "../domain/volumeSnapshots.ts";

export function listAwsVolumeSnapshots(cluster: string): Promise<VolumeSnapshotRecord[]> {
  return listVolumeSnapshots(awsClients().ec2, cluster);
}
