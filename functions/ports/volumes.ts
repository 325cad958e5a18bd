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
