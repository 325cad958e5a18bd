// The etcd clients a function keeps while warm: for each endpoint set, a gRPC client (placement,
// presence, locks) and the cluster store over the same members, over TLS when the endpoints are https.
import { Etcd3 } from "etcd3";
import { etcdClusterStore } from "../adapters/etcd/clusterStore.ts";
import { grpcTlsOptions, tlsResolver, type EtcdClientTls, type EtcdTlsSource } from "../adapters/etcd/tls.ts";
import { byEndpoints } from "./byEndpoints.ts";

export function etcdClientsByEndpoints(tls?: EtcdTlsSource) {
  const resolver = tlsResolver(tls);
  let loaded: EtcdClientTls | undefined;
  const cache = byEndpoints(
    (endpoints) => ({
      client: new Etcd3({ hosts: endpoints, dialTimeout: 2000, ...grpcTlsOptions(loaded) }),
      store: etcdClusterStore({ endpoints, ...(tls ? { tls: () => resolver.load()! } : {}) }),
    }),
    (c) => (c.client.close(), c.store.close()),
  );
  /** The pair for these endpoints (the certificate is loaded first when they are https). */
  const get = async (endpoints: string[]) => {
    const t = await resolver.forUrls(endpoints);
    if (t) loaded = t;
    return cache(endpoints);
  };
  return Object.assign(get, { closeAll: () => cache.closeAll() });
}
