// Reconcile's repairs: how each planned repair (domain/reconcilePlan.ts) is described and
// applied. Membership changes take the same lock as the lifecycle handlers and re-check under it.
import { ClusterNotReadyError } from "../domain/errors.ts";
import type { Logger } from "../ports/log.ts";
import type { Repair } from "../domain/reconcilePlan.ts";
import { reportStep, type RepairCode, type ReportStep } from "../domain/reportCodes.ts";
import { peerIp, planRemove, quorumAfter } from "../domain/membershipPlan.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import { etcdUrls } from "../domain/model.ts";
import type { LifecycleDeps } from "./deps.ts";
import {
  bootstrapCluster,
  promoteLearner,
  startJoiningMember,
  startLearnerOrRemove,
  withMembershipLock,
} from "./steps.ts";

/** The repair as a report step: its code, and what it is about. */
export const describe = (r: Repair): ReportStep<RepairCode> => {
  switch (r.kind) {
    case "remove-member":
      return reportStep(
        "RC_MEMBER_REMOVED",
        `${r.member.name || r.member.id} (${peerIp(r.member)}): ${r.reason}`,
      );
    case "promote-learner":
      return reportStep("RC_LEARNER_PROMOTED", r.instanceId);
    case "start-member":
      return reportStep("RC_MEMBER_STARTED", r.instanceId);
    case "add-learner":
      return reportStep("RC_LEARNER_ADDED", r.instanceId);
    case "bootstrap":
      return reportStep("RC_BOOTSTRAPPED", r.plan.initialCluster.map((m) => m.name).join(","));
    case "register":
      return reportStep("RC_REGISTERED", `${r.record.instanceId} ${r.record.role} ${r.record.state}`);
    case "mark-gone":
      return reportStep("RC_MARKED_GONE", r.record.instanceId);
    case "forget":
      return reportStep("RC_FORGOTTEN", `${r.record.instanceId} (gone since ${r.record.updatedAt})`);
    case "blocked":
      return reportStep("RC_BLOCKED", r.reason);
  }
};

/** Applies one repair; false when it could not be done yet (a learner not caught up). */
export async function applyRepair(
  r: Repair,
  deps: LifecycleDeps,
  store: ClusterStore,
  log: Logger,
  ipToInstance: Map<string, string>,
  main?: { desired: number },
): Promise<boolean> {
  switch (r.kind) {
    case "remove-member":
      return withMembershipLock(deps, store, "reconcile", async () => {
        const now = (await store.memberList()) ?? [];
        const m = now.find((x) => x.id === r.member.id);
        if (!m) return true;
        const healthy = await store.healthyMembers(now);
        if (!m.isLearner && !quorumAfter(now, healthy, m.id).ok) return false;
        const plan = planRemove(now, healthy, { instanceId: m.name, ip: peerIp(m) }, main);
        if (plan.kind === "refuse") return false;
        await store.removeMember(m.id);
        return true;
      });
    case "promote-learner":
      return promoteLearner(deps, store, "reconcile", r.member.id);
    case "start-member":
      await startJoiningMember(
        deps,
        store,
        log,
        { instanceId: r.instanceId, ip: r.ip },
        (await store.memberList()) ?? [],
        ipToInstance,
        // Added but never started; etcd running there may be it starting now: keep that one's data.
        "move-aside-if-stopped",
      );
      return true;
    case "add-learner": {
      const added = await withMembershipLock(deps, store, "reconcile", async () => {
        const now = (await store.memberList()) ?? [];
        if (now.some((m) => m.isLearner) || now.some((m) => peerIp(m) === r.ip)) return undefined;
        return store.addLearner(etcdUrls(deps.etcdTls ?? false).peer(r.ip)).catch((e: unknown) => {
          if (e instanceof ClusterNotReadyError) return undefined;
          throw e;
        });
      });
      if (!added) return false;
      await startLearnerOrRemove(
        deps,
        store,
        log,
        "reconcile",
        { instanceId: r.instanceId, ip: r.ip },
        added,
        ipToInstance,
      );
      return true;
    }
    case "bootstrap":
      await bootstrapCluster(deps, store, log, r.plan);
      return true;
    case "register":
    case "mark-gone":
      await store.putNode(r.record);
      return true;
    case "forget":
      await store.deleteNode(r.record.instanceId);
      return true;
    case "blocked":
      return false;
  }
}
