// The EBS volumes adapter, which wiring.ts loads on demand (apart from the groups adapter, so the
// snapshot function's bundle, which loads groups, carries no volume calls).
import { awsClients } from "../adapters/aws/clients.ts";
import { ec2Volumes } from "../adapters/aws/ec2Volumes.ts";
import { ec2VolumeSnapshots, listVolumeSnapshots } from "../adapters/aws/ec2VolumeSnapshots.ts";
import type { VolumeSnapshotRecord } from "../domain/volumeSnapshots.ts";
import type { VolumeSnapshots, Volumes } from "../ports/volumes.ts";

export function loadAwsVolumes(cluster: string): Volumes {
  return ec2Volumes(awsClients().ec2, cluster);
}

/** The snapshots of the cluster's service volumes, read only (status: no snapshot is taken there). */
export function listAwsVolumeSnapshots(cluster: string): Promise<VolumeSnapshotRecord[]> {
  return listVolumeSnapshots(awsClients().ec2, cluster);
}

/** Snapshots and swaps (the units function only). */
export function loadAwsVolumeSnapshots(cluster: string): VolumeSnapshots {
  return ec2VolumeSnapshots(awsClients().ec2, cluster);
}
