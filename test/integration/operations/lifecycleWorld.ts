// A small world for the lifecycle tests and bench: three Auto Scaling groups in moto on a loopback
// VPC (instances get 127.A.B.x private addresses inside the rig's block), a private hosted zone, the
// local command runner with node directories, and the handlers' dependencies wired to all of it.
import {
  CreateAutoScalingGroupCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import { CreateLaunchTemplateCommand, CreateSubnetCommand, CreateVpcCommand } from "@aws-sdk/client-ec2";
import {
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { Etcd3 } from "etcd3";
import { createAwsClients, type AwsClients } from "../../../functions/adapters/aws/clients.ts";
import { awsGroups } from "../../../functions/adapters/aws/groups.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { route53Dns } from "../../../functions/adapters/aws/route53Dns.ts";
import { createLogger, type Logger } from "../../../functions/runtime/log.ts";
import { CLUSTER_TAG, ROLE_TAG, etcdClientUrl, type Role } from "../../../functions/domain/model.ts";
import { killLocalNode, prepareLocalNode } from "../../../local/node.ts";
import { lifecycleEvent } from "../../../local/cluster/events.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { cachedStores, etcdUnitsHook } from "../../../functions/runtime/wiring.ts";
import { ec2Volumes } from "../../../functions/adapters/aws/ec2Volumes.ts";
import { ec2Attachments } from "../../../local/volumes.ts";
import type { UnitsHook } from "../../../functions/operations/deps.ts";
import { DEFAULT_TIMING, type LifecycleDeps } from "../../../functions/operations/deps.ts";
import type {
  LifecycleActionRef,
  LifecycleActions,
  LifecycleResult,
} from "../../../functions/ports/index.ts";

export interface Completion {
  ref: LifecycleActionRef;
  result: LifecycleResult;
}

export class RecordingActions implements LifecycleActions {
  completions: Completion[] = [];
  heartbeats = 0;
  async complete(ref: LifecycleActionRef, result: LifecycleResult) {
    this.completions.push({ ref, result });
  }
  async heartbeat() {
    this.heartbeats++;
  }
  last(instanceId: string) {
    return [...this.completions].reverse().find((c) => c.ref.instanceId === instanceId)?.result;
  }
}

export interface World {
  aws: AwsClients;
  route53: Route53Client;
  deps: LifecycleDeps;
  actions: RecordingActions;
  zoneId: string;
  domain: string;
  groups: Record<Role, string>;
  root: string;
  log: Logger;
  event(kind: "launch" | "terminate", role: Role, instanceId: string): ReturnType<typeof lifecycleEvent>;
  /** Instance ids in a group (not terminating), sorted. */
  ids(role: Role): Promise<string[]>;
  /** Set a group's desired capacity; returns the new instance ids (node directories prepared). */
  scaleTo(role: Role, n: number): Promise<string[]>;
  /** Terminate (and decrement) one instance; its node dies (processes killed, commands undeliverable). */
  terminate(role: Role, id: string): Promise<void>;
  ipOf(id: string): Promise<string>;
  records(): Promise<{ name: string; type: string; values: string[] }[]>;
  members(): Promise<{ id: string; name: string; isLearner: boolean; ip: string }[]>;
  close(): void;
}

export async function createWorld(opts: {
  prefix: string;
  root: string;
  name: string;
  mainSize?: number;
  hostMin?: number;
}): Promise<World> {
  const aws = createAwsClients();
  const route53 = new Route53Client({ maxAttempts: 1 });
  const domain = `${opts.name.replace(/[^a-z0-9]/g, "").slice(-20)}.test.internal`;
  const vpc = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: `${opts.prefix}.0/24` }));
  const vpcId = vpc.Vpc!.VpcId!;
  const subnet = await aws.ec2.send(
    new CreateSubnetCommand({
      VpcId: vpcId,
      CidrBlock: `${opts.prefix}.0/24`,
      AvailabilityZone: `${LOCAL_REGION}a`,
    }),
  );
  const zone = await aws.route53.send(
    new CreateHostedZoneCommand({
      Name: domain,
      CallerReference: opts.name,
      HostedZoneConfig: { PrivateZone: true, Comment: "devcluster test" },
      VPC: { VPCId: vpcId, VPCRegion: LOCAL_REGION },
    }),
  );
  const zoneId = zone.HostedZone!.Id!.replace(/^\/hostedzone\//, "");
  const lt = `${opts.name}-lt`;
  await aws.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: lt,
      LaunchTemplateData: { ImageId: "ami-12c6146b", InstanceType: "t3.micro" },
    }),
  );
  const groups = {
    main: `${opts.name}-main`,
    worker: `${opts.name}-worker`,
    data: `${opts.name}-data`,
  } as Record<Role, string>;
  for (const role of ["main", "worker", "data"] as Role[]) {
    await aws.autoscaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: groups[role],
        MinSize: 0,
        MaxSize: 200,
        DesiredCapacity: 0,
        LaunchTemplate: { LaunchTemplateName: lt, Version: "$Latest" },
        VPCZoneIdentifier: subnet.Subnet!.SubnetId!,
        Tags: [
          { Key: ROLE_TAG, Value: role, PropagateAtLaunch: true },
          { Key: CLUSTER_TAG, Value: "devtest", PropagateAtLaunch: true },
        ],
      }),
    );
  }
  const actions = new RecordingActions();
  const log =
    process.env.DEVCLUSTER_LOG === "silent" ? createLogger({}, () => {}) : createLogger({ test: opts.name });
  const groupsPort = awsGroups(aws);
  const stores = cachedStores();
  const deps: LifecycleDeps = {
    clusterName: "devtest",
    domain,
    groupNames: groups,
    groups: groupsPort,
    actions,
    commands: createLocalCommands({ root: opts.root }),
    dns: route53Dns(route53, zoneId),
    store: stores,
    timing: {
      ...DEFAULT_TIMING,
      promoteWaitMs: 15_000,
      bootstrapWaitMs: 20_000,
      lockWaitMs: 20_000,
      dnsDeadlineMs: 30_000,
    },
    now: () => new Date(),
  };
  const known = new Set<string>();
  const ids = async (role: Role) => {
    const [g] = await groupsPort.describeGroups([groups[role]]);
    return (g?.members ?? [])
      .filter((m) => !m.lifecycleState.startsWith("Terminat"))
      .map((m) => m.instanceId)
      .sort();
  };
  const ipOf = async (id: string) => (await groupsPort.describeInstances([id]))[0]!.privateIp;
  const world: World = {
    aws,
    route53,
    deps,
    actions,
    zoneId,
    domain,
    groups,
    root: opts.root,
    log,
    event: (kind, role, instanceId) =>
      lifecycleEvent({
        kind,
        groupName: groups[role],
        hookName: `${kind}-hook`,
        instanceId,
        region: LOCAL_REGION,
      }),
    ids,
    ipOf,
    async scaleTo(role, n) {
      await aws.autoscaling.send(
        new SetDesiredCapacityCommand({ AutoScalingGroupName: groups[role], DesiredCapacity: n }),
      );
      const now = await ids(role);
      const fresh = now.filter((id) => !known.has(id));
      for (const id of fresh) {
        known.add(id);
        const ip = await ipOf(id);
        if (!ip.startsWith(`${opts.prefix}.`))
          throw new Error(`instance ${id} got ${ip}, outside the rig's block ${opts.prefix}.0/24`);
        prepareLocalNode(opts.root, id, role);
      }
      return fresh;
    },
    async terminate(_role, id) {
      await aws.autoscaling.send(
        new TerminateInstanceInAutoScalingGroupCommand({
          InstanceId: id,
          ShouldDecrementDesiredCapacity: true,
        }),
      );
      await killLocalNode(opts.root, id, "SIGTERM");
    },
    async records() {
      const res = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
      return (res.ResourceRecordSets ?? [])
        .filter((r) => r.Type === "A" || r.Type === "SRV")
        .map((r) => ({
          name: r.Name!,
          type: r.Type!,
          values: (r.ResourceRecords ?? []).map((v) => v.Value!).sort(),
        }));
    },
    async members() {
      const mainIps = await Promise.all((await ids("main")).map(ipOf));
      const c = new Etcd3({ hosts: mainIps.map(etcdClientUrl), dialTimeout: 1500 });
      try {
        const res = await c.cluster.memberList({}, { deadline: Date.now() + 3000 });
        return res.members.map((m) => ({
          id: String(m.ID),
          name: m.name,
          isLearner: Boolean(m.isLearner),
          ip: new URL(m.peerURLs[0]!).hostname,
        }));
      } finally {
        c.close();
      }
    },
    close() {
      stores.closeAll();
    },
  };
  return world;
}

/**
 * The units hook over the world's etcd and the repository's catalog, whose database keeps its data
 * on a volume: EC2 is moto, and the machines see what it attached to them.
 */
export function worldUnitsHook(w: World): UnitsHook {
  return etcdUnitsHook(createLocalCommands({ root: w.root, attachments: ec2Attachments(w.aws.ec2) }), {
    volumes: ec2Volumes(w.aws.ec2, w.deps.clusterName),
  });
}
