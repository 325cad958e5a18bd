// Report codes: one code per kind of step a lifecycle action, a reconcile run or a restore reports,
// each with its meaning, so tests and tools match codes while people read code + detail.

/** Lifecycle action (launch, terminate): steps done, and leftovers recorded for reconcile. */
export const LIFECYCLE_CODES = {
  LC_WARM_POOL_SKIPPED: "warm pool transition: nothing to do",
  LC_REFUSED:
    "the event does not match the cluster (foreign group, instance in another group or not in this state, no cluster tag): nothing changed, not completed (detail: why)",
  LC_NODE_CERTIFICATE: "the node's etcd certificate (detail: issued from its CSR, or current and kept)",
  LC_WAITING_FOR_ETCD: "a worker or data node waits for the forming etcd cluster",
  LC_ETCD_LOST: "no member answers but a snapshot exists: not bootstrapping, a restore is needed",
  LC_BOOTSTRAPPED: "formed the etcd cluster (detail: member count)",
  LC_BOOTSTRAP_PENDING: "another launch forms the cluster: waiting for it (detail: why)",
  LC_ALREADY_MEMBER: "the node is already a started etcd member",
  LC_START_RESENT: "the node was a member never started: start settings sent again",
  LC_PENDING_LEARNER_PROMOTED: "promoted another node's learner that had caught up (detail: its name)",
  LC_JOIN_DEFERRED: "the join is left to reconcile (detail: why)",
  LC_LEARNER_ADDED: "added the node as an etcd learner (detail: member id)",
  LC_START_SENT: "start settings sent to the new member",
  LC_LEARNER_ROLLED_BACK: "the new learner was removed after its start failed",
  LC_MEMBER_STARTED: "the new member serves",
  LC_MEMBER_START_PENDING: "the new member does not serve yet: discovery records left to reconcile",
  LC_LEARNER_PROMOTED: "promoted the node's own learner (detail: after how long)",
  LC_PROMOTION_DEFERRED: "the learner did not catch up in time: promotion left to the promotion check",
  LC_REGISTERED: "node record written (detail: its state)",
  LC_UNITS_PUSHED: "units placed and pushed",
  LC_UNITS_MOVED: "the node's units moved to other nodes",
  LC_NOT_MEMBER: "the terminating node was no etcd member",
  LC_MEMBER_REMOVED: "removed the terminating node's etcd member (detail: member id)",
  LC_MARKED_GONE: "node record marked gone",
  LC_UNKNOWN_NODE: "the terminating node was never registered: nothing to mark",
  LC_DNS_SYNCED: "DNS records synced by this handler (detail: change count)",
  LC_DNS_COVERED: "DNS covered by a concurrent sync",
  LC_GATEWAYS_REFRESHED: "discovery changed: etcd-amb gateways restarted",
  LC_COMPLETED: "lifecycle action completed (detail: CONTINUE or ABANDON)",
  // Leftovers (what a terminating node could not do; reconcile does it).
  LC_ETCD_UNREACHABLE: "etcd unreachable: member removal left to reconcile",
  LC_MEMBER_KEPT: "member removal refused by the quorum rule (detail: member id and reason)",
  LC_DNS_UNFINISHED: "DNS sync did not finish: left to reconcile",
  LC_FAILED: "a step failed (detail: the error); reconcile repairs the rest",
} as const;

/** Reconcile: repairs done, and (with the repair's code) those blocked or failed. */
export const RECONCILE_CODES = {
  RC_MEMBER_REMOVED: "removed an etcd member whose instance is gone or stopped (detail: member, reason)",
  RC_LEARNER_PROMOTED: "promoted a learner that had caught up (detail: instance)",
  RC_MEMBER_STARTED: "sent start settings to a member added but never started (detail: instance)",
  RC_LEARNER_ADDED: "added a main instance missing from etcd as a learner (detail: instance)",
  RC_BOOTSTRAPPED: "formed the etcd cluster (detail: initial members)",
  RC_REGISTERED: "wrote a missing or stale node record (detail: instance, role, state)",
  RC_MARKED_GONE: "marked the record of a vanished instance gone (detail: instance)",
  RC_FORGOTTEN: "deleted a record gone for longer than the grace period (detail: instance, since)",
  RC_RESTORED: "restored etcd from the newest valid snapshot after a total loss",
  RC_SURVIVOR_RECOVERED:
    "no quorum: rebuilt etcd from the most up-to-date surviving member and re-added the others (detail: its instance)",
  RC_SURVIVOR_NOT_RECOVERED:
    "no quorum: no recovery from the survivor this run (detail: why, and the command)",
  RC_GATEWAYS_REFRESHED: "discovery changed: etcd-amb gateways restarted",
  RC_DNS_SYNCED: "DNS records repaired (detail: change count)",
  RC_UNITS_PUSHED:
    "a node's units re-pushed and something changed there (detail: instance: files written, units started, restarted, stopped, removed)",
  RC_BLOCKED: "a planned repair cannot be done now (detail: why)",
  RC_TOTAL_LOSS: "no member answers on a cluster that existed (detail: the recovery outcome)",
  RC_NO_QUORUM: "members answer but no quorum of voters is healthy (detail: counts and what to do)",
} as const;

/** Restore: its steps in order, each timed. */
export const RESTORE_CODES = {
  RS_SNAPSHOT_RESOLVED: "resolve the snapshot (latest, id or key) and check its manifest",
  RS_CHECKSUM_VERIFIED: "stream the snapshot through SHA-256 and etcd's trailer check",
  RS_NODES_OBSERVED: "observe the main nodes and refuse while a healthy cluster serves",
  RS_FETCHED: "fetch and verify the snapshot on every node",
  RS_SWAPPED: "stop etcd, move old data aside, restore the snapshot on every node",
  RS_STARTED: "start the restored members",
  RS_QUORUM_HEALTHY: "wait for a healthy quorum",
  RS_CONTENT_CHECKED: "check revision, key count and members against the manifest",
  RS_REGISTRY_REWRITTEN: "rewrite the node registry, discovery records and units",
} as const;

export type LifecycleStepCode = keyof typeof LIFECYCLE_CODES;
export type RepairCode = keyof typeof RECONCILE_CODES;
export type RestoreStepCode = keyof typeof RESTORE_CODES;
export type ReportCode = LifecycleStepCode | RepairCode | RestoreStepCode;

/** One reported step: what kind (code) and about what (detail: an id, a count, a reason). */
export interface ReportStep<C extends ReportCode = ReportCode> {
  code: C;
  detail?: string;
}

export const reportStep = <C extends ReportCode>(code: C, detail?: string | number): ReportStep<C> =>
  detail === undefined || detail === "" ? { code } : { code, detail: String(detail) };

/** One line for people: code, then detail. */
export const formatStep = (s: ReportStep): string => (s.detail ? `${s.code} ${s.detail}` : s.code);

/** Every code with its meaning (documentation and its test read this). */
export const ALL_CODES: Readonly<Record<ReportCode, string>> = {
  ...LIFECYCLE_CODES,
  ...RECONCILE_CODES,
  ...RESTORE_CODES,
};
