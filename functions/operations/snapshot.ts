// Snapshot (the `snapshot` function, on a schedule): stream an etcd v3 snapshot from a healthy member into S3 with its SHA-256,
// write the manifest that makes it valid, emit a metric, apply retention.
import { observeMainNodes, type GroupsSource } from "./observe.ts";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream";
import { z } from "zod";
import type { Config } from "../domain/config.ts";
import { DevclusterError, NotFoundError } from "../domain/errors.ts";
import type { Logger } from "../ports/log.ts";
import { etcdUrls } from "../domain/model.ts";
import { srvClientName } from "../domain/dnsPlan.ts";
import { digestingStream } from "../domain/snapshotDigest.ts";
import {
  dataKey,
  layoutOf,
  manifestKey,
  planRetention,
  snapshotId,
  type Manifest,
  type RetentionPlan,
} from "../domain/snapshots.ts";
import type {
  EtcdSnapshotApi,
  MemberStatus,
  Metrics,
  SnapshotStore,
  UploadTuning,
} from "../ports/snapshots.ts";
import { parseInput } from "../domain/input.ts";

export interface SnapshotDeps {
  cfg: Config;
  log: Logger;
  groups: GroupsSource;
  etcd: EtcdSnapshotApi;
  store: SnapshotStore;
  metrics: Metrics;
  now?: () => Date;
  random?: () => string;
  tuning?: UploadTuning;
  /** Leftovers of failed uploads are removed after this long (default one day). */
  orphanGraceMs?: number;
  /** Where the etcd discovery record is looked up; absent where there is no DNS for the zone (local). */
  resolveSrv?: SrvLookup;
}

export { layoutOf };

/**
 * Resolves etcd's client discovery record (`_etcd-client._tcp.<domain>` SRV, or
 * `_etcd-client-ssl._tcp.<domain>` when the members serve TLS) to client URLs.
 */
export type SrvLookup = (name: string) => Promise<{ name: string; port: number }[]>;

/**
 * The members to snapshot: from the discovery records the control plane keeps (as every etcd client
 * finds them), else from the main group's instances.
 */
async function findEndpoints(deps: SnapshotDeps): Promise<string[]> {
  const srv = deps.resolveSrv;
  if (srv) {
    try {
      const tls = deps.cfg.ETCD_TLS;
      const records = await srv(srvClientName(deps.cfg.CLUSTER_DOMAIN, tls).replace(/\.$/, ""));
      const scheme = tls ? "https" : "http";
      if (records.length) return records.map((r) => `${scheme}://${r.name.replace(/\.$/, "")}:${r.port}`);
    } catch (e) {
      deps.log.info("snapshot: no etcd discovery record; using the main group's instances", { error: e });
    }
  }
  return (await observeMainNodes(deps.groups, deps.cfg)).map((n) =>
    etcdUrls(deps.cfg.ETCD_TLS).client(n.privateIp),
  );
}

/**
 * Pick the member to snapshot: one that answers and is healthy; a follower rather than the leader
 * (the snapshot's disk and network load then stays off the leader). Pure.
 */
export function pickSource(
  statuses: (MemberStatus | undefined)[],
  healthy: boolean[],
): MemberStatus | undefined {
  const ok = statuses
    .map((s, i) => (s && healthy[i] && s.leader !== "0" && !s.isLearner ? s : undefined))
    .filter((s): s is MemberStatus => s !== undefined);
  return ok.find((s) => s.memberId !== s.leader) ?? ok[0];
}

export interface SnapshotSummary {
  id: string;
  dataKey: string;
  size: number;
  sha256: string;
  revision: number;
  keyCount: number;
  source: string;
  durationMs: number;
  bytesPerSecond: number;
  retention?: { kept: number; dropped: string[]; orphans: string[]; error?: string };
}

export const SnapshotEventSchema = z
  .object({
    /** Snapshot one of these client URLs instead of the main group's members. */
    endpoints: z.array(z.string().url()).min(1).optional(),
    /** Skip retention (e.g. a snapshot taken by hand before risky work). */
    skipRetention: z.boolean().optional(),
  })
  .passthrough(); // a scheduled EventBridge event carries its own fields

/** Take one snapshot and store it; throws (and records a failure metric) when it could not. */
export async function takeSnapshot(
  deps: SnapshotDeps,
  input: { endpoints?: string[] } = {},
): Promise<SnapshotSummary> {
  const { log, etcd, store } = deps;
  const now = deps.now ?? (() => new Date());
  const endpoints = input.endpoints ?? (await findEndpoints(deps));
  if (endpoints.length === 0) throw new NotFoundError("no main nodes to snapshot");
  const [statuses, health] = await Promise.all([
    Promise.all(endpoints.map((e) => etcd.status(e))),
    Promise.all(endpoints.map((e) => etcd.healthy(e))),
  ]);
  const source = pickSource(statuses, health);
  if (!source) throw new DevclusterError(`no healthy etcd member among ${endpoints.join(", ")}`);
  const startedAt = now();
  const id = snapshotId(startedAt, (deps.random ?? (() => randomBytes(4).toString("hex")))());
  const key = dataKey(store.layout, id);
  const members = await etcd.members(source.endpoint);
  log.info("snapshot: streaming", {
    id,
    key,
    source: source.endpoint,
    revision: source.revision,
    dbSize: source.dbSize,
  });

  const t0 = Date.now();
  const snap = await etcd.openSnapshot(source.endpoint);
  const digest = digestingStream({ requireEtcdTrailer: true });
  let etag: string;
  try {
    // Errors anywhere (etcd stream, trailer check) destroy the body the upload reads, so the upload
    // fails and aborts its multipart upload: no object, no manifest, nothing listed.
    pipeline(snap.stream, digest.stream, () => {});
    ({ etag } = await store.uploadData(key, digest.stream, deps.tuning));
  } finally {
    snap.close();
    if (!digest.stream.readableEnded) digest.stream.destroy();
  }
  const { sha256, size } = digest.result();
  const durationMs = Date.now() - t0;
  const after = await etcd.status(source.endpoint);
  const keyCount = await etcd.keyCount(source.endpoint, source.revision);
  const manifest: Manifest = {
    version: 1,
    id,
    cluster: deps.cfg.CLUSTER_NAME,
    clusterId: source.clusterId,
    dataKey: key,
    size,
    sha256,
    etag,
    revision: source.revision,
    revisionAfter: after?.revision ?? source.revision,
    keyCount,
    members,
    source: { endpoint: source.endpoint, memberId: source.memberId },
    startedAt: startedAt.toISOString(),
    completedAt: now().toISOString(),
    durationMs,
  };
  await store.putManifest(manifest);
  const summary: SnapshotSummary = {
    id,
    dataKey: key,
    size,
    sha256,
    revision: manifest.revision,
    keyCount,
    source: source.endpoint,
    durationMs,
    bytesPerSecond: Math.round(size / Math.max(durationMs / 1000, 0.001)),
  };
  log.info("snapshot: stored and valid", { ...summary });
  return summary;
}

/** Plan retention over what is in the bucket and delete what the rule does not keep. */
export async function applyRetention(deps: SnapshotDeps): Promise<RetentionPlan> {
  const observed = await deps.store.list();
  const plan = planRetention(deps.store.layout, observed, (deps.now ?? (() => new Date()))(), {
    keepLast: deps.cfg.RETAIN_LAST,
    keepDays: deps.cfg.RETAIN_DAYS,
    orphanGraceMs: deps.orphanGraceMs ?? 86_400_000,
  });
  const { layout } = deps.store;
  const keys = [
    ...plan.drop.flatMap((id) => [manifestKey(layout, id), dataKey(layout, id)]),
    ...plan.orphans,
  ];
  if (keys.length) await deps.store.deleteKeys(keys);
  deps.log.info("snapshot: retention applied", {
    kept: plan.keep.length,
    dropped: plan.drop,
    orphans: plan.orphans,
  });
  return plan;
}

/** Snapshot, metric, retention: what the schedule runs. */
export async function runSnapshot(deps: SnapshotDeps, event: unknown = {}): Promise<SnapshotSummary> {
  const parsed = { data: parseInput(SnapshotEventSchema, event ?? {}, "invalid snapshot event") };
  let summary: SnapshotSummary;
  try {
    summary = await takeSnapshot(deps, parsed.data.endpoints ? { endpoints: parsed.data.endpoints } : {});
  } catch (e) {
    deps.log.error("snapshot: failed; no snapshot was recorded", { error: e });
    await deps.metrics.put("SnapshotSucceeded", 0).catch(() => {});
    throw e;
  }
  await deps.metrics.put("SnapshotSucceeded", 1);
  await deps.metrics.put("SnapshotSizeBytes", summary.size, "Bytes");
  if (!parsed.data.skipRetention) {
    try {
      const plan = await applyRetention(deps);
      summary.retention = { kept: plan.keep.length, dropped: plan.drop, orphans: plan.orphans };
    } catch (e) {
      // The snapshot is stored and valid; retention runs again next time.
      deps.log.error("snapshot: retention failed", { error: e });
      summary.retention = {
        kept: -1,
        dropped: [],
        orphans: [],
        error: e instanceof Error ? e.message : String(e),
      };
    }
  }
  return summary;
}
