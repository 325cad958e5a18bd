// Steps shared by the lifecycle and reconcile handlers: membership changes under the lock, handing a
// node its etcd start settings, heartbeats (observing is observe.ts). Decisions stay in functions/domain/*Plan.ts.
import { randomUUID } from "node:crypto";
import { EventRefusedError, LockBusyError } from "../domain/errors.ts";
import { checkLifecycleEvent } from "../domain/eventTrust.ts";
import type { LifecycleEvent } from "../domain/lifecycleEvent.ts";
import { DeadlineError, DevclusterError, LearnerNotReadyError } from "../domain/errors.ts";
import { etcdStartScript, type PreviousData } from "../domain/etcdStartScript.ts";
import { pollUntil } from "../domain/poll.ts";
import type { Logger } from "../ports/log.ts";
import { type EtcdMember, type InstanceInfo, type NodeRecord } from "../domain/model.ts";
import { joinInitialCluster, type BootstrapPlan } from "../domain/membershipPlan.ts";
import type { LifecycleActionRef } from "../ports/index.ts";
import type { ClusterStore, Lock, MemberAddResult } from "../ports/cluster.ts";
import { TOKEN_KEY } from "../domain/etcdKeys.ts";
import type { LifecycleDeps } from "./deps.ts";
import type { Observed } from "./observe.ts";

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
  const started = await pollUntil(
    async () => {
      const m = (await store.memberList())?.find((x) => x.id === memberId);
      return m?.name ? true : m ? undefined : false; // gone from the list: it will not start
    },
    { timeoutMs: waitMs, intervalMs: 100 },
  );
  return started ?? false;
}

/** Hand nodes their etcd start settings and start (or restart) etcd-member.service. */
export async function sendStartSettings(
  deps: LifecycleDeps,
  log: Logger,
  targets: { instanceId: string; ip: string }[],
  initialCluster: { name: string; ip: string }[],
  state: "new" | "existing",
  token: string,
  previousData: PreviousData = "keep",
): Promise<void> {
  // One command per node (each gets its own name and address); SSM would take them as one batch
  // only if the script were the same, and here it is not.
  const results = await Promise.all(
    targets.map((t) =>
      deps.commands.run({
        instanceIds: [t.instanceId],
        script: etcdStartScript(
          { name: t.instanceId, ip: t.ip, initialCluster, state, token, tls: deps.etcdTls ?? false },
          previousData,
        ),
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

/**
 * Settings for a member that joins an existing cluster, from the member list returned by MemberAdd,
 * with the running cluster's token (the cluster name for a cluster formed before tokens were kept).
 * The member is new or has never started, so a data dir on the node is from an ended membership and
 * is moved aside (`previousData`; a member removed while its node lived on could never rejoin).
 */
export async function startJoiningMember(
  deps: LifecycleDeps,
  store: ClusterStore,
  log: Logger,
  node: { instanceId: string; ip: string },
  members: EtcdMember[],
  ipToInstance: Map<string, string>,
  previousData: Exclude<PreviousData, "keep">,
) {
  const token = (await store.getKey(TOKEN_KEY)) ?? deps.clusterName;
  const m = new Map(ipToInstance);
  m.set(node.ip, node.instanceId);
  await sendStartSettings(deps, log, [node], joinInitialCluster(members, m), "existing", token, previousData);
}

/**
 * Starts a learner just added for `node`; when that fails, removes it again (a learner that never
 * starts would block the next join) and throws.
 */
export async function startLearnerOrRemove(
  deps: LifecycleDeps,
  store: ClusterStore,
  log: Logger,
  owner: string,
  node: { instanceId: string; ip: string },
  added: MemberAddResult,
  ipToInstance: Map<string, string>,
): Promise<void> {
  try {
    // Just added: the node was not a member, so nothing on it belongs to this membership.
    await startJoiningMember(deps, store, log, node, added.members, ipToInstance, "move-aside");
  } catch (e) {
    await withMembershipLock(deps, store, owner, () => store.removeMember(added.member.id)).catch(() => {});
    throw e;
  }
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
  const members = await waitForCluster(store, plan.initialCluster.length, deps.timing.bootstrapWaitMs);
  // Authentication goes on as the cluster forms, before any node's programs start: every node's
  // access is its role from then on (the units push grants it before starting units), and no
  // window exists in which a certified node could write anywhere (decision 50).
  if (deps.etcdTls) await store.enableAuth();
  await store.putKey(TOKEN_KEY, plan.token);
  return members;
}

export async function waitForCluster(
  store: ClusterStore,
  size: number,
  timeoutMs: number,
): Promise<EtcdMember[]> {
  const up = await pollUntil(
    async () => {
      const ms = await store.memberList();
      if (!ms || ms.filter((m) => m.name).length < size) return undefined;
      const healthy = await store.healthyMembers(ms);
      return healthy.size >= Math.floor(ms.length / 2) + 1 ? ms : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
  if (!up) throw new DeadlineError(`etcd cluster of ${size} did not come up within ${timeoutMs} ms`);
  return up;
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
