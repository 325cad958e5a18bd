// VolumeSource over EC2: the EBS volumes that carry the cluster's tag, with the instance each is
// attached to (DescribeVolumes, paged).
import { DescribeVolumesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { CLUSTER_TAG } from "../../domain/model.ts";
import type { VolumeView } from "../../domain/clusterView.ts";
import type { VolumeSource } from "../../ports/clusterView.ts";

export function ec2Volumes(ec2: EC2Client, cluster: string): VolumeSource {
  return {
    async list() {
      const out: VolumeView[] = [];
      let token: string | undefined;
      do {
        const res = await ec2.send(
          new DescribeVolumesCommand({
            Filters: [{ Name: `tag:${CLUSTER_TAG}`, Values: [cluster] }],
            NextToken: token,
          }),
        );
        for (const v of res.Volumes ?? []) {
          out.push({
            id: v.VolumeId!,
            machine: v.Attachments?.find((a) => a.State === "attached")?.InstanceId ?? "",
            size: v.Size ?? 0,
            state: String(v.State ?? "unknown"),
          });
        }
        token = res.NextToken;
      } while (token);
      return out;
    },
  };
}
