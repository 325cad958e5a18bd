// `lifecycle`: answers the Auto Scaling lifecycle actions of all three groups (EventBridge events
// "EC2 Instance-launch Lifecycle Action" / "EC2 Instance-terminate Lifecycle Action").
// Parse, observe, plan (functions/core/membershipPlan.ts, dnsPlan.ts), apply through ports, report.
// Every step is idempotent: a duplicate, late or reordered event ends in the state of a clean run.
import { randomUUID } from "node:crypto";
import { InvalidInputError, NotFoundError } from "./core/errors.ts";
import { parseLifecycleEvent, type LifecycleEvent } from "./core/lifecycleEvent.ts";
import { invocationLogger, type Logger } from "./core/log.ts";
import type { NodeRecord } from "./core/model.ts";
import { planLaunchMain, planRemove } from "./core/membershipPlan.ts";
import { ClusterNotReadyError, LearnerNotReadyError } from "./adapters/etcdClusterStore.ts";
import type { LifecycleActionRef, LifecycleResult } from "./ports/index.ts";
import type { ClusterStore } from "./ports/cluster.ts";
import { defaultDeps, type LifecycleDeps } from "./lifecycle/deps.ts";
import { syncDns } from "./lifecycle/dnsSync.ts";
import {
  LEFTOVER_PREFIX,
  TOKEN_KEY,
  bootstrapCluster,
  endpointsOf,
  nodeRecordOf,
  observe,
  refreshGateways,
  startJoiningMember,
  withHeartbeat,
  withMembershipLock,
  type Observed,
} from "./lifecycle/steps.ts";

export interface LifecycleReport {
  kind: "launch" | "terminate";
  instanceId: string;
  role?: string;
  result: LifecycleResult;
  /** What was done, in order (for logs and tests). */
  steps: string[];
  /** What is left for reconcile (terminate with a step that could not be done). */
  leftovers: string[];
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function handleLifecycle(event: unknown, deps: LifecycleDeps, log: Logger): Promise<LifecycleReport> {
  const ev = parseLifecycleEvent(event); // InvalidInputError: nothing is changed
  const ref: LifecycleActionRef = { groupName: ev.groupName, hookName: ev.hookName, instanceId: ev.instanceId, token: ev.token };
  const l = log.child({ instanceId: ev.instanceId, group: ev.groupName, transition: ev.kind });
  const report: LifecycleReport = { kind: ev.kind, instanceId: ev.instanceId, result: "CONTINUE", steps: [], leftovers: [] };
  if (ev.warmPool) {
    report.steps.push("warm pool transition: nothing to do");
    await deps.actions.complete(ref, "CONTINUE");
    return report;
  }
  try {
    await withHeartbeat(deps, ref, l, () => (ev.kind === "launch" ? launch(ev, deps, l, report) : terminate(ev, deps, l, report)));
  } catch (e) {
    report.error = e instanceof Error ? e.message : String(e);
    if (ev.kind === "launch") {
      // The group replaces a node that cannot be made useful.
      report.result = "ABANDON";
      l.error("launch failed: abandoning", { error: e });
    } else {
      // A terminating node goes anyway: let it, and leave the rest to reconcile.
      report.result = "CONTINUE";
      report.leftovers.push(`failed: ${report.error}`);
      l.error("terminate step failed: continuing; reconcile repairs the rest", { error: e });
      await recordLeftovers(deps, ev, report).catch(() => {});
    }
  }
  await deps.actions.complete(ref, report.result);
  report.steps.push(`complete ${report.result}`);
  l.info("lifecycle action done", { ...report });
  return report;
}

// ---------------------------------------------------------------------------------------------

async function launch(ev: LifecycleEvent, deps: LifecycleDeps, log: Logger, report: LifecycleReport) {
  const obs = await observe(deps, [ev.groupName], [ev.instanceId], "main");
  const group = obs.groups.find((g) => g.name === ev.groupName);
  if (!group) throw new NotFoundError(`group ${ev.groupName} does not exist`);
  report.role = group.role;
  const inst = obs.instances.get(ev.instanceId);
  if (!inst) throw new NotFoundError(`instance ${ev.instanceId} does not exist`);
  if (/^(shutting-down|terminated|stopping|stopped)$/.test(inst.state)) {
    throw new NotFoundError(`instance ${ev.instanceId} is ${inst.state}`);
  }
  const endpoints = endpointsOf(obs.main);
  const store = deps.store(endpoints);
  let state: NodeRecord["state"] = "active";

  if (group.role !== "main" && (await store.memberList()) === null) {
    // The cluster is still forming (all groups launch together at creation): wait for etcd rather
    // than abandon a good node; heartbeats keep the action alive meanwhile.
    report.steps.push("waiting for etcd");
    const until = Date.now() + deps.timing.bootstrapWaitMs;
    while ((await store.memberList()) === null) {
      if (Date.now() > until) throw new Error("no etcd member answers: the node cannot be registered");
      await sleep(500);
    }
  }
  if (group.role === "main") {
    const joined = await joinMain(ev, deps, store, obs, log, report);
    // etcd is lost (no member, a snapshot exists): the node waits for the restore, which registers it.
    if (joined === "lost") return;
    state = joined;
  }

  const rec = nodeRecordOf(inst, group, state, deps.now());
  const revision = await store.putNode(rec);
  report.steps.push(`register ${state}`);

  // Units and DNS both derive from the registry and do not depend on each other: do them at once.
  const [, dns] = await Promise.all([
    deps.units ? deps.units.onLaunch(rec, log, { store, endpoints }) : undefined,
    syncDns(store, deps.dns, log, {
      domain: deps.domain,
      owner: ev.instanceId,
      revision,
      coalesceMs: deps.timing.dnsCoalesceMs,
      deadlineMs: deps.timing.dnsDeadlineMs,
    }),
  ]);
  if (deps.units) report.steps.push("units pushed");
  if (!dns.synced) throw new Error("DNS sync did not finish in time");
  report.steps.push(dns.sentByMe ? `dns sync (${dns.changes} changes)` : "dns covered by a concurrent sync");
  if (dns.discoveryChanged) {
    await refreshGateways(deps, store, log);
    report.steps.push("gateways refreshed");
  }
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

  for (;;) {
    const members = await store.memberList();
    const healthy = members ? await store.healthyMembers(members) : new Set<string>();
    const plan = planLaunchMain({ node, members, healthy, main: obs.main, clusterName: deps.clusterName });
    log.info("membership plan", { plan: plan.kind });
    switch (plan.kind) {
      case "bootstrap": {
        if (await deps.history?.formedBefore()) {
          report.steps.push("etcd lost (no member answers; a snapshot exists): not bootstrapping; restore needed");
          log.error("ALARM etcd total loss seen by a main launch; restore from a snapshot", { instanceId: ev.instanceId });
          return "lost";
        }
        // Deterministic plan: every handler that gets here hands out identical settings.
        const ms = await bootstrapCluster(deps, store, log, plan.plan);
        await store.putKey(TOKEN_KEY, plan.plan.token);
        // Register every initial member (their own launch events may be handled before or after).
        const now = deps.now();
        for (const m of plan.plan.initialCluster) {
          const i = obs.instances.get(m.name);
          const g = obs.groups.find((x) => x.name === deps.groupNames.main)!;
          if (i && m.name !== ev.instanceId) await store.putNode(nodeRecordOf(i, g, "active", now));
        }
        report.steps.push(`bootstrap ${ms.length} members`);
        return "active";
      }
      case "wait-bootstrap": {
        report.steps.push(`bootstrap pending: ${plan.reason}`);
        // Another launch (or reconcile) forms the cluster; wait for it so this node can be registered.
        const until = Date.now() + deps.timing.bootstrapWaitMs;
        while (Date.now() < until) {
          const ms = await store.memberList();
          if (ms?.length) break;
          await sleep(500);
        }
        if (!(await store.memberList())?.length) {
          throw new Error(`no etcd cluster to join yet (${plan.reason}); the node cannot be registered`);
        }
        continue;
      }
      case "already-member": {
        if (!plan.started) {
          const token = (await store.getKey(TOKEN_KEY)) ?? deps.clusterName;
          await startJoiningMember(deps, log, node, (await store.memberList()) ?? [], ipToInstance, token);
          report.steps.push("member existed unstarted: start settings sent");
        } else {
          report.steps.push("already a member");
        }
        return plan.member.isLearner ? "joining" : "active";
      }
      case "refuse":
        throw new Error(`cannot add ${ev.instanceId} to etcd: ${plan.reason}`);
      case "learner-pending": {
        // etcd 3.4 allows one learner: promote the pending one if it caught up, else retry a while.
        const promoted = await withMembershipLock(deps, store, ev.instanceId, async () => {
          try {
            await store.promote(plan.learner.id);
            return true;
          } catch (e) {
            if (e instanceof LearnerNotReadyError) return false;
            throw e;
          }
        });
        if (promoted) {
          report.steps.push(`promoted pending learner ${plan.learner.name || plan.learner.id}`);
          continue;
        }
        if (Date.now() > promoteUntil) {
          // Leave the join to reconcile (it adds one learner per run once the pending one is promoted).
          report.steps.push("learner pending: join deferred to reconcile");
          return "joining";
        }
        await sleep(500);
        continue;
      }
      case "add-learner": {
        const added = await withMembershipLock(deps, store, ev.instanceId, async () => {
          // Re-check under the lock: another handler may have changed the members meanwhile.
          const now = await store.memberList();
          const again = planLaunchMain({ node, members: now, healthy: now ? await store.healthyMembers(now) : new Set(), main: obs.main, clusterName: deps.clusterName });
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
          // etcd wants every voter connected for 5 s before a change: retry a while, then defer.
          if (Date.now() > promoteUntil) {
            report.steps.push("etcd not ready for a new member: join deferred to reconcile");
            return "joining";
          }
          await sleep(1000);
          continue;
        }
        report.steps.push(`learner added ${added.member.id}`);
        try {
          const token = (await store.getKey(TOKEN_KEY)) ?? deps.clusterName;
          await startJoiningMember(deps, log, node, added.members, ipToInstance, token);
          report.steps.push("start settings sent");
        } catch (e) {
          // Do not leave a learner that never starts: it would block the next join.
          await withMembershipLock(deps, store, ev.instanceId, () => store.removeMember(added.member.id)).catch(() => {});
          report.steps.push("learner removed after failed start");
          throw e;
        }
        return "joining";
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function terminate(ev: LifecycleEvent, deps: LifecycleDeps, log: Logger, report: LifecycleReport) {
  const obs = await observe(deps, [ev.groupName], [ev.instanceId], "main");
  const group = obs.groups.find((g) => g.name === ev.groupName);
  const inst = obs.instances.get(ev.instanceId);
  // Endpoints: the live main instances (the terminating one last, it may still answer).
  const extra = inst ? [inst.privateIp] : [];
  const endpoints = endpointsOf({ instances: obs.main.instances.filter((m) => m.instanceId !== ev.instanceId) }, extra);
  const store = deps.store(endpoints);
  const known = await store.getNode(ev.instanceId).catch(() => undefined);
  const role = group?.role ?? known?.role;
  report.role = role;
  const ip = inst?.privateIp ?? known?.privateIp;
  const rec: NodeRecord | undefined = known ?? (inst && group ? nodeRecordOf(inst, group, "leaving", deps.now()) : undefined);

  if (rec && rec.state !== "gone") {
    // Leaving first: a concurrent units sync (another node's event) must not place units here now.
    await store.putNode({ ...rec, state: "leaving", updatedAt: deps.now().toISOString() }).catch((e: unknown) => {
      log.warn("could not mark the node leaving", { error: e });
    });
  }
  if (rec && deps.units) {
    await deps.units.onTerminate(rec, log, { store, endpoints });
    report.steps.push("units moved");
  }

  // Any role may have been a member (a wrongly tagged group); the member list decides.
  const members = await store.memberList();
  if (members === null) {
    if (role === "main") report.leftovers.push("etcd unreachable: member removal left to reconcile");
  } else {
    await withMembershipLock(deps, store, ev.instanceId, async () => {
      const now = (await store.memberList()) ?? members;
      const plan = planRemove(now, await store.healthyMembers(now), { instanceId: ev.instanceId, ip });
      if (plan.kind === "not-member") {
        report.steps.push("not an etcd member");
      } else if (plan.kind === "refuse") {
        report.leftovers.push(`member ${plan.member.id} kept: ${plan.reason}`);
        log.warn("member removal refused: quorum", { reason: plan.reason, check: plan.check });
      } else {
        await store.removeMember(plan.member.id);
        report.steps.push(`member ${plan.member.id} removed`);
      }
    });
  }

  let revision: string | undefined;
  if (rec) {
    revision = await store.putNode({ ...rec, state: "gone", updatedAt: deps.now().toISOString() });
    report.steps.push("registry gone");
  } else {
    report.steps.push("unknown node: nothing registered");
  }
  const dns = await syncDns(store, deps.dns, log, {
    domain: deps.domain,
    owner: ev.instanceId,
    revision: revision ?? (await store.putKey(`/cluster/events/last`, ev.instanceId)),
    coalesceMs: deps.timing.dnsCoalesceMs,
    deadlineMs: deps.timing.dnsDeadlineMs,
  });
  if (!dns.synced) report.leftovers.push("dns sync did not finish: left to reconcile");
  else report.steps.push(dns.sentByMe ? `dns sync (${dns.changes} changes)` : "dns covered by a concurrent sync");
  if (dns.discoveryChanged) {
    await refreshGateways(deps, store, log).catch((e: unknown) => log.warn("gateway refresh failed", { error: e }));
    report.steps.push("gateways refreshed");
  }
  if (report.leftovers.length) await recordLeftovers(deps, ev, report, store);
}

async function recordLeftovers(deps: LifecycleDeps, ev: LifecycleEvent, report: LifecycleReport, store?: ClusterStore) {
  if (!store) {
    const obs = await observe(deps, []);
    store = deps.store(endpointsOf(obs.main));
  }
  await store.putKey(LEFTOVER_PREFIX + ev.instanceId, JSON.stringify({ at: deps.now().toISOString(), leftovers: report.leftovers }));
}

// ---------------------------------------------------------------------------------------------

/** The Lambda entry point. */
export async function handler(event: unknown, context?: { awsRequestId?: string }): Promise<LifecycleReport> {
  const log = invocationLogger("lifecycle", context?.awsRequestId ?? randomUUID());
  try {
    return await handleLifecycle(event, defaultDeps(), log);
  } catch (e) {
    if (e instanceof InvalidInputError) log.error("rejected event", { error: e.message, issues: e.issues });
    throw e;
  }
}

