// Test helpers for snapshot/restore: a main group in moto whose instances have loopback addresses,
// local node directories for them, and a real etcd cluster started on those nodes by node scripts.
import {
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
} from "@aws-sdk/client-ec2";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { Etcd3 } from "etcd3";
import type { AwsClients } from "../../../functions/adapters/aws/clients.ts";
import { awsGroups } from "../../../functions/adapters/aws/groups.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { etcdEnv, renderEnvFile } from "../../../functions/domain/etcdEnv.ts";
import { ETCD_DATA_DIR, ETCD_ENV_PATH } from "../../../functions/domain/firstBoot.ts";
import { CLUSTER_TAG, ROLE_TAG, etcdClientUrl } from "../../../functions/domain/model.ts";
import { prepareLocalNode } from "../../../local/node.ts";
import { waitUntil, httpOk } from "../../../local/processes.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import type { Config } from "../../../functions/runtime/config.ts";

export async function createBucket(aws: AwsClients, bucket: string) {
  await aws.s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      CreateBucketConfiguration: { LocationConstraint: LOCAL_REGION },
    }),
  );
}

/** A VPC and subnet on the rig's loopback block: instances launched in it get 127.A.B.x addresses. */
export async function loopbackSubnet(aws: AwsClients, prefix: string, third: number) {
  const vpc = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: `${prefix}.0/24` }));
  const subnet = await aws.ec2.send(
    new CreateSubnetCommand({
      VpcId: vpc.Vpc!.VpcId!,
      CidrBlock: `${prefix}.${third}/26`,
      AvailabilityZone: `${LOCAL_REGION}a`,
    }),
  );
  return subnet.Subnet!.SubnetId!;
}

export async function createMainGroup(
  aws: AwsClients,
  opts: { name: string; cluster: string; subnetId: string; size: number },
) {
  const images = await aws.ec2.send(new DescribeImagesCommand({}));
  const imageId = images.Images![0]!.ImageId!;
  await aws.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `${opts.name}-lt`,
      LaunchTemplateData: { ImageId: imageId, InstanceType: "t3.small" },
    }),
  );
  await aws.autoscaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: opts.name,
      LaunchTemplate: { LaunchTemplateName: `${opts.name}-lt` },
      MinSize: opts.size,
      MaxSize: opts.size,
      DesiredCapacity: opts.size,
      VPCZoneIdentifier: opts.subnetId,
      Tags: [
        {
          Key: ROLE_TAG,
          Value: "main",
          PropagateAtLaunch: true,
          ResourceId: opts.name,
          ResourceType: "auto-scaling-group",
        },
        {
          Key: CLUSTER_TAG,
          Value: opts.cluster,
          PropagateAtLaunch: true,
          ResourceId: opts.name,
          ResourceType: "auto-scaling-group",
        },
      ],
    }),
  );
  return mainNodes(aws, opts.name);
}

/** The group's instances with their (loopback) private addresses, by instance id. */
export async function mainNodes(aws: AwsClients, group: string) {
  const groups = awsGroups(aws);
  const [g] = await groups.describeGroups([group]);
  const inService = g!.members.filter((m) => m.lifecycleState === "InService").map((m) => m.instanceId);
  const instances = await groups.describeInstances(inService);
  for (const i of instances) {
    if (!i.privateIp.startsWith("127."))
      throw new Error(`instance ${i.instanceId} got a non-loopback address ${i.privateIp}`);
  }
  return instances.sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
}

/** Replace every instance of the group (the ASG launches new ones with new ids and addresses). */
export async function replaceAllInstances(aws: AwsClients, group: string) {
  const before = await mainNodes(aws, group);
  for (const i of before) {
    await aws.autoscaling.send(
      new TerminateInstanceInAutoScalingGroupCommand({
        InstanceId: i.instanceId,
        ShouldDecrementDesiredCapacity: false,
      }),
    );
  }
  await waitUntil(
    "replacement instances",
    async () => {
      const res = await aws.autoscaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }),
      );
      const ids = (res.AutoScalingGroups?.[0]?.Instances ?? [])
        .filter((x) => x.LifecycleState === "InService")
        .map((x) => x.InstanceId);
      return ids.length === before.length && ids.every((id) => !before.some((b) => b.instanceId === id));
    },
    10_000,
    100,
  );
  return mainNodes(aws, group);
}

/** Lay out node dirs and start a brand-new etcd cluster on them through node scripts. */
export async function startClusterOnNodes(
  root: string,
  nodes: { instanceId: string; privateIp: string }[],
  token: string,
) {
  const cmds = createLocalCommands({ root });
  const initialCluster = nodes.map((n) => ({ name: n.instanceId, ip: n.privateIp }));
  for (const n of nodes) prepareLocalNode(root, n.instanceId, "main");
  const results = await Promise.all(
    nodes.map((n) => {
      const env = etcdEnv({
        name: n.instanceId,
        ip: n.privateIp,
        dataDir: "__DATA__",
        initialCluster,
        state: "new",
        token,
      });
      const file = renderEnvFile(env).replace("__DATA__", `$ROOT${ETCD_DATA_DIR}`);
      const script = `mkdir -p "$ROOT/etc/etcd"\ncat > "$ROOT${ETCD_ENV_PATH}" <<EOT\n${file}EOT\nsystemctl daemon-reload\nsystemctl enable etcd-member.service\nsystemctl start --no-block etcd-member.service`;
      return cmds.run({ instanceIds: [n.instanceId], script, comment: "start etcd" }).then((r) => r[0]!);
    }),
  );
  for (const r of results)
    if (r.status !== "Success") throw new Error(`start on ${r.instanceId}: ${r.stderr}`);
  await Promise.all(
    nodes.map((n) =>
      waitUntil(`etcd on ${n.privateIp}`, () => httpOk(`${etcdClientUrl(n.privateIp)}/health`), 20_000, 50),
    ),
  );
  return cmds;
}

/** Put `count` keys of `size` bytes under `prefix`, in parallel batches. */
export async function loadKeys(endpoints: string[], prefix: string, count: number, size = 64) {
  const client = new Etcd3({ hosts: endpoints });
  try {
    const batch = 200;
    for (let i = 0; i < count; i += batch) {
      await Promise.all(
        Array.from({ length: Math.min(batch, count - i) }, (_, j) => {
          const n = i + j;
          return client.put(`${prefix}${String(n).padStart(7, "0")}`).value(valueFor(n, size));
        }),
      );
    }
  } finally {
    client.close();
  }
}

export const valueFor = (n: number, size: number) =>
  `v${n}-`.padEnd(size, String.fromCharCode(97 + (n % 26)));

export async function allKeys(endpoints: string[]): Promise<Map<string, string>> {
  const client = new Etcd3({ hosts: endpoints });
  try {
    const all = await client.getAll().strings();
    return new Map(Object.entries(all));
  } finally {
    client.close();
  }
}

export function testConfig(
  over: Partial<Config> & { SNAPSHOT_BUCKET: string; GROUP_MAIN: string; CLUSTER_NAME: string },
): Config {
  return {
    CLUSTER_DOMAIN: "dev.internal",
    PRIVATE_ZONE_ID: "Z1",
    SNAPSHOT_PREFIX: "etcd-snapshots/",
    GROUP_WORKER: "w",
    GROUP_DATA: "d",
    RETAIN_LAST: 24,
    RETAIN_DAYS: 14,
    AUTO_RESTORE: false,
    ETCD_TLS: false,
    SERVICES: [],
    METRIC_NAMESPACE: "Devcluster",
    ...over,
  };
}
