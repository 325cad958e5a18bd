// What the lifecycle and reconcile operations depend on: ports, settings and timings. The composition
// root (runtime/wiring.ts) builds it; tests build their own.
import type { Logger } from "../ports/log.ts";
import type { NodeRecord } from "../domain/model.ts";
import type { NodePushResult } from "../domain/units/push.ts";
import type { Commands, Groups, LifecycleActions } from "../ports/index.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { Dns } from "../ports/dns.ts";
import type { ClusterPki } from "../ports/pki.ts";

/** Where the units hook reaches etcd: the handler's own store and endpoints. */
export interface UnitsContext {
  store: ClusterStore;
  endpoints: string[];
}

/**
 * Injection point for unit placement. The lifecycle handler calls `onLaunch` after a node is
 * registered (before its action completes) and `onTerminate` before a node's records are dropped;
 * `reconcile` calls `reconcile` after membership and DNS are repaired. Absent: no units are pushed.
 */
export interface UnitsHook {
  onLaunch(node: NodeRecord, log: Logger, ctx: UnitsContext): Promise<void>;
  onTerminate(node: NodeRecord, log: Logger, ctx: UnitsContext): Promise<void>;
  /** Re-push every node its desired units; says what each node changed and which pushes failed. */
  reconcile?(log: Logger, ctx: UnitsContext): Promise<UnitsRepushed | void>;
}

/** What a reconcile re-push did: each node's own account (files written, units started...), failed nodes. */
export interface UnitsRepushed {
  results: NodePushResult[];
  failed: string[];
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

/**
 * Members answer but no quorum of voters is healthy (no leader): the cluster refuses every write.
 * The composition root raises the alarm (log line and the RestoreNeeded metric).
 */
export type NoQuorumAlarm = (
  log: Logger,
  detail: { members: string[]; healthy: string[]; need: number },
) => Promise<void>;

/**
 * No quorum: what reconcile does after raising the alarm (recover from the most up-to-date survivor
 * when AUTO_RESTORE allows, otherwise say how).
 */
export type RecoverNoQuorum = (
  log: Logger,
) => Promise<{ action: string; reason?: string; survivor?: string }>;

export interface Timing {
  /** How long a main launch keeps trying to promote a pending learner before leaving it to reconcile. */
  promoteWaitMs: number;
  /** How long a main launch waits for its own learner to catch up and promotes it (heartbeating). */
  ownPromoteWaitMs: number;
  /** How long reconcile lets a leader election settle before it calls a leaderless cluster lost. */
  noQuorumGraceMs: number;
  /** How long a launch waits for a new member to serve before registering the node anyway. */
  memberStartWaitMs: number;
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
  ownPromoteWaitMs: 120_000,
  noQuorumGraceMs: 5_000,
  memberStartWaitMs: 15_000,
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
  /** The members serve TLS (config `ETCD_TLS`): https endpoints, TLS start settings. Absent: plain. */
  etcdTls?: boolean | undefined;
  /** The etcd PKI: each launching node gets its certificate. Absent: none is issued. */
  pki?: ClusterPki | undefined;
  history?: ClusterHistory | undefined;
  recover?: Recover | undefined;
  noQuorum?: NoQuorumAlarm | undefined;
  recoverNoQuorum?: RecoverNoQuorum | undefined;
  timing: Timing;
  now(): Date;
}
