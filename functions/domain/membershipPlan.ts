// Pure decisions about etcd membership: who may join, who may leave, when to bootstrap.
// Inputs are observations (member list, per-member health, the main group); outputs are plans the
// handlers apply through the ClusterStore port. etcd's own strict reconfiguration check stays on as
// the second line of defence: these checks keep us from even asking for an unsafe change.
import { createHash } from "node:crypto";
import { etcdPeerUrl, etcdTlsPeerUrl, etcdUrls, type EtcdMember } from "./model.ts";

export interface MainInstance {
  instanceId: string;
  ip: string;
  /** Auto Scaling lifecycle state (Pending, Pending:Wait, InService, Terminating:Wait, ...). */
  lifecycleState: string;
}

/** Lifecycle states in which an instance is (or is about to be) part of its group. */
export function isLiveState(lifecycleState: string): boolean {
  return !/^(Terminat|Detach|Warmed)/.test(lifecycleState) && lifecycleState !== "unknown";
}

export const quorumOf = (voters: number) => Math.floor(voters / 2) + 1;

export const peerIp = (m: EtcdMember): string | undefined => {
  const u = m.peerUrls[0];
  if (!u) return undefined;
  try {
    return new URL(u).hostname;
  } catch {
    return undefined;
  }
};

/**
 * The member that stands for a node: by peer address in either scheme (a member added but not
 * started has no name), or by name.
 */
export function memberOf(
  members: EtcdMember[],
  node: { instanceId: string; ip: string },
): EtcdMember | undefined {
  const peers = [etcdPeerUrl(node.ip), etcdTlsPeerUrl(node.ip)];
  return (
    members.find((m) => m.peerUrls.some((u) => peers.includes(u))) ??
    members.find((m) => m.name === node.instanceId)
  );
}

export interface QuorumCheck {
  ok: boolean;
  voters: number;
  healthyVoters: number;
  need: number;
}

/** Would the voters that remain after removing `removeId` (if any) still have a healthy quorum? */
export function quorumAfter(
  members: EtcdMember[],
  healthy: ReadonlySet<string>,
  removeId?: string,
): QuorumCheck {
  const voters = members.filter((m) => !m.isLearner && m.id !== removeId);
  const healthyVoters = voters.filter((m) => healthy.has(m.id)).length;
  const need = quorumOf(voters.length);
  return { ok: voters.length > 0 && healthyVoters >= need, voters: voters.length, healthyVoters, need };
}

// ---------------------------------------------------------------------------------------------
// Launch of a main node

export interface LaunchMainInput {
  node: { instanceId: string; ip: string };
  /** The member list, or null when no member answered (no cluster, or none reachable). */
  members: EtcdMember[] | null;
  healthy: ReadonlySet<string>;
  main: { desired: number; instances: MainInstance[] };
  clusterName: string;
  /** The members serve TLS: a new member is added with an https peer URL. */
  tls?: boolean | undefined;
}

export type LaunchMainPlan =
  | { kind: "already-member"; member: EtcdMember; started: boolean }
  | { kind: "add-learner"; peerUrl: string }
  /** etcd 3.4 allows one learner at a time: promote the pending one (if caught up) first. */
  | { kind: "learner-pending"; learner: EtcdMember }
  | { kind: "bootstrap"; plan: BootstrapPlan }
  | { kind: "wait-bootstrap"; reason: string }
  | { kind: "refuse"; reason: string };

export function planLaunchMain(i: LaunchMainInput): LaunchMainPlan {
  if (i.members === null || i.members.length === 0) {
    const b = planBootstrap(i.main, i.clusterName);
    if (b.kind === "wait") return { kind: "wait-bootstrap", reason: b.reason };
    if (!b.plan.initialCluster.some((m) => m.name === i.node.instanceId)) {
      return {
        kind: "wait-bootstrap",
        reason: `${i.node.instanceId} is not among the launched main instances`,
      };
    }
    return { kind: "bootstrap", plan: b.plan };
  }
  const mine = memberOf(i.members, i.node);
  // A member started under its own name has joined; one with an empty name was added but never started.
  if (mine) return { kind: "already-member", member: mine, started: mine.name !== "" };
  const q = quorumAfter(i.members, i.healthy);
  if (!q.ok) {
    return {
      kind: "refuse",
      reason: `no healthy quorum (${q.healthyVoters}/${q.voters} voters healthy, need ${q.need})`,
    };
  }
  const learner = i.members.find((m) => m.isLearner);
  if (learner) return { kind: "learner-pending", learner };
  return { kind: "add-learner", peerUrl: etcdUrls(i.tls ?? false).peer(i.node.ip) };
}

// ---------------------------------------------------------------------------------------------
// Bootstrap: no cluster yet, the main group's desired count has launched

export interface BootstrapPlan {
  initialCluster: { name: string; ip: string }[];
  token: string;
  /** The instance whose handler forms the cluster; the others wait for it (reconcile is the fallback). */
  leader: string;
}

export function planBootstrap(
  main: { desired: number; instances: MainInstance[] },
  clusterName: string,
): { kind: "bootstrap"; plan: BootstrapPlan } | { kind: "wait"; reason: string } {
  const live = main.instances.filter((m) => isLiveState(m.lifecycleState) && m.ip);
  if (main.desired < 1) return { kind: "wait", reason: "main group desired capacity is 0" };
  if (live.length < main.desired) {
    return { kind: "wait", reason: `${live.length} of ${main.desired} main instances launched` };
  }
  if (live.length > main.desired) {
    return {
      kind: "wait",
      reason: `${live.length} main instances for desired ${main.desired}: group is changing`,
    };
  }
  const sorted = [...live].sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  const ids = sorted.map((m) => m.instanceId);
  // Deterministic: any handler (or reconcile) that plans the bootstrap of the same set plans the same
  // cluster, so a repeated or concurrent bootstrap hands every node identical settings.
  const token = `${clusterName}-${createHash("sha256").update(ids.join(",")).digest("hex").slice(0, 16)}`;
  return {
    kind: "bootstrap",
    plan: { initialCluster: sorted.map((m) => ({ name: m.instanceId, ip: m.ip })), token, leader: ids[0]! },
  };
}

// ---------------------------------------------------------------------------------------------
// Terminate of a main node

export type RemovePlan =
  | { kind: "not-member" }
  | { kind: "remove"; member: EtcdMember; check: QuorumCheck }
  | { kind: "refuse"; member: EtcdMember; reason: string; check: QuorumCheck };

/**
 * Whether a member may leave. A learner always may. A voter may when the voters left keep a healthy
 * quorum and, while a learner is still pending, when they stay at or above the group's desired count:
 * removing a healthy voter then would leave the cluster tolerating one failure fewer until the
 * learner is promoted. A voter that is already dead may always go (keeping it helps nobody).
 */
export function planRemove(
  members: EtcdMember[],
  healthy: ReadonlySet<string>,
  node: { instanceId: string; ip?: string | undefined },
  group?: { desired: number },
): RemovePlan {
  const mine = node.ip
    ? memberOf(members, { instanceId: node.instanceId, ip: node.ip })
    : members.find((m) => m.name === node.instanceId);
  if (!mine) return { kind: "not-member" };
  const check = quorumAfter(members, healthy, mine.id);
  if (mine.isLearner) return { kind: "remove", member: mine, check: { ...check, ok: true } };
  const learnerPending = members.some((m) => m.isLearner);
  if (check.ok && group && learnerPending && healthy.has(mine.id) && check.voters < group.desired) {
    return {
      kind: "refuse",
      member: mine,
      check,
      reason: `a learner is pending: removing a healthy voter would leave ${check.voters} voters for desired ${group.desired}`,
    };
  }
  if (!check.ok) {
    return {
      kind: "refuse",
      member: mine,
      check,
      reason:
        check.voters === 0
          ? "it is the last voting member"
          : `the remaining ${check.voters} voters would have ${check.healthyVoters} healthy, need ${check.need}`,
    };
  }
  return { kind: "remove", member: mine, check };
}

// ---------------------------------------------------------------------------------------------
// Names in the initial cluster of a joining member

/**
 * `ETCD_INITIAL_CLUSTER` for a member joining an existing cluster: every member of the list returned
 * by MemberAdd (etcd checks the count and the peer URLs). Unstarted members have no name yet; they are
 * named after the instance whose address they use.
 */
export function joinInitialCluster(
  members: EtcdMember[],
  ipToInstance: ReadonlyMap<string, string>,
): { name: string; ip: string }[] {
  const out: { name: string; ip: string }[] = [];
  for (const m of members) {
    const ip = peerIp(m);
    if (!ip) continue;
    out.push({ name: m.name || ipToInstance.get(ip) || `member-${m.id}`, ip });
  }
  return out;
}
