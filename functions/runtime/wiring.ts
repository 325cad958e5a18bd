// The one composition root: builds each function's dependencies (adapters over the configuration) and
// ties reconcile and total-loss recovery together with closures, so no operation imports another's
// wiring. The snapshot function's part lives in snapshotWiring.ts (its bundle must stay small).
// Everything is built on first use: importing a handler never throws on configuration.
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { Route53Client } from "@aws-sdk/client-route-53";
import { SSMClient } from "@aws-sdk/client-ssm";
import { randomUUID } from "node:crypto";
import { Etcd3 } from "etcd3";
import { groupsOf, type Config } from "../domain/config.ts";
import { DevclusterError } from "../domain/errors.ts";
import { formatStep } from "../domain/reportCodes.ts";
import { etcdUrls } from "../domain/model.ts";
import { layoutOf, validSnapshots } from "../domain/snapshots.ts";
import type { Logger } from "../ports/log.ts";
import type { Commands, Groups } from "../ports/index.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { PublishedImages } from "../ports/units.ts";
import type { Volumes } from "../ports/volumes.ts";
import { awsLifecycleActions } from "../adapters/aws/lifecycleActions.ts";
import { route53Dns } from "../adapters/aws/route53Dns.ts";
import { s3SnapshotStore } from "../adapters/aws/s3Snapshots.ts";
import { createSsmCommands } from "../adapters/aws/ssmCommands.ts";
import { ssmPublishedImages } from "../adapters/aws/ssmPublishedImages.ts";
import { ssmClusterPki } from "../adapters/aws/ssmClusterPki.ts";
import { etcdClusterStore } from "../adapters/etcd/clusterStore.ts";
import { etcdPlacementStore } from "../adapters/etcd/placementStore.ts";
import { etcdNodeAccessStore } from "../adapters/etcd/etcdAccess.ts";
import { grpcTlsOptions, tlsResolver, type EtcdClientTls, type EtcdTlsSource } from "../adapters/etcd/tls.ts";
import { readCatalogDir } from "../catalog/index.ts";
import type { ServiceSelection } from "../domain/units/services.ts";
import {
  DEFAULT_TIMING,
  type ClusterHistory,
  type LifecycleDeps,
  type UnitsHook,
} from "../operations/deps.ts";
import { unitsHook, UNITS_LOCK_WAIT_MS, VOLUMES_LOCK, withUnitsLock } from "../operations/unitsHook.ts";
import type { RestoreDeps } from "../operations/restore.ts";
import type { SurvivorDeps } from "../operations/survivor.ts";
import type { UnitsDeps } from "../operations/units.ts";
import { byEndpoints } from "./byEndpoints.ts";
import { etcdClientsByEndpoints } from "./etcdClients.ts";
import { controlPlaneTls, loadGroups, s3Client, snapshotDeps, type Wiring } from "./snapshotWiring.ts";

export { createWiring, snapshotDeps, wiring, type Overrides, type Wiring } from "./snapshotWiring.ts";

/**
 * One store per endpoint set, kept across warm invocations; a changed set replaces the old one. `tls`:
 * the control plane's certificate for https endpoints.
 */
export function cachedStores(
  tls?: EtcdTlsSource,
  make: (endpoints: string[]) => ClusterStore = (e) => etcdClusterStore({ endpoints: e, tls }),
) {
  return byEndpoints(make, (store) => store.close());
}

/** The units hook over etcd (placement) and the repository's catalog. */
export function etcdUnitsHook(
  commands: Commands,
  opts: {
    lockWaitMs?: number;
    images?: PublishedImages;
    volumes?: Volumes;
    tls?: EtcdTlsSource;
    /** The team's services the catalog takes (the cluster's `services` setting). */
    services?: ServiceSelection;
  } = {},
): UnitsHook {
  const { tls, services, ...rest } = opts;
  const resolver = tlsResolver(tls);
  let loaded: EtcdClientTls | undefined;
  const clients = byEndpoints(
    (hosts) => new Etcd3({ hosts, dialTimeout: 2000, ...grpcTlsOptions(loaded) }),
    (c) => c.close(),
  );
  return unitsHook({
    commands,
    placements: async (endpoints) => {
      loaded = (await resolver.forUrls(endpoints)) ?? loaded;
      return etcdPlacementStore(clients(endpoints));
    },
    access: async (endpoints) => {
      loaded = (await resolver.forUrls(endpoints)) ?? loaded;
      return etcdNodeAccessStore(clients(endpoints));
    },
    catalog: () => readCatalogDir(undefined, services),
    ...rest,
  });
}

/** Whether a valid snapshot of this cluster is stored (then it has existed and is never bootstrapped empty). */
function snapshotHistory(cfg: Config): ClusterHistory {
  return {
    async formedBefore(): Promise<boolean> {
      const layout = layoutOf(cfg);
      const store = s3SnapshotStore(s3Client(), cfg.SNAPSHOT_BUCKET, layout);
      return validSnapshots(layout, await store.list()).length > 0;
    },
  };
}

let ssm: SSMClient | undefined;
const ssmClient = () => (ssm ??= new SSMClient({ maxAttempts: 5 }));
let autoscaling: AutoScalingClient | undefined;

/** The cluster's volumes over EC2, loaded on the first call (the EC2 client is heavy). */
function lazyVolumes(cluster: string): Volumes {
  let volumes: Promise<Volumes> | undefined;
  const get = () => (volumes ??= import("./volumesLoader.ts").then((m) => m.loadAwsVolumes(cluster)));
  return {
    list: async () => (await get()).list(),
    create: async (req) => (await get()).create(req),
    attach: async (id, instance, device) => (await get()).attach(id, instance, device),
    detach: async (id, instance) => (await get()).detach(id, instance),
    instanceStates: async (ids) => (await get()).instanceStates(ids),
  };
}

/** Groups whose adapter loads on the first call. */
function lazyGroups(): Groups {
  let groups: Promise<Groups> | undefined;
  const get = () => (groups ??= loadGroups());
  return {
    describeGroups: async (names) => (await get()).describeGroups(names),
    describeInstances: async (ids) => (await get()).describeInstances(ids),
  };
}

const commandsOf = (w: Wiring) => (w.commands ??= w.over.commands ?? createSsmCommands({ ssm: ssmClient() }));

/** lifecycle and reconcile: built once, kept across warm invocations. */
export function lifecycleDeps(w: Wiring): LifecycleDeps {
  if (w.lifecycle) return w.lifecycle;
  const { cfg } = w;
  // Route 53 retries live in the Dns adapter (backoff with jitter); the client itself does not retry.
  const route53 = new Route53Client({ maxAttempts: 1 });
  const commands = commandsOf(w);
  w.lifecycle = {
    clusterName: cfg.CLUSTER_NAME,
    etcdTls: cfg.ETCD_TLS,
    domain: cfg.CLUSTER_DOMAIN,
    groupNames: groupsOf(cfg),
    groups: lazyGroups(),
    actions:
      w.over.actions ?? awsLifecycleActions((autoscaling ??= new AutoScalingClient({ maxAttempts: 5 }))),
    commands,
    dns: route53Dns(route53, cfg.PRIVATE_ZONE_ID),
    store: cachedStores(controlPlaneTls(w)),
    units: etcdUnitsHook(commands, {
      images: ssmPublishedImages(ssmClient(), cfg.CLUSTER_NAME),
      volumes: lazyVolumes(cfg.CLUSTER_NAME),
      tls: controlPlaneTls(w),
      services: cfg.SERVICES,
    }),
    pki: ssmClusterPki(ssmClient(), cfg.CLUSTER_NAME),
    history: snapshotHistory(cfg),
    recover: (log) => recover(w, log),
    noQuorum: async (log) => {
      await snapshotDeps(w, log).metrics?.put("RestoreNeeded", 1);
    },
    recoverNoQuorum: (log) => recoverNoQuorum(w, log),
    timing: DEFAULT_TIMING,
    now: () => new Date(),
  };
  return w.lifecycle;
}

/** restore: afterwards discovery records are rewritten and units re-pushed (a reconcile run). */
export function restoreDeps(w: Wiring, log: Logger, extra: Partial<RestoreDeps> = {}): RestoreDeps {
  const { resolveSrv: _unused, ...base } = snapshotDeps(w, log);
  return {
    ...base,
    groups: loadGroups,
    commands: commandsOf(w),
    afterRestore: () => afterRestore(w, log),
    ...extra,
  };
}

/** After a restore: rewrite the discovery records and the registry's DNS, re-push every node's units. */
async function afterRestore(w: Wiring, log: Logger): Promise<void> {
  const { handleReconcile } = await import("../operations/reconcile.ts");
  const report = await handleReconcile(lifecycleDeps(w), log.child({ op: "afterRestore" }), {
    recover: false,
  });
  if (report.failed.length) log.warn("restore: follow-up reconcile left failures", { failed: report.failed });
}

/** reconcile's answer to total loss: restore the newest valid snapshot if AUTO_RESTORE allows, else alarm. */
async function recover(w: Wiring, log: Logger): Promise<{ action: string; reason?: string }> {
  const { recoverIfTotalLoss } = await import("../operations/restore.ts");
  const out = await recoverIfTotalLoss(restoreDeps(w, log));
  if (out.action === "restored") return { action: "restored" };
  // An alarm names the remedy, on AWS and locally, in reconcile's own report (not only in the log).
  return { action: out.action, reason: out.action === "alarm" ? `${out.reason}; ${out.how}` : out.reason };
}

/** Recovery from the survivor: restore's dependencies, and reconcile's repairs to re-add the other nodes. */
export function survivorDeps(w: Wiring, log: Logger): SurvivorDeps {
  const { metrics, etcd, store, cfg } = snapshotDeps(w, log);
  return {
    cfg,
    log,
    etcd,
    store,
    metrics,
    groups: loadGroups,
    commands: commandsOf(w),
    rejoin: (l, o) => rejoin(w, l, o),
  };
}

/** Re-add every other main node (learner, then promoted), then one reconcile run: registry, discovery, units. */
async function rejoin(w: Wiring, log: Logger, opts: { skip: string[] }) {
  const [{ rejoinMainNodes }, { handleReconcile }] = await Promise.all([
    import("../operations/rejoin.ts"),
    import("../operations/reconcile.ts"),
  ]);
  const deps = lifecycleDeps(w);
  const r = await rejoinMainNodes(deps, log.child({ op: "rejoin" }), opts);
  const report = await handleReconcile(deps, log.child({ op: "afterRecovery" }), { recover: false });
  return { members: r.members, failed: [...r.failed, ...report.failed.map(formatStep)] };
}

/** reconcile's answer to no quorum: recover from the survivor if AUTO_RESTORE allows, else say how. */
async function recoverNoQuorum(w: Wiring, log: Logger) {
  const { recoverIfNoQuorum } = await import("../operations/survivor.ts");
  const out = await recoverIfNoQuorum(survivorDeps(w, log));
  return out.action === "recovered"
    ? { action: out.action, survivor: out.summary.survivor?.instanceId }
    : { action: out.action, reason: out.action === "alarm" ? `${out.reason}; ${out.how}` : out.reason };
}

/** units: the etcd endpoints are the main group's running instances. */
export async function unitsDeps(w: Wiring, log: Logger): Promise<UnitsDeps> {
  const groups = await loadGroups();
  const [main] = await groups.describeGroups([w.cfg.GROUP_MAIN]);
  const ids = (main?.members ?? []).map((m) => m.instanceId);
  const instances = ids.length ? await groups.describeInstances(ids) : [];
  const urls = instances
    .filter((i) => i.state === "running" || i.state === "pending")
    .map((i) => etcdUrls(w.cfg.ETCD_TLS).client(i.privateIp));
  if (!urls.length) throw new DevclusterError("units: no main node to reach etcd through");
  const cache = (w.caches.units ??= etcdClientsByEndpoints(controlPlaneTls(w))) as ReturnType<
    typeof etcdClientsByEndpoints
  >;
  const etcd = await cache(urls);
  return {
    log,
    nodes: { listNodes: async () => (await etcd.store.listNodes()).nodes },
    placements: etcdPlacementStore(etcd.client),
    access: etcdNodeAccessStore(etcd.client),
    exclusive: (fn) => withUnitsLock(etcd.store, UNITS_LOCK_WAIT_MS, fn),
    commands: commandsOf(w),
    catalog: () => readCatalogDir(undefined, w.cfg.SERVICES),
    images: ssmPublishedImages(ssmClient(), w.cfg.CLUSTER_NAME),
    volumes: {
      store: lazyVolumes(w.cfg.CLUSTER_NAME),
      lock: () =>
        etcd.store.tryLock(VOLUMES_LOCK, `units/${randomUUID()}`, { ttlSeconds: 60, waitMs: 60_000 }),
    },
  };
}
