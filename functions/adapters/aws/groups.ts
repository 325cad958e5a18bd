// Groups port over Auto Scaling and EC2 (AWS SDK v3).
import { DescribeAutoScalingGroupsCommand, type AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import {
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  type EC2Client,
} from "@aws-sdk/client-ec2";
import {
  CLUSTER_TAG,
  ROLES,
  ROLE_TAG,
  type GroupInfo,
  type InstanceInfo,
  type Role,
} from "../../domain/model.ts";
import { InvalidInputError } from "../../domain/errors.ts";
import type { Groups } from "../../ports/index.ts";

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
            throw new InvalidInputError(
              `group ${g.AutoScalingGroupName} has no valid ${ROLE_TAG} tag (got ${role ?? "none"})`,
            );
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
      for (let i = 0; i < ids.length; i += 200) {
        const chunk = ids.slice(i, i + 200);
        // By id is the cheap lookup; an unknown id fails the whole call, and then a filter (which
        // simply omits it) answers instead.
        try {
          await describe(clients.ec2, { InstanceIds: chunk }, out);
        } catch (e) {
          if (!(
            e instanceof Error && /InvalidInstanceID\.(NotFound|Malformed)/.test(`${e.name} ${e.message}`)
          ))
            throw e;
          await describe(clients.ec2, { Filters: [{ Name: "instance-id", Values: chunk }] }, out);
        }
      }
      return out;
    },
  };
}

async function describe(ec2: EC2Client, input: DescribeInstancesCommandInput, out: InstanceInfo[]) {
  let token: string | undefined;
  do {
    const res = await ec2.send(new DescribeInstancesCommand({ ...input, NextToken: token }));
    for (const r of res.Reservations ?? []) {
      for (const inst of r.Instances ?? []) {
        if (!inst.InstanceId || !inst.PrivateIpAddress) continue;
        out.push({
          instanceId: inst.InstanceId,
          privateIp: inst.PrivateIpAddress,
          publicIp: inst.PublicIpAddress,
          zone: inst.Placement?.AvailabilityZone ?? "",
          state: inst.State?.Name ?? "unknown",
          clusterTag: inst.Tags?.find((t) => t.Key === CLUSTER_TAG)?.Value,
        });
      }
    }
    token = res.NextToken;
  } while (token);
}
