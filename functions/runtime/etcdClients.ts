// The etcd clients a function keeps while warm: for each endpoint set, a gRPC client (placement,
// presence, locks) and the cluster store over the same members.
import { Etcd3 } from "etcd3";
import { etcdClusterStore } from "../adapters/etcd/clusterStore.ts";
import { byEndpoints } from "./byEndpoints.ts";

export function etcdClientsByEndpoints() {
  return byEndpoints(
    (endpoints) => ({
      client: new Etcd3({ hosts: endpoints, dialTimeout: 2000 }),
      store: etcdClusterStore({ endpoints }),
    }),
    (c) => (c.client.close(), c.store.close()),
  );
}
