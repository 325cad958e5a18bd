// The status function's part of the composition root: kept apart from wiring.ts so its bundle holds
// only read calls (its role is read-only, and test/unit/cloudformation/iamFromCode.test.ts compares
// the two).
import { groupsOf } from "../domain/config.ts";
import { layoutOf } from "../domain/snapshots.ts";
import { s3SnapshotStore } from "../adapters/aws/s3Snapshots.ts";
import { etcdPlacementStore } from "../adapters/etcd/placementStore.ts";
import { etcdServiceDirectory } from "../adapters/etcd/serviceDirectory.ts";
import { etcdUnitStates } from "../adapters/etcd/unitStates.ts";
import type { StatusDeps } from "../operations/status.ts";
import type { Groups } from "../ports/index.ts";
import { etcdClientsByEndpoints } from "./etcdClients.ts";
import { controlPlaneTls, loadGroups, s3Client, type Wiring } from "./snapshotWiring.ts";

export { wiring, type Wiring } from "./snapshotWiring.ts";

/** Groups whose adapter (and its EC2 client) loads on the first call. */
function lazyGroups(): Groups {
  let groups: Promise<Groups> | undefined;
  const get = () => (groups ??= loadGroups());
  return {
    describeGroups: async (names) => (await get()).describeGroups(names),
    describeInstances: async (ids) => (await get()).describeInstances(ids),
  };
}

/** status: read-only; its etcd clients, like every function's, are kept while warm. */
export function statusDeps(w: Wiring): StatusDeps {
  const { cfg } = w;
  const cache = (w.caches.status ??= etcdClientsByEndpoints(controlPlaneTls(w))) as ReturnType<
    typeof etcdClientsByEndpoints
  >;
  const layout = layoutOf(cfg);
  return {
    clusterName: cfg.CLUSTER_NAME,
    etcdTls: cfg.ETCD_TLS,
    groupNames: groupsOf(cfg),
    groups: lazyGroups(),
    etcd: async (endpoints) => {
      const { client, store } = await cache(endpoints);
      return {
        store,
        services: etcdServiceDirectory(client),
        placement: etcdPlacementStore(client),
        unitStates: etcdUnitStates(client),
      };
    },
    snapshots: s3SnapshotStore(s3Client(), cfg.SNAPSHOT_BUCKET, layout),
    layout,
    // The EC2 client loads on first use, as the groups adapter's does.
    volumes: {
      list: async () => (await import("./volumesLoader.ts")).loadAwsVolumes(cfg.CLUSTER_NAME).list(),
    },
    volumeSnapshots: {
      list: async () =>
        (await import("./volumeSnapshotListLoader.ts")).listAwsVolumeSnapshots(cfg.CLUSTER_NAME),
    },
    now: () => new Date(),
  };
}
