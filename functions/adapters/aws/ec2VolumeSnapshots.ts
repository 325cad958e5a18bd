// Volume snapshots port over EC2 (AWS SDK v3): snapshots of the cluster's service volumes found by
// tag, and the swap's calls (a volume from a snapshot, its promotion, the old one's retirement).
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  type EC2Client,
  type Tag,
} from "@aws-sdk/client-ec2";
import { DevclusterError } from "../../domain/errors.ts";
import { VOLUME_TAGS } from "../../domain/volumes.ts";
import { SOURCE_VOLUME_TAG } from "../../domain/volumeSnapshots.ts";
import type { VolumeSnapshots } from "../../ports/volumes.ts";
import { volumeRecord } from "./ec2Volumes.ts";
import { listVolumeSnapshots, snapshotRecord } from "./ec2VolumeSnapshotList.ts";

export function ec2VolumeSnapshots(ec2: EC2Client, cluster: string): VolumeSnapshots {
  const keyTags = (k: { service: string; instance: string; volume: string }): Tag[] => [
    { Key: VOLUME_TAGS.cluster, Value: cluster },
    { Key: VOLUME_TAGS.service, Value: k.service },
    { Key: VOLUME_TAGS.instance, Value: k.instance },
    { Key: VOLUME_TAGS.volume, Value: k.volume },
    { Key: "Name", Value: `${cluster}/${k.instance}/${k.volume}` },
  ];
  return {
    list: () => listVolumeSnapshots(ec2, cluster),

    async create(v) {
      const Tags = [...keyTags(v), { Key: SOURCE_VOLUME_TAG, Value: v.id }];
      const s = await ec2.send(
        new CreateSnapshotCommand({
          VolumeId: v.id,
          Description: `devcluster ${cluster} ${v.service}/${v.instance}/${v.volume}`,
          TagSpecifications: [{ ResourceType: "snapshot", Tags }],
        }),
      );
      const r = snapshotRecord({ ...s, Tags: s.Tags?.length ? s.Tags : Tags });
      if (!r) throw new DevclusterError(`CreateSnapshot returned no snapshot id for volume ${v.id}`);
      return r;
    },

    async delete(id) {
      await ec2.send(new DeleteSnapshotCommand({ SnapshotId: id }));
    },

    async createFrom(snapshot, replaces, zone, clientToken) {
      const Tags: Tag[] = [
        ...keyTags(replaces),
        { Key: VOLUME_TAGS.fromSnapshot, Value: snapshot.id },
        { Key: VOLUME_TAGS.replaces, Value: replaces.id },
      ];
      const v = await ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: zone,
          SnapshotId: snapshot.id,
          // Never smaller than what it replaces (a snapshot restores into at least its own size).
          Size: Math.max(replaces.sizeGiB, snapshot.sizeGiB),
          VolumeType: "gp3",
          Encrypted: true,
          ClientToken: clientToken,
          TagSpecifications: [{ ResourceType: "volume", Tags }],
        }),
      );
      const r = volumeRecord({ ...v, Tags: v.Tags?.length ? v.Tags : Tags });
      if (!r) throw new DevclusterError(`CreateVolume returned no volume id for snapshot ${snapshot.id}`);
      return r;
    },

    async promote(volumeId) {
      await ec2.send(new DeleteTagsCommand({ Resources: [volumeId], Tags: [{ Key: VOLUME_TAGS.replaces }] }));
    },

    async retire(volumeId, value) {
      await ec2.send(
        new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: VOLUME_TAGS.retired, Value: value }] }),
      );
    },
  };
}
