// Service volumes: the cluster's EBS volumes, found by their tags (EC2 on AWS, moto locally).
import type { VolumeCreate, VolumeRecord } from "../domain/volumes.ts";
import type { Lock } from "./cluster.ts";

export interface Volumes {
  /** Every volume tagged with this cluster (any state). */
  list(): Promise<VolumeRecord[]>;
  /**
   * Create the volume of `req` (encrypted gp3, tagged with its key). Idempotent: a retry of the same
   * request returns the volume the first one made.
   */
  create(req: VolumeCreate): Promise<VolumeRecord>;
}

/** What the units sync needs for volumes: the store, and a lock that serialises their creation. */
export interface VolumeAccess {
  store: Volumes;
  /** The cluster-wide volumes lock (a lease in etcd); undefined when it stayed busy. */
  lock(): Promise<Lock | undefined>;
}
