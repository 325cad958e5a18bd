// Recovery from the most up-to-date survivor (`restore` with {"mode":"survivor"}, or reconcile under
// AUTO_RESTORE): when members answer but no quorum does, keep the voter that has applied the most,
// make it a one-member cluster with etcd's --force-new-cluster, set the other nodes' data aside and
// re-add them as learners that get promoted. No committed write is lost; nothing is deleted.
import { observeMainNodes, type GroupsSource } from "./observe.ts";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { Config } from "../domain/config.ts";
import { DevclusterError, LockBusyError, RefusedError } from "../domain/errors.ts";
import { parseInput } from "../domain/input.ts";
import { etcdUrls, type EtcdMember } from "../domain/model.ts";
import {
  forceNewClusterScript,
  howToRecoverFromSurvivor,
  planSurvivorRecovery,
  setAsideScript,
  type SurvivorNode,
  type SurvivorPlan,
  type SurvivorPlanCode,
} from "../domain/survivorPlan.ts";
import { howToRestore } from "../domain/restorePlan.ts";
import type { Commands } from "../ports/index.ts";
import type { Logger } from "../ports/log.ts";
import type { EtcdSnapshotApi, Metrics, SnapshotStore } from "../ports/snapshots.ts";

export const SurvivorInputSchema = z
  .object({
    mode: z.literal("survivor"),
    /** The cluster's name, repeated: the recovery rebuilds the cluster's membership. */
    confirm: z.string(),
  })
  .strict();

/** What re-adds the other main nodes once the survivor serves alone (wired to reconcile's repairs). */
export type Rejoin = (
  log: Logger,
  opts: { skip: string[] },
) => Promise<{ members: EtcdMember[]; failed: string[] }>;

export interface SurvivorDeps {
  cfg: Config;
  log: Logger;
  groups: GroupsSource;
  etcd: EtcdSnapshotApi;
  /** Only its lock: the same lock object as restore, so the two never run at once. */
  store: Pick<SnapshotStore, "tryLock" | "unlock">;
  commands: Commands;
  metrics?: Metrics | undefined;
  rejoin?: Rejoin | undefined;
  now?: () => Date;
  /** How long the forced member may take to serve (default 120 s). */
  healthTimeoutMs?: number;
}

export type SurvivorCode = "RECOVERED" | SurvivorPlanCode;

export interface SurvivorSummary {
  code: SurvivorCode;
  reason?: string;
  survivor?: { instanceId: string; ip: string; appliedIndex: number; revision: number };
  /** Other nodes: where their data went (null: there was none), or why it could not be set aside. */
  setAside: { instanceId: string; movedAside: string | null; error?: string }[];
  /** Voters of the old cluster whose machine is gone. */
  lost: string[];
  members: { name: string; isLearner: boolean }[];
  revision?: number;
  keyCount?: number;
  failed: string[];
  steps: { step: string; ms: number }[];
  durationMs: number;
}

/** The same lock object as restore (operations/restore.ts): one rebuild of etcd at a time. */
const LOCK = "restore";
const LOCK_STALE_MS = 20 * 60_000;

async function probe(deps: SurvivorDeps): Promise<{ nodes: SurvivorNode[]; members: EtcdMember[] }> {
  const main = await observeMainNodes(deps.groups, deps.cfg);
  const nodes = await Promise.all(
    main.map(async (n): Promise<SurvivorNode> => {
      const url = etcdUrls(deps.cfg.ETCD_TLS).client(n.privateIp);
      const [s, healthy] = await Promise.all([deps.etcd.status(url, 1500), deps.etcd.healthy(url, 1500)]);
      return {
        instanceId: n.instanceId,
        ip: n.privateIp,
        healthy,
        status: s && {
          memberId: s.memberId,
          isLearner: s.isLearner,
          appliedIndex: s.appliedIndex,
          committedIndex: s.committedIndex,
          term: s.term,
          revision: s.revision,
        },
      };
    }),
  );
  let members: EtcdMember[] = [];
  for (const n of nodes.filter((x) => x.status)) {
    members = await deps.etcd.members(etcdUrls(deps.cfg.ETCD_TLS).client(n.ip)).catch(() => []);
    if (members.length) break;
  }
  return { nodes, members };
}

const plan = async (deps: SurvivorDeps, at: Date) => {
  const p = await probe(deps);
  return planSurvivorRecovery({ ...p, at, tls: deps.cfg.ETCD_TLS });
};

/** The recovery itself, once decided: lock, re-check, set aside, force, wait, rejoin. */
async function run(deps: SurvivorDeps, log: Logger): Promise<SurvivorSummary> {
  const t0 = Date.now();
  const steps: SurvivorSummary["steps"] = [];
  let tStep = Date.now();
  const step = (name: string, fields: Record<string, unknown> = {}) => {
    if (steps.length) steps[steps.length - 1]!.ms = Date.now() - tStep;
    tStep = Date.now();
    steps.push({ step: name, ms: 0 });
    log.info(`recovery: ${name}`, { step: steps.length, ...fields });
  };
  const summary = (s: Partial<SurvivorSummary> & { code: SurvivorCode }): SurvivorSummary => {
    if (steps.length) steps[steps.length - 1]!.ms = Date.now() - tStep;
    return { setAside: [], lost: [], members: [], failed: [], steps, durationMs: Date.now() - t0, ...s };
  };
  const now = deps.now ?? (() => new Date());

  step("observe the main nodes and their members");
  const first = await plan(deps, now());
  if (first.kind === "none") return summary({ code: first.code, reason: first.reason });

  const owner = `${process.pid}-${randomBytes(4).toString("hex")}`;
  if (!(await deps.store.tryLock(LOCK, owner, LOCK_STALE_MS)))
    throw new LockBusyError("another restore or recovery is running (lock object in the snapshot bucket)");
  let p: Extract<SurvivorPlan, { kind: "recover" }>;
  const setAside: SurvivorSummary["setAside"] = [];
  try {
    // Under the lock, look again: a recovery that just finished leaves a cluster with quorum.
    const again = await plan(deps, now());
    if (again.kind === "none") return summary({ code: again.code, reason: again.reason });
    p = again;
    step("set the other nodes' etcd data aside", {
      survivor: p.survivor.instanceId,
      appliedIndex: p.survivor.status.appliedIndex,
      others: p.others.map((o) => o.instanceId),
    });
    // Stopped before the survivor is forced: a member still running with the old membership would
    // only be refused, but it must not serve stale reads meanwhile.
    const results = await Promise.all(
      p.others.map((o) =>
        deps.commands
          .run({
            instanceIds: [o.instanceId],
            script: setAsideScript(p.stamp),
            comment: `devcluster recovery ${p.stamp}: set etcd data aside`,
            timeoutSeconds: 120,
          })
          .then((r) => r[0]!),
      ),
    );
    for (const r of results) {
      const ok = r.status === "Success";
      setAside.push({
        instanceId: r.instanceId,
        movedAside: ok ? (/moved the old data dir to (\S+)/.exec(r.stdout)?.[1] ?? null) : null,
        ...(ok
          ? {}
          : {
              error: `${r.status} (exit ${r.exitCode}) ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`,
            }),
      });
    }

    step("force a one-member cluster on the survivor", { survivor: p.survivor.instanceId });
    const [forced] = await deps.commands.run({
      instanceIds: [p.survivor.instanceId],
      script: forceNewClusterScript(p.stamp, p.survivor.ip),
      comment: `devcluster recovery ${p.stamp}: force new cluster`,
      timeoutSeconds: 300,
    });
    if (!forced || forced.status !== "Success")
      throw new DevclusterError(
        `recovery ${p.stamp}: etcd --force-new-cluster failed on ${p.survivor.instanceId} (${forced?.status} exit ${forced?.exitCode}: ${forced?.stderr.trim().split("\n").slice(-3).join(" | ")}); ` +
          `its data is copied to /var/lib/etcd.before-recovery-${p.stamp}, the other nodes' data is in the same place on each; run the recovery again`,
      );

    step("wait for the survivor to serve");
    const deadline = Date.now() + (deps.healthTimeoutMs ?? 120_000);
    while (!(await deps.etcd.healthy(p.endpoint, 1000))) {
      if (Date.now() > deadline)
        throw new DevclusterError(
          `recovery ${p.stamp}: ${p.survivor.instanceId} did not serve within ${deps.healthTimeoutMs ?? 120_000} ms after --force-new-cluster`,
        );
      await sleep(100);
    }
    await deps.metrics?.put("RestoreNeeded", 0).catch(() => {});
  } finally {
    await deps.store
      .unlock(LOCK, owner)
      .catch((e: unknown) => log.warn("recovery: could not release the lock", { error: e }));
  }

  const unreachable = setAside.filter((s) => s.error).map((s) => s.instanceId);
  const failed = unreachable.map(
    (id) => `set aside ${id}: ${setAside.find((s) => s.instanceId === id)!.error}`,
  );
  let members: EtcdMember[] = await deps.etcd.members(p.endpoint);
  if (deps.rejoin) {
    step("re-add the other main nodes as learners and promote them", { skip: unreachable });
    const r = await deps.rejoin(log, { skip: unreachable });
    members = r.members;
    failed.push(...r.failed);
  } else log.warn("recovery: no rejoin wired: the other main nodes stay out until reconcile adds them");

  step("check the recovered cluster");
  const status = await deps.etcd.status(p.endpoint, 5000);
  const keyCount = await deps.etcd.keyCount(p.endpoint);
  if (!status || status.revision < p.survivor.status.revision)
    failed.push(`revision ${status?.revision} is below the survivor's ${p.survivor.status.revision}`);
  const out = summary({
    code: "RECOVERED",
    survivor: {
      instanceId: p.survivor.instanceId,
      ip: p.survivor.ip,
      appliedIndex: p.survivor.status.appliedIndex,
      revision: p.survivor.status.revision,
    },
    setAside,
    lost: p.lost,
    members: members.map((m) => ({ name: m.name, isLearner: m.isLearner })),
    revision: status?.revision,
    keyCount,
    failed,
  });
  log.info("recovery: done; the cluster serves from the survivor's data", { ...out });
  return out;
}

/** By hand: `restore` with {"mode":"survivor","confirm":"<cluster>"}. Refuses when no voter survives. */
export async function recoverFromSurvivor(deps: SurvivorDeps, rawInput: unknown): Promise<SurvivorSummary> {
  const input = parseInput(SurvivorInputSchema, rawInput ?? {}, "invalid recovery input");
  if (input.confirm !== deps.cfg.CLUSTER_NAME)
    throw new RefusedError(
      `confirmation "${input.confirm}" does not match the cluster name; nothing was changed`,
    );
  const log = deps.log.child({ op: "recoverFromSurvivor" });
  const out = await run(deps, log);
  if (out.code === "NO_SURVIVOR" || out.code === "NO_NODES")
    throw new RefusedError(
      `${out.reason}; nothing was changed. With no member left, restore from a snapshot: ${howToRestore(deps.cfg.CLUSTER_NAME)}`,
    );
  return out;
}

export type NoQuorumOutcome =
  | { action: "none"; reason: string }
  | { action: "alarm"; reason: string; how: string }
  | { action: "recovered"; summary: SurvivorSummary };

/**
 * For reconcile, on ETCD_NO_QUORUM: recover from the survivor when AUTO_RESTORE allows it; otherwise
 * say how (the alarm itself is raised by reconcile).
 */
export async function recoverIfNoQuorum(deps: SurvivorDeps): Promise<NoQuorumOutcome> {
  const log = deps.log.child({ op: "recoverIfNoQuorum" });
  const how = howToRecoverFromSurvivor(deps.cfg.CLUSTER_NAME);
  if (!deps.cfg.AUTO_RESTORE) return { action: "alarm", reason: "AUTO_RESTORE is off", how };
  log.warn("etcd has no quorum: AUTO_RESTORE is on, recovering from the most up-to-date survivor");
  try {
    const out = await run(deps, log);
    if (out.code === "RECOVERED") return { action: "recovered", summary: out };
    if (out.code === "HAS_QUORUM") return { action: "none", reason: out.reason ?? "quorum is back" };
    return {
      action: "alarm",
      reason: out.reason ?? out.code,
      how: howToRestore(deps.cfg.CLUSTER_NAME),
    };
  } catch (e) {
    if (e instanceof LockBusyError) return { action: "none", reason: e.message };
    log.error("ALARM automatic recovery from the survivor failed", { error: e });
    return {
      action: "alarm",
      reason: `automatic recovery failed: ${e instanceof Error ? e.message : String(e)}`,
      how,
    };
  }
}
