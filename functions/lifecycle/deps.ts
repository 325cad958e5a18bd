// What the lifecycle and reconcile handlers depend on, built once per container from the environment
// (loadConfig) and replaceable in tests.
import { Route53Client } from "@aws-sdk/client-route-53";
import { groupsOf, loadConfig, type Config } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import type { NodeRecord } from "../core/model.ts";
import { awsClients } from "../adapters/aws.ts";
import { awsGroups } from "../adapters/awsGroups.ts";
import { commandsFor, lifecycleActionsFor } from "../adapters/fromConfig.ts";
import { byEndpoints } from "../adapters/byEndpoints.ts";
import { unitsHook, type UnitsContext } from "./unitsHook.ts";
import { ssmPublishedImages } from "../adapters/ssmPublishedImages.ts";
import { recoverFromTotalLoss, snapshotHistory } from "./recovery.ts";
import { etcdClusterStore } from "../adapters/etcdClusterStore.ts";
import { route53Dns } from "../adapters/route53Dns.ts";
import type { Commands, Groups, LifecycleActions } from "../ports/index.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { Dns } from "../ports/dns.ts";

/**
 * Injection point for unit placement (issue 4). The lifecycle handler calls `onLaunch` after a node is
 * registered (before its action completes) and `onTerminate` before a node's records are dropped;
 * `reconcile` calls `reconcile` after membership and DNS are repaired. Absent: no units are pushed.
 */
export interface UnitsHook {
  onLaunch(node: NodeRecord, log: Logger, ctx: UnitsContext): Promise<void>;
  onTerminate(node: NodeRecord, log: Logger, ctx: UnitsContext): Promise<void>;
  reconcile?(log: Logger, ctx: UnitsContext): Promise<void>;
}

/**
 * Whether this cluster has existed before (a valid snapshot of it is stored). A cluster that did
 * and now has no member alive is lost, not new: it is restored, never bootstrapped empty.
 */
export interface ClusterHistory {
  formedBefore(): Promise<boolean>;
}

/** Total loss: what reconcile does when no member answers though the cluster has existed. */
export type Recover = (log: Logger) => Promise<{ action: string; reason?: string }>;

export interface Timing {
  /** How long a main launch keeps trying to promote a pending learner before leaving it to reconcile. */
  promoteWaitMs: number;
  /** How long a handler waits for a bootstrapped cluster to answer. */
  bootstrapWaitMs: number;
  /** How long a handler waits for the membership lock. */
  lockWaitMs: number;
  /** DNS lock holder's coalescing window. */
  dnsCoalesceMs: number;
  dnsDeadlineMs: number;
  heartbeatEveryMs: number;
  commandTimeoutSeconds: number;
}

export const DEFAULT_TIMING: Timing = {
  promoteWaitMs: 20_000,
  bootstrapWaitMs: 30_000,
  lockWaitMs: 30_000,
  dnsCoalesceMs: 25,
  dnsDeadlineMs: 60_000,
  heartbeatEveryMs: 30_000,
  commandTimeoutSeconds: 60,
};

export interface LifecycleDeps {
  clusterName: string;
  domain: string;
  groupNames: { main: string; worker: string; data: string };
  groups: Groups;
  actions: LifecycleActions;
  commands: Commands;
  dns: Dns;
  /** A store over these endpoints (client URLs); implementations cache clients per endpoint set. */
  store(endpoints: string[]): ClusterStore;
  units?: UnitsHook | undefined;
  history?: ClusterHistory | undefined;
  recover?: Recover | undefined;
  timing: Timing;
  now(): Date;
}

/** One store per endpoint set, kept across warm invocations; a changed set replaces the old one. */
export function cachedStores(make: (endpoints: string[]) => ClusterStore = (e) => etcdClusterStore({ endpoints: e })) {
  return byEndpoints(make, (store) => store.close());
}

export function depsFromConfig(cfg: Config): LifecycleDeps {
  const aws = awsClients();
  // Route 53 retries live in the Dns adapter (backoff with jitter); the client itself does not retry.
  const route53 = new Route53Client({ maxAttempts: 1 });
  const commands = commandsFor(cfg);
  const actions = lifecycleActionsFor(cfg);
  return {
    clusterName: cfg.CLUSTER_NAME,
    domain: cfg.CLUSTER_DOMAIN,
    groupNames: groupsOf(cfg),
    groups: awsGroups(aws),
    actions,
    commands,
    dns: route53Dns(route53, cfg.PRIVATE_ZONE_ID),
    store: cachedStores(),
    units: unitsHook(commands, { images: ssmPublishedImages(aws.ssm, cfg.CLUSTER_NAME) }),
    history: snapshotHistory(cfg),
    recover: (log) => recoverFromTotalLoss(cfg, log),
    timing: DEFAULT_TIMING,
    now: () => new Date(),
  };
}

let shared: LifecycleDeps | undefined;
/** The container's dependencies, built on first use (so importing a handler never throws on config). */
export function defaultDeps(): LifecycleDeps {
  return (shared ??= depsFromConfig(loadConfig()));
}
/** Tests and the lead's wiring replace (part of) the container's dependencies. */
export function setDefaultDeps(d: LifecycleDeps | undefined) {
  shared = d;
}
