// Restore (the `restore` function, by hand: sls invoke -f restore --data '{"snapshot":"latest","confirm":"<cluster>"}'):
// rebuild the etcd cluster on the main group's current nodes from a verified snapshot.
// Also `recoverIfTotalLoss`, which reconcile calls: restore automatically when allowed, else alarm.
import { observeMainNodes, type GroupsSource } from "./observe.ts";
import { NODES_PREFIX, nodeKey } from "../domain/etcdKeys.ts";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Config } from "../domain/config.ts";
import { DevclusterError, LockBusyError, NotFoundError, RefusedError } from "../domain/errors.ts";
import type { Logger } from "../ports/log.ts";
import { etcdUrls, type NodeRecord } from "../domain/model.ts";
import {
  cleanupScript,
  fetchScript,
  howToRestore,
  planRestore,
  startScript,
  swapScript,
  type RestorePlan,
} from "../domain/restorePlan.ts";
import { digestingStream } from "../domain/snapshotDigest.ts";
import { chooseSnapshot, validity, type Manifest } from "../domain/snapshots.ts";
import type { CommandResult, Commands } from "../ports/index.ts";
import type { EtcdSnapshotApi, Metrics, SnapshotStore } from "../ports/snapshots.ts";
import { parseInput } from "../domain/input.ts";
import { pollUntil, sleep } from "../domain/poll.ts";
import { RESTORE_CODES, type RestoreStepCode } from "../domain/reportCodes.ts";
import { spans, type TimedStep } from "./spans.ts";

/** How a refusal names the override; the command line says `--force` in its place. */
export const FORCE_HINT = 'pass "force": true';

export const RestoreInputSchema = z
  .object({
    /** From a snapshot (the default); `survivor` is recovery from a surviving member (operations/survivor.ts). */
    mode: z.literal("snapshot").optional(),
    /** `latest` (the newest valid snapshot), a snapshot id, or its data or manifest key. */
    snapshot: z.string().min(1).default("latest"),
    /** The cluster's name, repeated: a restore replaces the whole cluster's data. */
    confirm: z.string(),
    /** Restore even though a healthy cluster still serves (its data is moved aside, not deleted). */
    force: z.boolean().default(false),
  })
  .strict();

/** What the composition root wires after a restore: rewrite discovery records, re-push units. */
export interface AfterRestore {
  (result: { plan: RestorePlan; manifest: Manifest; nodes: NodeRecord[] }): Promise<void>;
}

export interface RestoreDeps {
  cfg: Config;
  log: Logger;
  groups: GroupsSource;
  etcd: EtcdSnapshotApi;
  store: SnapshotStore;
  commands: Commands;
  metrics?: Metrics;
  afterRestore?: AfterRestore;
  now?: () => Date;
  random?: () => string;
  /** How long to wait for the restored cluster to be healthy (default 120 s). */
  quorumTimeoutMs?: number;
}

export interface RestoreSummary {
  snapshot: {
    id: string;
    dataKey: string;
    size: number;
    sha256: string;
    revision: number;
    keyCount: number;
    takenAt: string;
  };
  token: string;
  members: { instanceId: string; ip: string; movedAside: string | null }[];
  endpoints: string[];
  revision: number;
  keyCount: number;
  /** Each step (codes in domain/reportCodes.ts) and how long it took. */
  steps: TimedStep<RestoreStepCode>[];
  durationMs: number;
}

const LOCK = "restore";
const LOCK_STALE_MS = 20 * 60_000; // longer than any Lambda runs

/** Stream the object through SHA-256 and etcd's trailer check; throws RefusedError when it does not match. */
async function verifyDownload(store: SnapshotStore, m: Manifest): Promise<void> {
  const body = await store.download(m.dataKey);
  const d = digestingStream();
  for await (const chunk of body.pipe(d.stream)) void chunk;
  const r = d.result();
  const problems: string[] = [];
  if (r.size !== m.size) problems.push(`size ${r.size} != manifest ${m.size}`);
  if (r.sha256 !== m.sha256) problems.push(`SHA-256 ${r.sha256} != manifest ${m.sha256}`);
  if (!r.etcdTrailerOk) problems.push("etcd's own checksum trailer does not match");
  if (problems.length)
    throw new RefusedError(`snapshot ${m.id} is corrupt (${problems.join("; ")}); nothing was changed`);
}

function failed(results: CommandResult[]): CommandResult[] {
  return results.filter((r) => r.status !== "Success");
}
const describeFailures = (rs: CommandResult[]) =>
  rs
    .map(
      (r) =>
        `${r.instanceId}: ${r.status} (exit ${r.exitCode}) ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`,
    )
    .join("; ");

export async function restore(deps: RestoreDeps, rawInput: unknown): Promise<RestoreSummary> {
  const t0 = Date.now();
  const log = deps.log.child({ op: "restore" });
  const timed = spans<RestoreStepCode>(log, { label: "restore", total: Object.keys(RESTORE_CODES).length });
  const step = timed.begin;

  // 1. Input and confirmation: nothing is read or changed before these pass.
  const input = parseInput(RestoreInputSchema, rawInput ?? {}, "invalid restore input");
  if (input.confirm !== deps.cfg.CLUSTER_NAME) {
    throw new RefusedError(
      `confirmation "${input.confirm}" does not match the cluster name; nothing was changed`,
    );
  }
  step("RS_SNAPSHOT_RESOLVED", { snapshot: input.snapshot });
  const observed = await deps.store.list();
  const chosen = chooseSnapshot(deps.store.layout, observed, input.snapshot);
  if (!chosen)
    throw new NotFoundError(
      input.snapshot === "latest" ? "there is no valid snapshot" : `snapshot ${input.snapshot} not found`,
    );
  const invalid = validity(deps.store.layout, chosen);
  if (invalid) throw new RefusedError(`snapshot ${chosen.id} is not valid (${invalid}); nothing was changed`);
  const manifest = chosen.manifest!;

  step("RS_CHECKSUM_VERIFIED", { id: manifest.id, size: manifest.size });
  await verifyDownload(deps.store, manifest);

  step("RS_NODES_OBSERVED");
  const nodes = await observeMainNodes(deps.groups, deps.cfg);
  if (nodes.length === 0)
    throw new RefusedError(
      `the main group ${deps.cfg.GROUP_MAIN} has no InService nodes; nothing was changed`,
    );
  const probe = [
    ...new Set([
      ...nodes.map((x) => etcdUrls(deps.cfg.ETCD_TLS).client(x.privateIp)),
      ...manifest.members.flatMap((m) => m.clientUrls),
    ]),
  ];
  const serving = (
    await Promise.all(probe.map(async (e) => ((await deps.etcd.healthy(e, 1500)) ? e : undefined)))
  ).filter((e): e is string => e !== undefined);
  if (serving.length && !input.force) {
    throw new RefusedError(
      `a healthy etcd cluster is still serving at ${serving.join(", ")}; restore only after total loss, or ${FORCE_HINT}; nothing was changed`,
    );
  }
  if (serving.length)
    log.warn("restore: forced while a healthy cluster serves; its data will be moved aside", { serving });

  const owner = `${process.pid}-${randomBytes(4).toString("hex")}`;
  if (!(await deps.store.tryLock(LOCK, owner, LOCK_STALE_MS))) {
    throw new LockBusyError(
      "another restore is running (lock object in the snapshot bucket); nothing was changed",
    );
  }
  try {
    const now = (deps.now ?? (() => new Date()))();
    const plan = planRestore({
      cluster: deps.cfg.CLUSTER_NAME,
      manifest,
      nodes,
      at: now,
      random: (deps.random ?? (() => randomBytes(4).toString("hex")))(),
      tls: deps.cfg.ETCD_TLS,
    });
    const byId = (id: string) => plan.members.find((m) => m.instanceId === id)!;

    step("RS_FETCHED", { nodes: plan.members.map((m) => m.instanceId) });
    // The nodes fetch it as their own role: nothing secret (a presigned URL) goes into the command.
    const object = { bucket: deps.store.bucket, key: manifest.dataKey };
    const fetched = await Promise.all(
      plan.members.map((m) =>
        deps.commands
          .run({
            instanceIds: [m.instanceId],
            script: fetchScript(plan, manifest, object),
            comment: `devcluster restore ${plan.stamp}: fetch`,
            timeoutSeconds: 600,
          })
          .then((r) => r[0]!),
      ),
    );
    const fetchFailed = failed(fetched);
    if (fetchFailed.length) {
      await deps.commands
        .run({
          instanceIds: plan.members.map((m) => m.instanceId),
          script: cleanupScript(plan),
          comment: "devcluster restore: clean up",
        })
        .catch(() => {});
      throw new RefusedError(
        `could not fetch the snapshot onto every node (${describeFailures(fetchFailed)}); etcd was not touched`,
      );
    }

    step("RS_SWAPPED", { token: plan.token });
    const swapped = await Promise.all(
      plan.members.map((m) =>
        deps.commands
          .run({
            instanceIds: [m.instanceId],
            script: swapScript(plan, byId(m.instanceId)),
            comment: `devcluster restore ${plan.stamp}: swap`,
            timeoutSeconds: 600,
          })
          .then((r) => r[0]!),
      ),
    );
    const swapFailed = failed(swapped);
    if (swapFailed.length) {
      throw new DevclusterError(
        `restore ${plan.stamp} failed while rebuilding members (${describeFailures(swapFailed)}). ` +
          `Old data dirs are kept as /var/lib/etcd.before-restore-${plan.stamp} and settings as /etc/etcd/etcd.env.before-restore-${plan.stamp} ` +
          `on the nodes that got that far; run the restore again, or move them back by hand.`,
      );
    }
    const movedAside = new Map(
      swapped.map((r) => [r.instanceId, /moved the old data dir to (\S+)/.exec(r.stdout)?.[1] ?? null]),
    );

    step("RS_STARTED");
    const started = await deps.commands.run({
      instanceIds: plan.members.map((m) => m.instanceId),
      script: startScript(plan),
      comment: `devcluster restore ${plan.stamp}: start`,
      timeoutSeconds: 120,
    });
    const startFailed = failed(started);
    if (startFailed.length)
      throw new DevclusterError(`could not start etcd on ${describeFailures(startFailed)}`);

    step("RS_QUORUM_HEALTHY", { endpoints: plan.endpoints });
    const quorum = Math.floor(plan.members.length / 2) + 1;
    let healthy: string[] = [];
    const all = await pollUntil(
      async () => {
        healthy = (
          await Promise.all(
            plan.endpoints.map(async (e) => ((await deps.etcd.healthy(e, 1000)) ? e : undefined)),
          )
        ).filter((e): e is string => e !== undefined);
        return healthy.length === plan.endpoints.length ? true : undefined;
      },
      { timeoutMs: deps.quorumTimeoutMs ?? 120_000, intervalMs: 100 },
    );
    if (!all) {
      if (healthy.length < quorum)
        throw new DevclusterError(
          `restored cluster not healthy after ${deps.quorumTimeoutMs ?? 120_000} ms (healthy: ${healthy.join(", ") || "none"})`,
        );
      log.warn("restore: quorum is healthy but not every member yet", { healthy, endpoints: plan.endpoints });
    }

    step("RS_CONTENT_CHECKED");
    const at = healthy[0]!;
    const status = await deps.etcd.status(at, 5000);
    const members = await deps.etcd.members(at);
    const keyCount = await deps.etcd.keyCount(at, manifest.revision);
    const problems: string[] = [];
    if (!status || status.revision < manifest.revision)
      problems.push(`revision ${status?.revision} < snapshot's ${manifest.revision}`);
    if (keyCount !== manifest.keyCount)
      problems.push(
        `key count ${keyCount} at revision ${manifest.revision} != manifest ${manifest.keyCount}`,
      );
    if (members.length !== plan.members.length)
      problems.push(`${members.length} members, planned ${plan.members.length}`);
    if (problems.length)
      throw new DevclusterError(
        `restored cluster does not match snapshot ${manifest.id}: ${problems.join("; ")}`,
      );

    step("RS_REGISTRY_REWRITTEN");
    const at2 = new Date().toISOString();
    const records: NodeRecord[] = plan.members.map((m) => ({
      instanceId: m.instanceId,
      role: "main",
      group: deps.cfg.GROUP_MAIN,
      zone: m.zone,
      privateIp: m.ip,
      publicIp: m.publicIp,
      state: "active",
      updatedAt: at2,
    }));
    // Main nodes the snapshot knew that are no longer in the group are marked gone (reconcile tidies up).
    const current = new Set(records.map((r) => r.instanceId));
    const stale = (await deps.etcd.getPrefix(at, NODES_PREFIX))
      .map((kv) => {
        try {
          return JSON.parse(kv.value) as NodeRecord;
        } catch {
          return undefined;
        }
      })
      .filter(
        (r): r is NodeRecord => !!r && r.role === "main" && !current.has(r.instanceId) && r.state !== "gone",
      )
      .map((r) => ({ ...r, state: "gone" as const, updatedAt: at2 }));
    await deps.etcd.put(
      at,
      [...records, ...stale].map((r) => ({ key: nodeKey(r.instanceId), value: JSON.stringify(r) })),
    );
    if (deps.afterRestore) await deps.afterRestore({ plan, manifest, nodes: records });
    else log.warn("restore: no afterRestore hook wired: discovery records and units were not refreshed");

    const steps = timed.end();
    const summary: RestoreSummary = {
      snapshot: {
        id: manifest.id,
        dataKey: manifest.dataKey,
        size: manifest.size,
        sha256: manifest.sha256,
        revision: manifest.revision,
        keyCount: manifest.keyCount,
        takenAt: manifest.startedAt,
      },
      token: plan.token,
      members: plan.members.map((m) => ({
        instanceId: m.instanceId,
        ip: m.ip,
        movedAside: movedAside.get(m.instanceId) ?? null,
      })),
      endpoints: plan.endpoints,
      revision: status!.revision,
      keyCount,
      steps,
      durationMs: Date.now() - t0,
    };
    log.info("restore: done; the cluster is healthy and matches the snapshot", { ...summary });
    await deps.metrics?.put("RestoreNeeded", 0).catch(() => {});
    return summary;
  } finally {
    await deps.store
      .unlock(LOCK, owner)
      .catch((e) => log.warn("restore: could not release the lock", { error: e }));
  }
}

export type RecoveryOutcome =
  | { action: "none"; reason: string }
  | { action: "alarm"; reason: string; how: string }
  | { action: "restored"; summary: RestoreSummary };

/**
 * For reconcile: when no etcd member answers while the main group has healthy nodes, restore from the
 * newest valid snapshot if AUTO_RESTORE allows it; otherwise log an alarm-worthy line and put the
 * metric RestoreNeeded=1 with how to restore. A second probe after `graceMs` keeps a restart in
 * progress from looking like a total loss.
 */
export async function recoverIfTotalLoss(deps: RestoreDeps & { graceMs?: number }): Promise<RecoveryOutcome> {
  const log = deps.log.child({ op: "recoverIfTotalLoss" });
  const nodes = (await observeMainNodes(deps.groups, deps.cfg)).filter((x) => x.healthStatus === "Healthy");
  if (nodes.length === 0) return { action: "none", reason: "the main group has no healthy InService nodes" };
  const endpoints = nodes.map((x) => etcdUrls(deps.cfg.ETCD_TLS).client(x.privateIp));
  const anyAlive = async () => (await Promise.all(endpoints.map((e) => deps.etcd.alive(e)))).some(Boolean);
  if (await anyAlive()) return { action: "none", reason: "an etcd member is alive" };
  await sleep(deps.graceMs ?? 10_000);
  if (await anyAlive()) return { action: "none", reason: "an etcd member came back" };

  const how = howToRestore(deps.cfg.CLUSTER_NAME);
  const alarm = async (reason: string): Promise<RecoveryOutcome> => {
    log.error("ALARM etcd total loss: no member alive on any main node; a restore is needed", {
      reason,
      how,
      nodes: nodes.map((x) => x.instanceId),
    });
    await deps.metrics
      ?.put("RestoreNeeded", 1)
      .catch((e) => log.warn("could not put RestoreNeeded", { error: e }));
    return { action: "alarm", reason, how };
  };
  if (!deps.cfg.AUTO_RESTORE) return alarm("AUTO_RESTORE is off");
  log.warn("etcd total loss: AUTO_RESTORE is on, restoring the newest valid snapshot", {
    nodes: nodes.map((x) => x.instanceId),
  });
  try {
    const summary = await restore(deps, { snapshot: "latest", confirm: deps.cfg.CLUSTER_NAME });
    return { action: "restored", summary };
  } catch (e) {
    if (e instanceof LockBusyError) return { action: "none", reason: e.message };
    return alarm(`automatic restore failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
