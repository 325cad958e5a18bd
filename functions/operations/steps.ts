// Steps shared by the lifecycle and reconcile handlers: observing, membership changes under the lock,
// handing a node its etcd start settings, heartbeats. Decisions stay in functions/domain/*Plan.ts.
import { randomUUID } from "node:crypto";
import { EventRefusedError, LockBusyError } from "../domain/errors.ts";
import { checkLifecycleEvent } from "../domain/eventTrust.ts";
import type { LifecycleEvent } from "../domain/lifecycleEvent.ts";
import { DeadlineError, DevclusterError, LearnerNotReadyError } from "../domain/errors.ts";
import { etcdStartScript } from "../domain/etcdStartScript.ts";
import type { Logger } from "../ports/log.ts";
import {
  etcdClientUrl,
  type EtcdMember,
  type GroupInfo,
  type InstanceInfo,
  type NodeRecord,
} from "../domain/model.ts";
import {
  isLiveState,
  joinInitialCluster,
  type BootstrapPlan,
  type MainInstance,
} from "../domain/membershipPlan.ts";
import type { ObservedGroup } from "../domain/reconcilePlan.ts";
import type { LifecycleActionRef } from "../ports/index.ts";
import type { ClusterStore, Lock } from "../ports/cluster.ts";
import type { LifecycleDeps } from "./deps.ts";

export const LEFTOVER_PREFIX = "/cluster/leftovers/";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Observed {
  groups: ObservedGroup[];
  raw: GroupInfo[];
  instances: Map<string, InstanceInfo>;
  main: { desired: number; instances: MainInstance[] };
}

/** Two AWS calls whatever the group sizes: DescribeAutoScalingGroups and DescribeInstances. */
/**
 * The groups and their instances' addresses. `addresses: "main"` describes only the main group's
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

/** etcd endpoints: the main group's live instances, then any other known member addresses. */
export function endpointsOf(main: { instances: MainInstance[] }, extraIps: string[] = []): string[] {
  const ips = main.instances.filter((m) => isLiveState(m.lifecycleState)).map((m) => m.ip);
  return [...new Set([...ips, ...extraIps])].map(etcdClientUrl);
}

export async function withMembershipLock<T>(
  deps: LifecycleDeps,
  store: ClusterStore,
  owner: string,
  fn: () => Promise<T>,
): Promise<T> {
  const lock: Lock | undefined = await store.tryLock("membership", `${owner}/${randomUUID()}`, {
    ttlSeconds: 20,
    waitMs: deps.timing.lockWaitMs,
  });
  if (!lock) throw new LockBusyError("another handler holds the membership lock");
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** Promote a learner under the membership lock; false while it has not caught up (etcd refuses). */
export function promoteLearner(
  deps: LifecycleDeps,
  store: ClusterStore,
  owner: string,
  memberId: string,
): Promise<boolean> {
  return withMembershipLock(deps, store, owner, async () => {
    try {
      await store.promote(memberId);
      return true;
    } catch (e) {
      if (e instanceof LearnerNotReadyError) return false;
      throw e;
    }
  });
}

/**
 * Wait until a member that was just handed its start settings serves (etcd fills in its name once it
 * has joined). Discovery records list only started members, and a DNS sync is judged complete by the
 * registry revision it read: a node registered before its member serves would let a concurrent sync
 * cover that revision with the member still nameless, and no later event would add it to
 * `_etcd-server._tcp`. Registering only after the member serves makes every sync that covers the
 * registration see it. Returns false when it did not start in time (reconcile then fixes the records).
 */
export async function waitMemberStarted(
  store: ClusterStore,
  memberId: string,
  waitMs: number,
): Promise<boolean> {
  const until = Date.now() + waitMs;
  for (;;) {
    const m = (await store.memberList())?.find((x) => x.id === memberId);
    if (m?.name) return true;
    if (!m || Date.now() >= until) return false;
    await sleep(100);
  }
}

/** Hand nodes their etcd start settings and start (or restart) etcd-member.service. */
export async function sendStartSettings(
  deps: LifecycleDeps,
  log: Logger,
  targets: { instanceId: string; ip: string }[],
  initialCluster: { name: string; ip: string }[],
  state: "new" | "existing",
  token: string,
): Promise<void> {
  // One command per node (each gets its own name and address); SSM would take them as one batch
  // only if the script were the same, and here it is not.
  const results = await Promise.all(
    targets.map((t) =>
      deps.commands.run({
        instanceIds: [t.instanceId],
        script: etcdStartScript({ name: t.instanceId, ip: t.ip, initialCluster, state, token }),
        comment: `devcluster: etcd start settings (${state})`,
        timeoutSeconds: deps.timing.commandTimeoutSeconds,
      }),
    ),
  );
  const failed = results.flat().filter((r) => r.status !== "Success");
  for (const r of results.flat())
    log.info("etcd start settings", { instanceId: r.instanceId, status: r.status, stdout: r.stdout.trim() });
  if (failed.length) {
    throw new DevclusterError(
      `etcd start settings failed on ${failed.map((f) => `${f.instanceId} (${f.status}: ${f.stderr.trim().slice(-300)})`).join(", ")}`,
    );
  }
}

/** Settings for a member that joins an existing cluster, from the member list returned by MemberAdd. */
export async function startJoiningMember(
  deps: LifecycleDeps,
  log: Logger,
  node: { instanceId: string; ip: string },
  members: EtcdMember[],
  ipToInstance: Map<string, string>,
  token: string,
) {
  const m = new Map(ipToInstance);
  m.set(node.ip, node.instanceId);
  await sendStartSettings(deps, log, [node], joinInitialCluster(members, m), "existing", token);
}

export async function bootstrapCluster(
  deps: LifecycleDeps,
  store: ClusterStore,
  log: Logger,
  plan: BootstrapPlan,
): Promise<EtcdMember[]> {
  log.info("etcd: bootstrapping a new cluster", {
    members: plan.initialCluster.map((m) => m.name),
    token: plan.token,
  });
  await sendStartSettings(
    deps,
    log,
    plan.initialCluster.map((m) => ({ instanceId: m.name, ip: m.ip })),
    plan.initialCluster,
    "new",
    plan.token,
  );
  return waitForCluster(store, plan.initialCluster.length, deps.timing.bootstrapWaitMs);
}

export async function waitForCluster(
  store: ClusterStore,
  size: number,
  timeoutMs: number,
): Promise<EtcdMember[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ms = await store.memberList();
    if (ms && ms.filter((m) => m.name).length >= size) {
      const healthy = await store.healthyMembers(ms);
      if (healthy.size >= Math.floor(ms.length / 2) + 1) return ms;
    }
    if (Date.now() > until)
      throw new DeadlineError(`etcd cluster of ${size} did not come up within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Runs `fn` while recording a lifecycle heartbeat every `everyMs`. */
export async function withHeartbeat<T>(
  deps: LifecycleDeps,
  ref: LifecycleActionRef,
  log: Logger,
  fn: () => Promise<T>,
): Promise<T> {
  const timer = setInterval(() => {
    deps.actions.heartbeat(ref).catch((e: unknown) => log.warn("lifecycle heartbeat failed", { error: e }));
  }, deps.timing.heartbeatEveryMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

export function nodeRecordOf(
  inst: InstanceInfo,
  group: { name: string; role: NodeRecord["role"] },
  state: NodeRecord["state"],
  now: Date,
): NodeRecord {
  return {
    instanceId: inst.instanceId,
    role: group.role,
    group: group.name,
    zone: inst.zone,
    privateIp: inst.privateIp,
    publicIp: inst.publicIp,
    state,
    updatedAt: now.toISOString(),
  };
}

/** Token of the running cluster (kept in etcd at bootstrap) for joining members' settings. */
export const TOKEN_KEY = "/cluster/etcd/token";

/** The gateway unit on worker and data nodes (etcd gateway: resolves the discovery SRV record at start). */
export const GATEWAY_UNIT = "etcd-amb.service";

/**
 * After the client discovery record changed, restart the gateways that are running so they resolve it
 * again (etcd's gateway reads SRV only at start). A node that fails is logged; reconcile retries.
 */
export async function refreshGateways(
  deps: LifecycleDeps,
  store: ClusterStore,
  log: Logger,
): Promise<string[]> {
  const { nodes } = await store.listNodes();
  const ids = nodes
    .filter((n) => n.role !== "main" && (n.state === "active" || n.state === "joining"))
    .map((n) => n.instanceId);
  if (!ids.length) return [];
  const results = await deps.commands.run({
    instanceIds: ids,
    script: `systemctl try-restart ${GATEWAY_UNIT}\n`,
    comment: "devcluster: etcd discovery changed, restart etcd-amb",
    timeoutSeconds: 60,
  });
  const failed = results.filter((r) => r.status !== "Success").map((r) => r.instanceId);
  if (failed.length) log.warn("etcd-amb restart failed on some nodes", { failed });
  log.info("etcd-amb restarted after a discovery change", { nodes: ids.length, failed: failed.length });
  return failed;
}

/**
 * Refuse (EventRefusedError, before any change) an event whose group is not this cluster's, or whose
 * instance is in another group, in a state the event contradicts, or without the cluster tag.
 */
export function verifyEvent(
  ev: LifecycleEvent,
  deps: LifecycleDeps,
  obs: Observed,
  registered?: Pick<NodeRecord, "role">,
): void {
  const v = checkLifecycleEvent({
    kind: ev.kind,
    instanceId: ev.instanceId,
    groupName: ev.groupName,
    clusterName: deps.clusterName,
    ourGroups: deps.groupNames,
    groups: obs.raw,
    instance: obs.instances.get(ev.instanceId),
    registered,
  });
  if (!v.ok) throw new EventRefusedError(v.reason);
}
