// Groups port over Auto Scaling and EC2 (AWS SDK v3).
import { DescribeAutoScalingGroupsCommand, type AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { DescribeInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { ROLES, ROLE_TAG, type GroupInfo, type InstanceInfo, type Role } from "../core/model.ts";
import { InvalidInputError } from "../core/errors.ts";
import type { Groups } from "../ports/index.ts";

const isRole = (v: string | undefined): v is Role => (ROLES as readonly string[]).includes(v ?? "");

export function awsGroups(clients: { autoscaling: AutoScalingClient; ec2: EC2Client }): Groups {
  return {
    async describeGroups(names) {
      if (names.length === 0) return [];
      const out: GroupInfo[] = [];
      let token: string | undefined;
      do {
        const res = await clients.autoscaling.send(
          new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names, NextToken: token }),
        );
        for (const g of res.AutoScalingGroups ?? []) {
          const role = g.Tags?.find((t) => t.Key === ROLE_TAG)?.Value;
          if (!isRole(role)) {
            throw new InvalidInputError(`group ${g.AutoScalingGroupName} has no valid ${ROLE_TAG} tag (got ${role ?? "none"})`);
          }
          out.push({
            name: g.AutoScalingGroupName!,
            role,
            desired: g.DesiredCapacity ?? 0,
            min: g.MinSize ?? 0,
            max: g.MaxSize ?? 0,
            members: (g.Instances ?? []).map((i) => ({
              instanceId: i.InstanceId!,
              lifecycleState: String(i.LifecycleState ?? "unknown"),
              healthStatus: i.HealthStatus ?? "unknown",
              zone: i.AvailabilityZone ?? "",
            })),
          });
        }
        token = res.NextToken;
      } while (token);
      return out;
    },

    async describeInstances(ids) {
      if (ids.length === 0) return [];
      const out: InstanceInfo[] = [];
      // A filter (not InstanceIds) so an unknown id is simply absent instead of failing the call.
      for (let i = 0; i < ids.length; i += 200) {
        let token: string | undefined;
        do {
          const res = await clients.ec2.send(
            new DescribeInstancesCommand({
              Filters: [{ Name: "instance-id", Values: ids.slice(i, i + 200) }],
              NextToken: token,
            }),
          );
          for (const r of res.Reservations ?? []) {
            for (const inst of r.Instances ?? []) {
              if (!inst.InstanceId || !inst.PrivateIpAddress) continue;
              out.push({
                instanceId: inst.InstanceId,
                privateIp: inst.PrivateIpAddress,
                publicIp: inst.PublicIpAddress,
                zone: inst.Placement?.AvailabilityZone ?? "",
                state: inst.State?.Name ?? "unknown",
              });
            }
          }
          token = res.NextToken;
        } while (token);
      }
      return out;
    },
  };
}
