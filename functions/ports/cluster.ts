// The cluster store: the node registry and etcd membership, plus short leases-backed locks so that
// concurrent handlers serialise what must be serialised (membership changes, DNS syncs).
import type { EtcdMember, NodeRecord } from "../domain/model.ts";

export interface MemberAddResult {
  member: EtcdMember;
  /** The member list after the add, the new member included (what its initial cluster must list). */
  members: EtcdMember[];
}

export interface Lock {
  release(): Promise<void>;
}

export interface ClusterStore {
  /** The member list, or null when no endpoint answers (no cluster, or none reachable). */
  memberList(): Promise<EtcdMember[] | null>;
  /** Members whose own client endpoint answers /health (ids). */
  healthyMembers(members: EtcdMember[]): Promise<Set<string>>;
  addLearner(peerUrl: string): Promise<MemberAddResult>;
  /** Fails with LearnerNotReadyError while the learner has not caught up. */
  promote(memberId: string): Promise<EtcdMember[]>;
  removeMember(memberId: string): Promise<void>;

  getNode(instanceId: string): Promise<NodeRecord | undefined>;
  listNodes(): Promise<{ nodes: NodeRecord[]; revision: string }>;
  /** Writes the record; returns the store revision of the write. */
  putNode(rec: NodeRecord): Promise<string>;
  deleteNode(instanceId: string): Promise<void>;

  getKey(key: string): Promise<string | undefined>;
  putKey(key: string, value: string): Promise<string>;

  /**
   * A lock held through a lease of `ttlSeconds` (kept alive while held; it expires if the holder
   * dies). `waitMs` 0 tries once; undefined is returned when it is busy after `waitMs`.
   */
  tryLock(
    name: string,
    owner: string,
    opts: { ttlSeconds: number; waitMs: number },
  ): Promise<Lock | undefined>;
  /**
   * Authentication on, the control plane's certificate user (`root`) holding every right; the
   * nodes' users and roles are kept by the units push. Enabling it again changes nothing.
   */
  enableAuth(): Promise<void>;
  close(): void;
}
