// A launching instance: describe it, join a main node to etcd (learner, or the bootstrap), register it,
// push its units and sync DNS. The caller completes the lifecycle action (ABANDON when this throws).
import { endpointsOf, observe, type Observed } from "./observe.ts";
import { DeadlineError, DevclusterError, EtcdUnavailableError, NotFoundError } from "../domain/errors.ts";
import { type LifecycleEvent } from "../domain/lifecycleEvent.ts";
import type { Logger } from "../ports/log.ts";
import type { NodeRecord } from "../domain/model.ts";
import { reportStep } from "../domain/reportCodes.ts";
import { planLaunchMain } from "../domain/membershipPlan.ts";
import { ClusterNotReadyError, LockBusyError } from "../domain/errors.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { LifecycleDeps } from "./deps.ts";
import { syncDns } from "./dnsSync.ts";
import { issueNodeCertificate } from "./nodeCertificate.ts";
import type { LifecycleReport } from "./report.ts";
import {
  bootstrapCluster,
  nodeRecordOf,
  promoteLearner,
  refreshGateways,
  startJoiningMember,
  startLearnerOrRemove,
  waitMemberStarted,
  withMembershipLock,
  verifyEvent,
} from "./steps.ts";

import { pollUntil, sleep } from "../domain/poll.ts";

export async function launch(ev: LifecycleEvent, deps: LifecycleDeps, log: Logger, report: LifecycleReport) {
  // Every group of the cluster (one call): the event's claims are checked against all of them.
  const obs = await observe(deps, Object.values(deps.groupNames), [ev.instanceId], "main");
  verifyEvent(ev, deps, obs);
  const group = obs.groups.find((g) => g.name === ev.groupName);
  if (!group) throw new NotFoundError(`group ${ev.groupName} does not exist`);
  report.role = group.role;
  const inst = obs.instances.get(ev.instanceId);
  if (!inst) throw new NotFoundError(`instance ${ev.instanceId} does not exist`);
  if (/^(shutting-down|terminated|stopping|stopped)$/.test(inst.state)) {
    throw new NotFoundError(`instance ${ev.instanceId} is ${inst.state}`);
  }
  const pki = deps.pki;
  const issueCertificate = pki
    ? async () => {
        const cert = await issueNodeCertificate(
          {
            commands: deps.commands,
            pki,
            now: deps.now,
            commandTimeoutSeconds: deps.timing.commandTimeoutSeconds,
          },
          { instanceId: ev.instanceId, privateIp: inst.privateIp, domain: deps.domain },
          log,
        );
        report.steps.push(reportStep("LC_NODE_CERTIFICATE", cert));
      }
    : undefined;
  // A member starts with its certificate, so a main node gets it first. On a worker or data node
  // only etcd-amb uses it, and etcd-amb waits for it at start (decision 75), so its two node
  // commands run beside registration, the units push and the DNS sync: a launch pays the longest of
  // the paths, not their sum. A failure still fails the launch (ABANDON), as a failed push does,
  // and terminating undoes the record and moves the node's units elsewhere.
  let certificate: Promise<void> | undefined;
  if (issueCertificate && group.role === "main") await issueCertificate();
  else if (issueCertificate) {
    certificate = issueCertificate();
    certificate.catch(() => {}); // awaited below; a rejection before then is not unhandled
  }
  const endpoints = endpointsOf(obs.main, [], deps.etcdTls);
  const store = deps.store(endpoints);
  let state: NodeRecord["state"] = "active";

  if (group.role !== "main" && (await store.memberList()) === null) {
    // The cluster is still forming (all groups launch together at creation): wait for etcd rather
    // than abandon a good node; heartbeats keep the action alive meanwhile.
    report.steps.push(reportStep("LC_WAITING_FOR_ETCD"));
    const answered = await pollUntil(async () => ((await store.memberList()) === null ? undefined : true), {
      timeoutMs: deps.timing.bootstrapWaitMs,
      intervalMs: 500,
    });
    if (!answered) throw new EtcdUnavailableError("no etcd member answers: the node cannot be registered");
  }
  if (group.role === "main") {
    const joined = await joinMain(ev, deps, store, obs, log, report);
    // etcd is lost (no member, a snapshot exists): the node waits for the restore, which registers it.
    if (joined === "lost") return;
    state = joined;
  }

  const rec = nodeRecordOf(inst, group, state, deps.now());
  const revision = await store.putNode(rec);
  report.steps.push(reportStep("LC_REGISTERED", state));

  // Units and DNS both derive from the registry and do not depend on each other: do them at once.
  // Every path runs to the end before a failure of any is raised, so nothing of this launch is
  // still running when the handler answers; the certificate's failure is named first (the node's
  // etcd-amb cannot start without it).
  const [certified, pushed, synced] = await Promise.allSettled([
    certificate,
    deps.units ? deps.units.onLaunch(rec, log, { store, endpoints }) : undefined,
    syncDns(store, deps.dns, log, {
      domain: deps.domain,
      owner: ev.instanceId,
      revision,
      coalesceMs: deps.timing.dnsCoalesceMs,
      deadlineMs: deps.timing.dnsDeadlineMs,
    }),
  ]);
  if (certified.status === "rejected") throw certified.reason;
  if (pushed.status === "rejected") throw pushed.reason;
  if (synced.status === "rejected") throw synced.reason;
  const dns = synced.value;
  if (deps.units) report.steps.push(reportStep("LC_UNITS_PUSHED"));
  if (!dns.synced) throw new DeadlineError("DNS sync did not finish in time");
  report.steps.push(dns.sentByMe ? reportStep("LC_DNS_SYNCED", dns.changes) : reportStep("LC_DNS_COVERED"));
  if (dns.discoveryChanged) {
    await refreshGateways(deps, store, log);
    report.steps.push(reportStep("LC_GATEWAYS_REFRESHED"));
  }
}

/** etcd refuses member changes until every voter has been connected this long (plus a margin). */
const NOT_READY_WINDOW_MS = 6_000;

/**
 * Promotes this node's own learner as soon as it has caught up, within the handler's budget
 * (`ownPromoteWaitMs`; the lifecycle action is heartbeated meanwhile). A node left a learner means a
 * cluster that tolerates one failure fewer: when the budget runs out the promotion check (every
 * minute) takes over, not the 5-minute reconcile.
 */
async function promoteOwn(
  deps: LifecycleDeps,
  store: ClusterStore,
  owner: string,
  memberId: string,
  log: Logger,
  report: LifecycleReport,
): Promise<NodeRecord["state"]> {
  const started = Date.now();
  const promoted = await pollUntil(
    async () => {
      try {
        return (await promoteLearner(deps, store, owner, memberId)) || undefined;
      } catch (e) {
        // Not ready (a voter just connected) and a busy lock pass; anything else is a real failure.
        if (!(e instanceof ClusterNotReadyError) && !(e instanceof LockBusyError)) throw e;
        return undefined;
      }
    },
    { timeoutMs: deps.timing.ownPromoteWaitMs, intervalMs: 200, backoff: 1.5, maxIntervalMs: 1000 },
  );
  if (promoted) {
    report.steps.push(reportStep("LC_LEARNER_PROMOTED", `after ${Date.now() - started} ms`));
    return "active";
  }
  log.warn("own learner not caught up within the handler's budget: promotion left to the promotion check", {
    memberId,
    waitedMs: Date.now() - started,
  });
  report.steps.push(reportStep("LC_PROMOTION_DEFERRED"));
  return "joining";
}

/** Returns the registry state of the node: active (voter), joining (learner or deferred). */
async function joinMain(
  ev: LifecycleEvent,
  deps: LifecycleDeps,
  store: ClusterStore,
  obs: Observed,
  log: Logger,
  report: LifecycleReport,
): Promise<NodeRecord["state"] | "lost"> {
  const inst = obs.instances.get(ev.instanceId)!;
  const node = { instanceId: ev.instanceId, ip: inst.privateIp };
  const ipToInstance = new Map(obs.main.instances.map((m) => [m.ip, m.instanceId]));
  const promoteUntil = Date.now() + deps.timing.promoteWaitMs;
  let notReadySince: number | undefined;
  let notReadyDelay = 250;

  for (;;) {
    const members = await store.memberList();
    const healthy = members ? await store.healthyMembers(members) : new Set<string>();
    const plan = planLaunchMain({
      node,
      members,
      healthy,
      main: obs.main,
      clusterName: deps.clusterName,
      tls: deps.etcdTls,
    });
    log.info("membership plan", { plan: plan.kind });
    switch (plan.kind) {
      case "bootstrap": {
        if (await deps.history?.formedBefore()) {
          report.steps.push(reportStep("LC_ETCD_LOST"));
          log.error("ALARM etcd total loss seen by a main launch; restore from a snapshot", {
            instanceId: ev.instanceId,
          });
          return "lost";
        }
        // Deterministic plan: every handler that gets here hands out identical settings.
        const ms = await bootstrapCluster(deps, store, log, plan.plan);
        // Register every initial member (their own launch events may be handled before or after).
        const now = deps.now();
        for (const m of plan.plan.initialCluster) {
          const i = obs.instances.get(m.name);
          const g = obs.groups.find((x) => x.name === deps.groupNames.main)!;
          if (i && m.name !== ev.instanceId) await store.putNode(nodeRecordOf(i, g, "active", now));
        }
        report.steps.push(reportStep("LC_BOOTSTRAPPED", `${ms.length} members`));
        return "active";
      }
      case "wait-bootstrap": {
        report.steps.push(reportStep("LC_BOOTSTRAP_PENDING", plan.reason));
        // Another launch (or reconcile) forms the cluster; wait for it so this node can be registered.
        await pollUntil(async () => ((await store.memberList())?.length ? true : undefined), {
          timeoutMs: deps.timing.bootstrapWaitMs,
          intervalMs: 500,
        });
        if (!(await store.memberList())?.length) {
          throw new DeadlineError(
            `no etcd cluster to join yet (${plan.reason}); the node cannot be registered`,
          );
        }
        continue;
      }
      case "already-member": {
        if (!plan.started) {
          await startJoiningMember(
            deps,
            store,
            log,
            node,
            (await store.memberList()) ?? [],
            ipToInstance,
            "move-aside-if-stopped",
          );
          report.steps.push(reportStep("LC_START_RESENT"));
          await awaitStart(deps, store, log, report, plan.member.id);
        } else {
          report.steps.push(reportStep("LC_ALREADY_MEMBER"));
        }
        // A retried event finds its own learner: finish the promotion the first attempt began.
        return plan.member.isLearner
          ? promoteOwn(deps, store, ev.instanceId, plan.member.id, log, report)
          : "active";
      }
      case "refuse":
        throw new DevclusterError(`cannot add ${ev.instanceId} to etcd: ${plan.reason}`);
      case "learner-pending": {
        // etcd 3.4 allows one learner: promote the pending one if it caught up, else retry a while.
        const promoted = await promoteLearner(deps, store, ev.instanceId, plan.learner.id);
        if (promoted) {
          report.steps.push(reportStep("LC_PENDING_LEARNER_PROMOTED", plan.learner.name || plan.learner.id));
          continue;
        }
        if (Date.now() > promoteUntil) {
          // Leave the join to reconcile (it adds one learner per run once the pending one is promoted).
          report.steps.push(reportStep("LC_JOIN_DEFERRED", "a learner is pending"));
          return "joining";
        }
        await sleep(500);
        continue;
      }
      case "add-learner": {
        const added = await withMembershipLock(deps, store, ev.instanceId, async () => {
          // Re-check under the lock: another handler may have changed the members meanwhile.
          const now = await store.memberList();
          const again = planLaunchMain({
            node,
            members: now,
            healthy: now ? await store.healthyMembers(now) : new Set(),
            main: obs.main,
            clusterName: deps.clusterName,
            tls: deps.etcdTls,
          });
          if (again.kind !== "add-learner") return undefined;
          try {
            return await store.addLearner(plan.peerUrl);
          } catch (e) {
            if (e instanceof ClusterNotReadyError) return "not-ready" as const;
            throw e;
          }
        });
        if (!added) continue;
        if (added === "not-ready") {
          // etcd wants every voter connected for 5 s before a change: back off past that window
          // (even when the promotion budget is shorter), then defer.
          notReadySince ??= Date.now();
          if (Date.now() > Math.max(promoteUntil, notReadySince + NOT_READY_WINDOW_MS)) {
            report.steps.push(reportStep("LC_JOIN_DEFERRED", "etcd not ready for a new member"));
            return "joining";
          }
          await sleep(notReadyDelay);
          notReadyDelay = Math.min(notReadyDelay * 2, 2000);
          continue;
        }
        report.steps.push(reportStep("LC_LEARNER_ADDED", added.member.id));
        try {
          await startLearnerOrRemove(deps, store, log, ev.instanceId, node, added, ipToInstance);
          report.steps.push(reportStep("LC_START_SENT"));
        } catch (e) {
          report.steps.push(reportStep("LC_LEARNER_ROLLED_BACK"));
          throw e;
        }
        await awaitStart(deps, store, log, report, added.member.id);
        return promoteOwn(deps, store, ev.instanceId, added.member.id, log, report);
      }
    }
  }
}

/** Register only once the new member serves (see waitMemberStarted): discovery then never misses it. */
async function awaitStart(
  deps: LifecycleDeps,
  store: ClusterStore,
  log: Logger,
  report: LifecycleReport,
  memberId: string,
) {
  if (await waitMemberStarted(store, memberId, deps.timing.memberStartWaitMs)) {
    report.steps.push(reportStep("LC_MEMBER_STARTED"));
    return;
  }
  report.steps.push(reportStep("LC_MEMBER_START_PENDING"));
  log.warn("etcd member did not start in time; reconcile adds it to the discovery records", { memberId });
}
