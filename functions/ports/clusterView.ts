// What the `status` function reads besides groups, the cluster store and snapshots: the services
// presence announces in etcd, and the volumes the cluster tagged.
import type { ObservedServiceInstance, VolumeView } from "../domain/clusterView.ts";

/** `/services/<name>/instances/<id>` records (what presence announces while its check passes). */
export interface ServiceDirectory {
  instances(): Promise<ObservedServiceInstance[]>;
}

/** The block volumes tagged with the cluster's name. */
export interface VolumeSource {
  list(): Promise<VolumeView[]>;
}
