// Reconcile (the `reconcile` function, on a schedule): compare the groups, etcd's members, the registry and DNS, and repair every
// difference. Observe → plan (domain/reconcilePlan.ts) → apply, up to a few rounds in one run
// (a promotion makes room for the next learner), then a DNS sync that lists the zone. Safe to run at
// any time, next to lifecycle handlers: membership changes take the same lock.
import { endpointsOf, observe } from "./observe.ts";
import { leftoverKey } from "../domain/etcdKeys.ts";
import { randomUUID } from "node:crypto";
import type { Logger } from "../ports/log.ts";
import { actionable, planReconcile } from "../domain/reconcilePlan.ts";
import { quorumAfter } from "../domain/membershipPlan.ts";
import { sleep } from "../domain/poll.ts";
import { formatStep, reportStep, type RepairCode, type ReportStep } from "../domain/reportCodes.ts";
import type { LifecycleDeps } from "./deps.ts";
import { syncDns } from "./dnsSync.ts";
import { applyRepair, describe } from "./repairs.ts";
import { promoteLearner, refreshGateways } from "./steps.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { NodePushResult } from "../domain/units/push.ts";

/** Why reconcile stopped short of repairing (absent: it ran through). */
export type ReconcileCode = "ETCD_TOTAL_LOSS" | "ETCD_NO_QUORUM";

export interface ReconcileReport {
  code?: ReconcileCode;
  rounds: number;
  /** Repairs done (codes in domain/reportCodes.ts). */
  repairs: ReportStep<RepairCode>[];
  /** Repairs that cannot be done now, with why. */
  blocked: ReportStep<RepairCode>[];
  /** Repairs that failed, with the error. */
  failed: ReportStep<RepairCode>[];
  dnsChanges: number;
}

export async function handleReconcile(
  deps: LifecycleDeps,
  log: Logger,
  opts: { maxRounds?: number; recover?: boolean } = {},
): Promise<ReconcileReport> {
  const report: ReconcileReport = { rounds: 0, repairs: [], blocked: [], failed: [], dnsChanges: 0 };
  const owner = `reconcile-${randomUUID()}`;
  let store: ClusterStore | undefined;
  let lastEndpoints: string[] = [];
  const maxRounds = opts.maxRounds ?? 4;
  for (let round = 0; round < maxRounds; round++) {
    const obs = await observe(deps, [deps.groupNames.main, deps.groupNames.worker, deps.groupNames.data]);
    lastEndpoints = endpointsOf(obs.main, [], deps.etcdTls);
    store = deps.store(lastEndpoints);
    const members = await store.memberList();
    if (members === null && obs.main.instances.length > 0 && (await deps.history?.formedBefore())) {
      // Total loss of a cluster that existed: never bootstrap an empty one over it.
      const outcome =
        opts.recover === false || !deps.recover
          ? { action: "none", reason: "recovery not wired" }
          : await deps.recover(log);
      report.code = "ETCD_TOTAL_LOSS";
      report.blocked.push(
        reportStep("RC_TOTAL_LOSS", `${outcome.action}${outcome.reason ? ` (${outcome.reason})` : ""}`),
      );
      if (outcome.action === "restored") report.repairs.push(reportStep("RC_RESTORED"));
      log.info("reconcile done", { ...report });
      return report;
    }
    let healthy = members ? await store.healthyMembers(members) : new Set<string>();
    if (members?.length && !quorumAfter(members, healthy).ok) {
      // Members answer (the member list is served locally) but no quorum of voters is healthy:
      // every read and write would fail. Give a leader election its time, then call it a state.
      await sleep(deps.timing.noQuorumGraceMs);
      healthy = await store.healthyMembers(members);
      const q = quorumAfter(members, healthy);
      if (!q.ok) {
        const name = (id: string) => members.find((m) => m.id === id)?.name || id;
        const detail = {
          members: members.map((m) => m.name || m.id),
          healthy: [...healthy].map(name),
          need: q.need,
        };
        report.code = "ETCD_NO_QUORUM";
        report.rounds = round + 1;
        report.blocked.push(
          reportStep(
            "RC_NO_QUORUM",
            `${q.healthyVoters} of ${q.voters} voters healthy, need ${q.need}; recover from the most up-to-date survivor (docs/OPERATIONS.md, "No quorum")`,
          ),
        );
        log.error("ALARM etcd has no quorum: members answer but no leader; writes are refused", detail);
        await deps
          .noQuorum?.(log, detail)
          .catch((e: unknown) => log.warn("no-quorum alarm failed", { error: e }));
        if (opts.recover !== false && deps.recoverNoQuorum) {
          const outcome = await deps.recoverNoQuorum(log).catch((e: unknown) => ({
            action: "failed",
            reason: e instanceof Error ? e.message : String(e),
            survivor: undefined,
          }));
          if (outcome.action === "recovered")
            report.repairs.push(reportStep("RC_SURVIVOR_RECOVERED", outcome.survivor));
          else
            report.blocked.push(
              reportStep(
                "RC_SURVIVOR_NOT_RECOVERED",
                `${outcome.action}${outcome.reason ? ` (${outcome.reason})` : ""}`,
              ),
            );
        }
        log.info("reconcile done", { ...report });
        return report;
      }
    }
    const registry = members ? (await store.listNodes()).nodes : [];
    const repairs = planReconcile({
      clusterName: deps.clusterName,
      groups: obs.groups,
      members,
      healthy,
      registry,
      now: deps.now().toISOString(),
    });
    report.rounds = round + 1;
    const todo = actionable(repairs);
    report.blocked = repairs.filter((r) => r.kind === "blocked").map(describe);
    if (todo.length === 0) break;
    const ipToInstance = new Map<string, string>();
    for (const g of obs.groups) for (const i of g.instances) if (i.ip) ipToInstance.set(i.ip, i.instanceId);
    let progressed = false;
    for (const r of todo) {
      const what = describe(r);
      try {
        const done = await applyRepair(r, deps, store, log, ipToInstance, obs.main);
        if (done) {
          progressed = true;
          report.repairs.push(what);
          log.info("reconcile: repaired", { repair: formatStep(what) });
        } else {
          report.blocked.push(reportStep(what.code, `${what.detail ?? ""}: not yet`));
        }
      } catch (e) {
        report.failed.push(
          reportStep(what.code, `${what.detail ?? ""}: ${e instanceof Error ? e.message : String(e)}`),
        );
        log.error("reconcile: repair failed", { repair: formatStep(what), error: e });
      }
    }
    if (!progressed) break;
  }
  // Each step after the rounds runs on its own: a failure (an invalid catalog, Route 53 refusing) is
  // reported and logged, and what the run already repaired stays in the report.
  const step = async (code: RepairCode, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      report.failed.push(reportStep(code, e instanceof Error ? e.message : String(e)));
      log.error("reconcile: step failed", { step: code, error: e });
    }
  };
  const s = store;
  let live = false;
  if (s) await step("RC_DNS_SYNCED", async () => void (live = Boolean(await s.memberList())));
  if (s && live) {
    await step("RC_DNS_SYNCED", async () => {
      const dns = await syncDns(s, deps.dns, log, {
        domain: deps.domain,
        owner,
        list: true,
        coalesceMs: 0,
        deadlineMs: deps.timing.dnsDeadlineMs,
      });
      report.dnsChanges = dns.changes;
      if (dns.discoveryChanged && (await refreshGateways(deps, s, log)).length === 0)
        report.repairs.push(reportStep("RC_GATEWAYS_REFRESHED"));
      if (dns.changes) report.repairs.push(reportStep("RC_DNS_SYNCED", dns.changes));
    });
    await step("RC_UNITS_PUSHED", async () => {
      const pushed = await deps.units?.reconcile?.(log, { store: s, endpoints: lastEndpoints });
      for (const r of pushed?.results ?? []) {
        const did = describePush(r);
        if (did) report.repairs.push(reportStep("RC_UNITS_PUSHED", `${r.instanceId}: ${did}`));
      }
      for (const id of pushed?.failed ?? [])
        report.failed.push(reportStep("RC_UNITS_PUSHED", `${id}: the push failed; pushed again next run`));
    });
    // Leftovers recorded by terminate handlers are settled once the state is clean.
    if (!report.failed.length) {
      for (const id of await leftoverIds(s)) await s.putKey(leftoverKey(id), "").catch(() => {});
    }
  }
  log.info("reconcile done", { ...report });
  return report;
}

/** What a node's push changed there ("" when it already ran exactly its units). */
function describePush(r: NodePushResult): string {
  const parts: [string, string[] | undefined][] = [
    ["wrote", r.written],
    ["started", r.started],
    ["restarted", r.restarted],
    ["stopped", r.stopped],
    ["removed", r.removed],
  ];
  return parts
    .filter(([, xs]) => xs?.length)
    .map(([verb, xs]) => `${verb} ${xs!.join(", ")}`)
    .join("; ");
}

async function leftoverIds(store: ClusterStore): Promise<string[]> {
  const { nodes } = await store.listNodes();
  const out: string[] = [];
  for (const n of nodes) if ((await store.getKey(leftoverKey(n.instanceId)))?.length) out.push(n.instanceId);
  return out;
}

export interface PromoteReport {
  promoted: string[];
  pending: string[];
}

/**
 * The promotion check (every minute): promote every started learner that has caught up. Cheap when
 * there is none (one member list). Everything else stays with reconcile.
 */
export async function promotePending(deps: LifecycleDeps, log: Logger): Promise<PromoteReport> {
  const report: PromoteReport = { promoted: [], pending: [] };
  const obs = await observe(deps, [deps.groupNames.main], [], "main");
  const store = deps.store(endpointsOf(obs.main, [], deps.etcdTls));
  const members = (await store.memberList()) ?? [];
  // A learner with no name was added but never started: reconcile starts or removes it.
  for (const m of members.filter((x) => x.isLearner && x.name)) {
    const ok = await promoteLearner(deps, store, "promote-check", m.id).catch((e: unknown) => {
      log.warn("promotion check: promote failed", { member: m.name, error: e });
      return false;
    });
    (ok ? report.promoted : report.pending).push(m.name);
  }
  if (report.promoted.length || report.pending.length) log.info("promotion check", { ...report });
  return report;
}
