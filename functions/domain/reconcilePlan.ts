// Pure drift repair: compare the groups, etcd's member list and the node registry, and list the
// repairs that bring them back in line. DNS is planned separately (dnsPlan.ts) from the repaired
// registry and member list. Planning again after applying converges: every repair moves one
// observation toward the groups, which are the truth.
import type { EtcdMember, NodeRecord, Role } from "./model.ts";
import {
  isLiveState,
  memberOf,
  peerIp,
  planBootstrap,
  quorumAfter,
  type BootstrapPlan,
  type MainInstance,
} from "./membershipPlan.ts";

export interface ObservedInstance {
  instanceId: string;
  ip?: string | undefined;
  publicIp?: string | undefined;
  zone: string;
  lifecycleState: string;
}

export interface ObservedGroup {
  name: string;
  role: Role;
  desired: number;
  instances: ObservedInstance[];
}

/** How long the registry keeps the record of a node that is gone. */
export const GONE_KEEP_MS = 7 * 24 * 3600 * 1000;

export interface ReconcileInput {
  clusterName: string;
  groups: ObservedGroup[];
  /** null: no member answered. */
  members: EtcdMember[] | null;
  healthy: ReadonlySet<string>;
  /** Empty when etcd is unreachable (then no registry repair is planned). */
  registry: NodeRecord[];
  now: string;
}

export type Repair =
  | { kind: "remove-member"; member: EtcdMember; reason: string }
  | { kind: "promote-learner"; member: EtcdMember; instanceId: string }
  | { kind: "start-member"; member: EtcdMember; instanceId: string; ip: string }
  | { kind: "add-learner"; instanceId: string; ip: string }
  | { kind: "bootstrap"; plan: BootstrapPlan }
  | { kind: "register"; record: NodeRecord }
  | { kind: "mark-gone"; record: NodeRecord }
  | { kind: "forget"; record: NodeRecord }
  | { kind: "blocked"; reason: string };

export function planReconcile(i: ReconcileInput): Repair[] {
  const repairs: Repair[] = [];
  const main = i.groups.find((g) => g.role === "main");
  const mainLive: MainInstance[] = (main?.instances ?? [])
    .filter((m) => isLiveState(m.lifecycleState) && m.ip)
    .map((m) => ({ instanceId: m.instanceId, ip: m.ip!, lifecycleState: m.lifecycleState }));

  // --- membership
  if (i.members === null || i.members.length === 0) {
    if (main) {
      const b = planBootstrap({ desired: main.desired, instances: mainLive }, i.clusterName);
      repairs.push(
        b.kind === "bootstrap"
          ? { kind: "bootstrap", plan: b.plan }
          : { kind: "blocked", reason: `bootstrap: ${b.reason}` },
      );
    }
    return repairs; // without etcd there is no registry to repair
  }

  let members = [...i.members];
  const liveFor = (m: EtcdMember) =>
    mainLive.find((x) => x.ip === peerIp(m)) ?? mainLive.find((x) => x.instanceId === m.name);

  // Members whose instance is gone: learners first (free), then unhealthy voters, then healthy ones.
  const orphans = members.filter((m) => !liveFor(m)).sort((a, b) => rank(a, i.healthy) - rank(b, i.healthy));
  for (const m of orphans) {
    const check = quorumAfter(members, i.healthy, m.id);
    if (m.isLearner || check.ok) {
      repairs.push({ kind: "remove-member", member: m, reason: "its instance is not in the main group" });
      members = members.filter((x) => x.id !== m.id);
    } else {
      repairs.push({
        kind: "blocked",
        reason: `keep member ${m.name || m.id}: removing it leaves ${check.healthyVoters}/${check.voters} healthy voters (need ${check.need})`,
      });
    }
  }

  // Learners of live instances: promote the started ones, (re)start the ones that never started.
  for (const m of members.filter((x) => x.isLearner)) {
    const inst = liveFor(m)!;
    if (m.name) repairs.push({ kind: "promote-learner", member: m, instanceId: inst.instanceId });
    else repairs.push({ kind: "start-member", member: m, instanceId: inst.instanceId, ip: inst.ip });
  }

  // Live main instances that are not members: one learner at a time (etcd 3.4 allows one), only for
  // instances in service (a pending one is in the hands of its launch handler), and only with quorum.
  const missing = mainLive
    .filter((x) => x.lifecycleState === "InService" && !memberOf(members, x))
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  if (missing.length) {
    const q = quorumAfter(members, i.healthy);
    if (members.some((m) => m.isLearner)) {
      repairs.push({ kind: "blocked", reason: `add ${missing[0]!.instanceId}: a learner is still pending` });
    } else if (!q.ok) {
      repairs.push({ kind: "blocked", reason: `add ${missing[0]!.instanceId}: no healthy quorum` });
    } else {
      repairs.push({ kind: "add-learner", instanceId: missing[0]!.instanceId, ip: missing[0]!.ip });
    }
  }

  // --- registry
  const live = new Map<string, { g: ObservedGroup; x: ObservedInstance }>();
  for (const g of i.groups)
    for (const x of g.instances) if (isLiveState(x.lifecycleState) && x.ip) live.set(x.instanceId, { g, x });
  const byId = new Map(i.registry.map((r) => [r.instanceId, r]));
  for (const [id, { g, x }] of live) {
    const cur = byId.get(id);
    const member = g.role === "main" ? memberOf(i.members, { instanceId: id, ip: x.ip! }) : undefined;
    const state = g.role !== "main" || (member && !member.isLearner && member.name) ? "active" : "joining";
    if (
      !cur ||
      cur.state === "gone" ||
      cur.state === "leaving" ||
      cur.privateIp !== x.ip ||
      cur.role !== g.role ||
      cur.group !== g.name ||
      cur.state !== state
    ) {
      repairs.push({
        kind: "register",
        record: {
          instanceId: id,
          role: g.role,
          group: g.name,
          zone: x.zone,
          privateIp: x.ip!,
          publicIp: x.publicIp,
          state,
          updatedAt: i.now,
        },
      });
    }
  }
  for (const r of i.registry) {
    if (r.state !== "gone" && !live.has(r.instanceId))
      repairs.push({ kind: "mark-gone", record: { ...r, state: "gone", updatedAt: i.now } });
    // Gone records are history for a while (what left, when), then forgotten.
    if (
      r.state === "gone" &&
      !live.has(r.instanceId) &&
      Date.parse(i.now) - Date.parse(r.updatedAt) > GONE_KEEP_MS
    ) {
      repairs.push({ kind: "forget", record: r });
    }
  }
  return repairs;
}

const rank = (m: EtcdMember, healthy: ReadonlySet<string>) => (m.isLearner ? 0 : healthy.has(m.id) ? 2 : 1);

/** Repairs that change something (not the informational `blocked`). */
export const actionable = (r: Repair[]) => r.filter((x) => x.kind !== "blocked");
