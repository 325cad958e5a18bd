// Ports of the snapshot and restore functions: the etcd snapshot API, the snapshot bucket, metrics.
import type { Readable } from "node:stream";
import type { EtcdMember } from "../domain/model.ts";
import type { Manifest, ObservedSnapshot, SnapshotLayout } from "../domain/snapshots.ts";

export interface MemberStatus {
  endpoint: string;
  clusterId: string;
  memberId: string;
  leader: string;
  revision: number;
  dbSize: number;
  isLearner: boolean;
  /** Raft: the index applied to the store, the index known committed, the current term. */
  appliedIndex: number;
  committedIndex: number;
  term: number;
}

/** The snapshot stream of one member, as bytes. `close()` releases the connection. */
export interface SnapshotStream {
  stream: Readable;
  close(): void;
}

/** What snapshot and restore need from etcd; tests may wrap it (e.g. to cut a stream short). */
export interface EtcdSnapshotApi {
  /** The member's status, or undefined when it does not answer within the time limit. */
  status(endpoint: string, timeoutMs?: number): Promise<MemberStatus | undefined>;
  /** true when the member answers /health with a leader and a working quorum (a linearizable read). */
  healthy(endpoint: string, timeoutMs?: number): Promise<boolean>;
  /** true when an etcd process answers at all (even one without quorum). */
  alive(endpoint: string, timeoutMs?: number): Promise<boolean>;
  members(endpoint: string): Promise<EtcdMember[]>;
  /** Number of keys in the store at `revision` (the latest when omitted). */
  keyCount(endpoint: string, revision?: number): Promise<number>;
  /** Write keys (the node registry after a restore). */
  put(endpoint: string, kvs: { key: string; value: string }[]): Promise<void>;
  /** Keys and values under a prefix. */
  getPrefix(endpoint: string, prefix: string): Promise<{ key: string; value: string }[]>;
  openSnapshot(endpoint: string): Promise<SnapshotStream>;
}

export interface UploadTuning {
  /** Bytes per part (S3 minimum 5 MiB). Memory held is about partSize x (queueSize + 1). */
  partSize: number;
  queueSize: number;
}

/** Snapshot objects (S3). */
export interface SnapshotStore {
  layout: SnapshotLayout;
  bucket: string;
  /** Stream `body` into `key` (multipart above one part); resolves with the object's ETag. */
  uploadData(key: string, body: Readable, tuning?: UploadTuning): Promise<{ etag: string }>;
  /** Write a manifest; fails rather than overwrite one that exists. */
  putManifest(m: Manifest): Promise<void>;
  /** Every snapshot id with its manifest (parsed, or why not) and data object, unordered. */
  list(): Promise<ObservedSnapshot[]>;
  download(key: string): Promise<Readable>;
  /** Delete keys; manifests are removed before data so a half-done deletion never looks valid. */
  deleteKeys(keys: string[]): Promise<void>;
  /**
   * A lock object next to the snapshots (etcd itself may be gone): created only if absent; one older
   * than `staleMs` (its holder died) is taken over. Resolves false when someone else holds it.
   */
  tryLock(name: string, owner: string, staleMs: number): Promise<boolean>;
  unlock(name: string, owner: string): Promise<void>;
}

/** Metrics (CloudWatch). */
export interface Metrics {
  put(
    name: string,
    value: number,
    unit?: "Count" | "Bytes" | "Seconds" | "Milliseconds" | "None",
  ): Promise<void>;
}
