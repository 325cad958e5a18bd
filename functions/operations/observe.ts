// What the groups say: the lifecycle's observation of the groups and their addresses, and the main
// group's serving nodes that snapshot, restore and recovery work on. Every operation observes here.
import type { Config } from "../domain/config.ts";
import { NotFoundError } from "../domain/errors.ts";
import { etcdUrls, type GroupInfo, type InstanceInfo } from "../domain/model.ts";
import { isLiveState, type MainInstance } from "../domain/membershipPlan.ts";
import type { ObservedGroup } from "../domain/reconcilePlan.ts";
import type { Groups } from "../ports/index.ts";
import type { LifecycleDeps } from "./deps.ts";

export interface Observed {
  groups: ObservedGroup[];
  raw: GroupInfo[];
  instances: Map<string, InstanceInfo>;
  main: { desired: number; instances: MainInstance[] };
}

/**
 * The groups and their instances' addresses, in two AWS calls whatever the group sizes
 * (DescribeAutoScalingGroups, DescribeInstances). `addresses: "main"` describes only the main group's
 * instances and the named extra ones (what an event needs): a large worker group then costs nothing.
 */
export async function observe(
  deps: LifecycleDeps,
  groupNames: string[],
  extraInstanceIds: string[] = [],
  addresses: "all" | "main" = "all",
): Promise<Observed> {
  const names = [...new Set([deps.groupNames.main, ...groupNames])];
  const raw = await deps.groups.describeGroups(names);
  const described = addresses === "all" ? raw : raw.filter((g) => g.name === deps.groupNames.main);
  const ids = [
    ...new Set([...described.flatMap((g) => g.members.map((m) => m.instanceId)), ...extraInstanceIds]),
  ];
  const instances = new Map((await deps.groups.describeInstances(ids)).map((i) => [i.instanceId, i]));
  const groups: ObservedGroup[] = raw.map((g) => ({
    name: g.name,
    role: g.role,
    desired: g.desired,
    instances: g.members.map((m) => ({
      instanceId: m.instanceId,
      ip: instances.get(m.instanceId)?.privateIp,
      publicIp: instances.get(m.instanceId)?.publicIp,
      zone: m.zone || instances.get(m.instanceId)?.zone || "",
      lifecycleState: m.lifecycleState,
    })),
  }));
  const mainGroup = groups.find((g) => g.name === deps.groupNames.main);
  const main = {
    desired: mainGroup?.desired ?? 0,
    instances: (mainGroup?.instances ?? [])
      .filter((i) => i.ip)
      .map((i) => ({ instanceId: i.instanceId, ip: i.ip!, lifecycleState: i.lifecycleState })),
  };
  return { groups, raw, instances, main };
}

/**
 * etcd endpoints: the main group's live instances, then any other known member addresses, in the
 * cluster's scheme (`tls`: https).
 */
export function endpointsOf(
  main: { instances: MainInstance[] },
  extraIps: string[] = [],
  tls: boolean | undefined = false,
): string[] {
  const ips = main.instances.filter((m) => isLiveState(m.lifecycleState)).map((m) => m.ip);
  return [...new Set([...ips, ...extraIps])].map(etcdUrls(tls).client);
}

/** Groups, or a loader for them (the EC2 client alone costs ~75 MB of memory; loaded only if needed). */
export type GroupsSource = Groups | (() => Promise<Groups>);
const groupsOf = async (g: GroupsSource) => (typeof g === "function" ? g() : g);

/** The main group's InService members with their addresses (instances that report no address are left out). */
export async function observeMainNodes(source: GroupsSource, cfg: Config) {
  const groups = await groupsOf(source);
  const [group] = await groups.describeGroups([cfg.GROUP_MAIN]);
  if (!group) throw new NotFoundError(`main group ${cfg.GROUP_MAIN} not found`);
  const inService = group.members.filter((m) => m.lifecycleState === "InService");
  const instances = await groups.describeInstances(inService.map((m) => m.instanceId));
  const byId = new Map(instances.map((i) => [i.instanceId, i]));
  return inService
    .filter((m) => byId.get(m.instanceId)?.state === "running")
    .map((m) => {
      const i = byId.get(m.instanceId)!;
      return {
        instanceId: m.instanceId,
        privateIp: i.privateIp,
        publicIp: i.publicIp,
        zone: i.zone || m.zone,
        healthStatus: m.healthStatus,
      };
    });
}
