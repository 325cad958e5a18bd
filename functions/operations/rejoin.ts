// Re-add the main group's nodes that are not members, one learner at a time, and promote each as
// soon as it has caught up: what follows a recovery from the survivor. Reconcile's own planner and
// repairs do the work; only membership repairs are applied here, in a loop until none is left.
import { endpointsOf, observe } from "./observe.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { ClusterNotReadyError } from "../domain/errors.ts";
import type { EtcdMember } from "../domain/model.ts";
import { peerIp } from "../domain/membershipPlan.ts";
import { planReconcile, type Repair } from "../domain/reconcilePlan.ts";
import type { Logger } from "../ports/log.ts";
import type { LifecycleDeps } from "./deps.ts";
import { formatStep } from "../domain/reportCodes.ts";
import { applyRepair, describe as describeRepair } from "./repairs.ts";

const describe = (r: Repair) => formatStep(describeRepair(r));

const MEMBERSHIP = new Set<Repair["kind"]>([
  "add-learner",
  "start-member",
  "promote-learner",
  "remove-member",
]);

const instanceOf = (r: Repair): string | undefined =>
  r.kind === "add-learner" || r.kind === "start-member" || r.kind === "promote-learner"
    ? r.instanceId
    : undefined;

/**
 * Until every live main node (but those in `skip`) is a voter, or `deadlineMs` passes. A node whose
 * repair fails is skipped from then on (it is reported), so one dead machine does not hold back the
 * others; reconcile retries it on its next run.
 */
export async function rejoinMainNodes(
  deps: LifecycleDeps,
  log: Logger,
  opts: { skip?: string[]; deadlineMs?: number } = {},
): Promise<{ members: EtcdMember[]; repairs: string[]; failed: string[] }> {
  const until = Date.now() + (opts.deadlineMs ?? 180_000);
  const skip = new Set(opts.skip ?? []);
  const repairs: string[] = [];
  const failed: string[] = [];
  for (;;) {
    const obs = await observe(deps, [deps.groupNames.main], [], "main");
    const store = deps.store(endpointsOf(obs.main, [], deps.etcdTls));
    const members = await store.memberList();
    if (!members) throw new ClusterNotReadyError("no etcd member answers: nothing to re-add nodes to");
    const healthy = await store.healthyMembers(members);
    const main = obs.groups
      .filter((g) => g.name === deps.groupNames.main)
      .map((g) => ({ ...g, instances: g.instances.filter((x) => !skip.has(x.instanceId)) }));
    const skippedIps = new Set(
      obs.groups.flatMap((g) => g.instances.filter((x) => skip.has(x.instanceId)).map((x) => x.ip)),
    );
    const todo = planReconcile({
      clusterName: deps.clusterName,
      groups: main,
      members,
      healthy,
      registry: [],
      now: deps.now().toISOString(),
    }).filter(
      (r) => MEMBERSHIP.has(r.kind) && !(r.kind === "remove-member" && skippedIps.has(peerIp(r.member))),
    );
    if (!todo.length) return { members, repairs, failed };
    if (Date.now() > until) {
      failed.push(...todo.map((r) => `${describe(r)}: not done within ${opts.deadlineMs ?? 180_000} ms`));
      return { members, repairs, failed };
    }
    const ipToInstance = new Map<string, string>();
    for (const x of obs.main.instances) ipToInstance.set(x.ip, x.instanceId);
    for (const r of todo) {
      try {
        if (await applyRepair(r, deps, store, log, ipToInstance, obs.main)) {
          repairs.push(describe(r));
          log.info("rejoin: repaired", { repair: describe(r) });
        }
      } catch (e) {
        failed.push(`${describe(r)}: ${e instanceof Error ? e.message : String(e)}`);
        log.warn("rejoin: repair failed", { repair: describe(r), error: e });
        const id = instanceOf(r);
        if (id) skip.add(id);
      }
    }
    await sleep(200);
  }
}
