// Volumes port over EC2 (AWS SDK v3): the cluster's volumes by tag; encrypted gp3 creation with an
// idempotency token derived from the volume's identity.
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Tag,
  type Volume,
} from "@aws-sdk/client-ec2";
import { DevclusterError } from "../../domain/errors.ts";
import { VOLUME_TAGS, volumeClientToken, type VolumeRecord } from "../../domain/volumes.ts";
import type { Volumes } from "../../ports/volumes.ts";

/** A volume as EC2 describes it, read through its tags; undefined when it is not a service volume. */
export function volumeRecord(v: Volume): VolumeRecord | undefined {
  const tag = (k: string) => v.Tags?.find((t) => t.Key === k)?.Value;
  const [service, instance, volume] = [
    tag(VOLUME_TAGS.service),
    tag(VOLUME_TAGS.instance),
    tag(VOLUME_TAGS.volume),
  ];
  // A volume tagged with the cluster but not as a service volume is not ours to manage.
  if (!v.VolumeId || !service || !instance || !volume) return undefined;
  const attachment = v.Attachments?.find((a) => a.State !== "detached");
  const attached = attachment?.InstanceId;
  const [retired, replaces, fromSnapshot] = [
    tag(VOLUME_TAGS.retired),
    tag(VOLUME_TAGS.replaces),
    tag(VOLUME_TAGS.fromSnapshot),
  ];
  return {
    id: v.VolumeId,
    service,
    instance,
    volume,
    zone: v.AvailabilityZone ?? "",
    sizeGiB: v.Size ?? 0,
    state: String(v.State ?? "unknown"),
    ...(attached ? { attachedTo: attached } : {}),
    ...(attached && attachment?.Device ? { device: attachment.Device } : {}),
    ...(attached && attachment?.State ? { attachState: String(attachment.State) } : {}),
    ...(retired ? { retired } : {}),
    ...(replaces ? { replaces } : {}),
    ...(fromSnapshot ? { fromSnapshot } : {}),
    ...(v.CreateTime ? { createdAt: v.CreateTime.toISOString() } : {}),
  };
}

export function ec2Volumes(ec2: EC2Client, cluster: string): Volumes {
  return {
    async list() {
      const out: VolumeRecord[] = [];
      let token: string | undefined;
      do {
        const res = await ec2.send(
          new DescribeVolumesCommand({
            Filters: [{ Name: `tag:${VOLUME_TAGS.cluster}`, Values: [cluster] }],
            NextToken: token,
          }),
        );
        for (const v of res.Volumes ?? []) {
          const r = volumeRecord(v);
          if (r) out.push(r);
        }
        token = res.NextToken;
      } while (token);
      return out;
    },

    async attach(volumeId, instanceId, device) {
      await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }));
    },

    async detach(volumeId, instanceId) {
      await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Force: false }));
    },

    async instanceStates(ids) {
      const out: Record<string, string> = {};
      if (!ids.length) return out;
      // A filter, not InstanceIds: an id EC2 no longer knows is left out instead of failing the call.
      let token: string | undefined;
      do {
        const res = await ec2.send(
          new DescribeInstancesCommand({ Filters: [{ Name: "instance-id", Values: ids }], NextToken: token }),
        );
        for (const r of res.Reservations ?? [])
          for (const i of r.Instances ?? [])
            if (i.InstanceId) out[i.InstanceId] = String(i.State?.Name ?? "unknown");
        token = res.NextToken;
      } while (token);
      return out;
    },

    async create(req) {
      const Tags: Tag[] = [
        { Key: VOLUME_TAGS.cluster, Value: cluster },
        { Key: VOLUME_TAGS.service, Value: req.service },
        { Key: VOLUME_TAGS.instance, Value: req.instance },
        { Key: VOLUME_TAGS.volume, Value: req.volume },
        { Key: "Name", Value: `${cluster}/${req.instance}/${req.volume}` },
      ];
      try {
        const v = await ec2.send(
          new CreateVolumeCommand({
            AvailabilityZone: req.zone,
            Size: req.sizeGiB,
            VolumeType: "gp3",
            Encrypted: true,
            ClientToken: volumeClientToken(cluster, req),
            TagSpecifications: [{ ResourceType: "volume", Tags }],
          }),
        );
        const r = volumeRecord({ ...v, Tags: v.Tags?.length ? v.Tags : Tags });
        if (!r)
          throw new DevclusterError(`CreateVolume returned no volume id for ${req.instance}/${req.volume}`);
        return r;
      } catch (e) {
        // The token is the volume's identity: a mismatch means it was created before with other
        // settings (another zone or size), which a create must never paper over with a second one.
        if ((e as { name?: string }).name === "IdempotentParameterMismatch")
          throw new DevclusterError(
            `volume ${req.instance}/${req.volume} was already created with other settings than ${req.zone}/${req.sizeGiB} GiB`,
            { cause: e },
          );
        throw e;
      }
    },
  };
}
