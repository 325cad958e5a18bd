// The operator's etcd certificate on a local cluster whose members serve TLS (`up --etcd-tls`):
// the control plane's, read from SSM as the functions read it, with the operator's credentials.
import { SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { grpcTlsOptions } from "../../functions/adapters/etcd/tls.ts";
import { etcdUrls } from "../../functions/domain/model.ts";
import { ssmControlPlaneTls } from "../../functions/adapters/aws/ssmClusterPki.ts";
import type { EtcdClientTls } from "../../functions/adapters/etcd/tls.ts";
import type { LocalState } from "./state.ts";

/** Whether the cluster's members serve TLS: its deployed functions' ETCD_TLS, the one setting. */
export const etcdTlsOn = (state: LocalState): boolean => state.functionEnv.ETCD_TLS === "true";

/**
 * The control plane's certificate when the cluster's members serve TLS (undefined when they do
 * not). Before the first launch made it, there is none: a TLS cluster's tools then reach no member.
 */
export async function localEtcdTls(state: LocalState): Promise<EtcdClientTls | undefined> {
  if (!etcdTlsOn(state)) return undefined;
  return ssmControlPlaneTls(new SSMClient({}), state.clusterName)().catch(() => undefined);
}

/** An etcd client of the members at `ips` as the operator: over TLS with the control plane's certificate when the cluster's members serve TLS. */
export async function localEtcdClient(state: LocalState, ips: string[]): Promise<Etcd3> {
  const tls = await localEtcdTls(state);
  return new Etcd3({
    hosts: ips.map(etcdUrls(Boolean(tls)).client),
    dialTimeout: 3000,
    ...grpcTlsOptions(tls),
  });
}
