// The snapshot function's part of the composition root (runtime/wiring.ts): kept in its own module so
// the snapshot bundle carries only the clients it needs. The snapshot process has a 150 MB budget, and
// every SDK client a bundle holds is parsed at start even when unused.
import { promises as dns } from "node:dns";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { S3Client } from "@aws-sdk/client-s3";
import type { Config } from "../domain/config.ts";
import { layoutOf } from "../domain/snapshots.ts";
import type { Logger } from "../ports/log.ts";
import type { Commands, Groups, LifecycleActions } from "../ports/index.ts";
import { cloudwatchMetrics } from "../adapters/aws/cloudwatchMetrics.ts";
import { s3SnapshotStore } from "../adapters/aws/s3Snapshots.ts";
import { createEtcdSnapshotApi } from "../adapters/etcd/snapshots.ts";
import type { EtcdClientTls } from "../adapters/etcd/tls.ts";
import type { LifecycleDeps } from "../operations/deps.ts";
import type { SnapshotDeps, SrvLookup } from "../operations/snapshot.ts";
import { loadConfig } from "./config.ts";

/**
 * What a composition other than Lambda's replaces: the local cluster runs node commands on node
 * directories, records lifecycle actions itself and has no DNS server for the private zone (`null`).
 */
export interface Overrides {
  commands?: Commands;
  actions?: LifecycleActions;
  resolveSrv?: SrvLookup | null;
  /** The control plane's etcd certificate from elsewhere than SSM (benches). */
  etcdTls?: () => Promise<EtcdClientTls>;
}

/** A composition: the configuration, what it overrides, and what it keeps while warm (clients, caches). */
export interface Wiring {
  cfg: Config;
  over: Overrides;
  commands?: Commands;
  lifecycle?: LifecycleDeps;
  /** Per-composition caches of the other functions (runtime/wiring.ts). */
  caches: Record<string, unknown>;
}

export function createWiring(cfg: Config, over: Overrides = {}): Wiring {
  return { cfg, over, caches: {} };
}

let shared: Wiring | undefined;
/** The Lambda container's composition, from the environment, made on first use and kept while warm. */
export function wiring(): Wiring {
  return (shared ??= createWiring(loadConfig()));
}

// Clients are made on first use and kept while warm, with the settings of adapters/aws/clients.ts.
// The EC2 client (~75 MB of memory) and the groups adapter load only when groups are first asked for.
let s3: S3Client | undefined;
let cloudwatch: CloudWatchClient | undefined;
export const s3Client = () =>
  (s3 ??= new S3Client({ maxAttempts: 5, forcePathStyle: process.env.S3_FORCE_PATH_STYLE === "true" }));
export const loadGroups = async (): Promise<Groups> => (await import("./groupsLoader.ts")).loadAwsGroups();

/**
 * The control plane's etcd certificate in this container: read from SSM the first time an https
 * member is dialled, kept while warm (a failed read is retried by the next call). The SSM client
 * loads with it, so a function whose members serve plain http loads neither.
 */
export function controlPlaneTls(w: Wiring): () => Promise<EtcdClientTls> {
  if (w.over.etcdTls) return w.over.etcdTls;
  let loading: Promise<EtcdClientTls> | undefined;
  return (w.caches.etcdTls ??= () =>
    (loading ??= import("./etcdTlsLoader.ts")
      .then((m) => m.loadControlPlaneTls(w.cfg.CLUSTER_NAME))
      .catch((e: unknown) => {
        loading = undefined;
        throw e;
      }))) as () => Promise<EtcdClientTls>;
}

const systemSrv: SrvLookup = (name) => dns.resolveSrv(name);

export function snapshotDeps(w: Wiring, log: Logger): SnapshotDeps {
  const { cfg } = w;
  cloudwatch ??= new CloudWatchClient({ maxAttempts: 5 });
  const resolveSrv = w.over.resolveSrv === undefined ? systemSrv : w.over.resolveSrv;
  return {
    cfg,
    log,
    groups: loadGroups,
    etcd: createEtcdSnapshotApi(controlPlaneTls(w)),
    store: s3SnapshotStore(s3Client(), cfg.SNAPSHOT_BUCKET, layoutOf(cfg)),
    metrics: cloudwatchMetrics(cloudwatch, cfg.METRIC_NAMESPACE, cfg.CLUSTER_NAME),
    ...(resolveSrv ? { resolveSrv } : {}),
  };
}
