// Service volumes: the cluster's EBS volumes, found by their tags (EC2 on AWS, moto locally).
import type { VolumeCreate, VolumeRecord } from "../domain/volumes.ts";
import type { VolumeSnapshotRecord } from "../domain/volumeSnapshots.ts";
import type { Lock } from "./cluster.ts";

export interface Volumes {
  /** Every volume tagged with this cluster (any state). */
  list(): Promise<VolumeRecord[]>;
  /**
   * Create the volume of `req` (encrypted gp3, tagged with its key). Idempotent: a retry of the same
   * request returns the volume the first one made.
   */
  create(req: VolumeCreate): Promise<VolumeRecord>;
  /** Attach an available volume to an instance as `device`; fails if it is attached anywhere. */
  attach(volumeId: string, instanceId: string, device: string): Promise<void>;
  /** Detach a volume from that instance, never forced (a forced detach can corrupt a mounted file system). */
  detach(volumeId: string, instanceId: string): Promise<void>;
  /** EC2 state of each instance (`running`, `terminated`, ...); unknown ids are left out. */
  instanceStates(ids: string[]): Promise<Record<string, string>>;
}

/** What the units sync needs for volumes: the store, and a lock that serialises their creation. */
export interface VolumeAccess {
  store: Volumes;
  /** The cluster-wide volumes lock (a lease in etcd); undefined when it stayed busy. */
  lock(): Promise<Lock | undefined>;
}

/**
 * Snapshots of service volumes and the swap restore and move make (EC2 on AWS, moto locally, where
 * the local EBS stand-in copies the data). Apart from `Volumes` so only the function that takes
 * snapshots and swaps volumes holds those calls (and their IAM grants).
 */
export interface VolumeSnapshots {
  /** Every snapshot of this cluster's service volumes (any state), owned by this account. */
  list(): Promise<VolumeSnapshotRecord[]>;
  /** Start a snapshot of `volume`, tagged with its key, the cluster and the source volume id. */
  create(volume: VolumeRecord): Promise<VolumeSnapshotRecord>;
  /** Delete one of this cluster's snapshots. */
  delete(snapshotId: string): Promise<void>;
  /**
   * Create the volume that is to replace `replaces`, from `snapshot`, in `zone`: encrypted gp3,
   * tagged with the key, `devcluster:from-snapshot` and `devcluster:replaces` (not in use yet).
   */
  createFrom(
    snapshot: VolumeSnapshotRecord,
    replaces: VolumeRecord,
    zone: string,
    clientToken: string,
  ): Promise<VolumeRecord>;
  /** Put a volume made by `createFrom` in use: its `devcluster:replaces` tag is removed. */
  promote(volumeId: string): Promise<void>;
  /** Retire a volume: `devcluster:retired` set to `value` (when and why); it is kept, never deleted. */
  retire(volumeId: string, value: string): Promise<void>;
}
