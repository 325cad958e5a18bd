// A terminating instance: move its units away, remove its etcd member if quorum allows, mark it gone,
// sync DNS. What cannot be done is recorded for reconcile; the caller completes with CONTINUE.
import { endpointsOf, observe } from "./observe.ts";
import { LAST_EVENT_KEY, leftoverKey } from "../domain/etcdKeys.ts";
import { type LifecycleEvent } from "../domain/lifecycleEvent.ts";
import type { Logger } from "../ports/log.ts";
import type { NodeRecord } from "../domain/model.ts";
import { reportStep } from "../domain/reportCodes.ts";
import { planRemove } from "../domain/membershipPlan.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { LifecycleDeps } from "./deps.ts";
import { syncDns } from "./dnsSync.ts";
import type { LifecycleReport } from "./report.ts";
import { nodeRecordOf, refreshGateways, verifyEvent, withMembershipLock } from "./steps.ts";

export async function terminate(
  ev: LifecycleEvent,
  deps: LifecycleDeps,
  log: Logger,
  report: LifecycleReport,
) {
  const obs = await observe(deps, Object.values(deps.groupNames), [ev.instanceId], "main");
  verifyEvent(ev, deps, obs);
  const group = obs.groups.find((g) => g.name === ev.groupName);
  const inst = obs.instances.get(ev.instanceId);
  // Endpoints: the live main instances (the terminating one last, it may still answer).
  // Only a main node can be a member: a worker's own address is no etcd endpoint.
  const extra = inst && group?.role === "main" ? [inst.privateIp] : [];
  const endpoints = endpointsOf(
    { instances: obs.main.instances.filter((m) => m.instanceId !== ev.instanceId) },
    extra,
    deps.etcdTls,
  );
  const store = deps.store(endpoints);
  const known = await store.getNode(ev.instanceId).catch(() => undefined);
  // The registry knows the node's role even when its group no longer lists it.
  verifyEvent(ev, deps, obs, known);
  const role = group?.role ?? known?.role;
  report.role = role;
  const ip = inst?.privateIp ?? known?.privateIp;
  const rec: NodeRecord | undefined =
    known ?? (inst && group ? nodeRecordOf(inst, group, "leaving", deps.now()) : undefined);

  if (rec && rec.state !== "gone") {
    // Leaving first: a concurrent units sync (another node's event) must not place units here now.
    await store
      .putNode({ ...rec, state: "leaving", updatedAt: deps.now().toISOString() })
      .catch((e: unknown) => {
        log.warn("could not mark the node leaving", { error: e });
      });
  }
  if (rec && deps.units) {
    await deps.units.onTerminate(rec, log, { store, endpoints });
    report.steps.push(reportStep("LC_UNITS_MOVED"));
  }

  // Any role may have been a member (a wrongly tagged group); the member list decides.
  const members = await store.memberList();
  if (members === null) {
    if (role === "main") report.leftovers.push(reportStep("LC_ETCD_UNREACHABLE"));
  } else {
    await withMembershipLock(deps, store, ev.instanceId, async () => {
      const now = (await store.memberList()) ?? members;
      const plan = planRemove(
        now,
        await store.healthyMembers(now),
        { instanceId: ev.instanceId, ip },
        obs.main,
      );
      if (plan.kind === "not-member") {
        report.steps.push(reportStep("LC_NOT_MEMBER"));
      } else if (plan.kind === "refuse") {
        report.leftovers.push(reportStep("LC_MEMBER_KEPT", `${plan.member.id}: ${plan.reason}`));
        log.warn("member removal refused: quorum", { reason: plan.reason, check: plan.check });
      } else {
        await store.removeMember(plan.member.id);
        report.steps.push(reportStep("LC_MEMBER_REMOVED", plan.member.id));
      }
    });
  }

  let revision: string | undefined;
  if (rec) {
    revision = await store.putNode({ ...rec, state: "gone", updatedAt: deps.now().toISOString() });
    report.steps.push(reportStep("LC_MARKED_GONE"));
  } else {
    report.steps.push(reportStep("LC_UNKNOWN_NODE"));
  }
  const dns = await syncDns(store, deps.dns, log, {
    domain: deps.domain,
    owner: ev.instanceId,
    revision: revision ?? (await store.putKey(LAST_EVENT_KEY, ev.instanceId)),
    coalesceMs: deps.timing.dnsCoalesceMs,
    deadlineMs: deps.timing.dnsDeadlineMs,
  });
  if (!dns.synced) report.leftovers.push(reportStep("LC_DNS_UNFINISHED"));
  else
    report.steps.push(dns.sentByMe ? reportStep("LC_DNS_SYNCED", dns.changes) : reportStep("LC_DNS_COVERED"));
  if (dns.discoveryChanged) {
    await refreshGateways(deps, store, log).catch((e: unknown) =>
      log.warn("gateway refresh failed", { error: e }),
    );
    report.steps.push(reportStep("LC_GATEWAYS_REFRESHED"));
  }
  if (report.leftovers.length) await recordLeftovers(deps, ev, report, store);
}

export async function recordLeftovers(
  deps: LifecycleDeps,
  ev: LifecycleEvent,
  report: LifecycleReport,
  store?: ClusterStore,
) {
  if (!store) {
    const obs = await observe(deps, []);
    store = deps.store(endpointsOf(obs.main, [], deps.etcdTls));
  }
  await store.putKey(
    leftoverKey(ev.instanceId),
    JSON.stringify({ at: deps.now().toISOString(), leftovers: report.leftovers }),
  );
}
