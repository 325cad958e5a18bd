// The operator's etcd certificate on a local cluster whose members serve TLS (`up --etcd-tls`):
// the control plane's, read from SSM as the functions read it, with the operator's credentials.
import { SSMClient } from "@aws-sdk/client-ssm";
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
