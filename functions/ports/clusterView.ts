// What the `status` function reads besides groups, the cluster store, volumes and snapshots: the
// services presence announces in etcd.
import type { ObservedServiceInstance } from "../domain/clusterView.ts";
import type { PublishedUnitState } from "../domain/unitStates.ts";

/** `/services/<name>/instances/<id>` records (what presence announces while its check passes). */
export interface ServiceDirectory {
  instances(): Promise<ObservedServiceInstance[]>;
}

/** `/machines/<instance id>/units`: the unit states each node publishes (unitStates.ts). */
export interface UnitStatesDirectory {
  byMachine(): Promise<Map<string, PublishedUnitState[]>>;
}
