// The SSM read of the control plane's etcd certificate, which snapshotWiring.ts loads on demand (the
// snapshot function's bundle otherwise carries no SSM client). Called once per container.
import { SSMClient } from "@aws-sdk/client-ssm";
import { ssmControlPlaneTls } from "../adapters/aws/ssmClusterPki.ts";
import type { EtcdClientTls } from "../adapters/etcd/tls.ts";

export function loadControlPlaneTls(cluster: string): Promise<EtcdClientTls> {
  return ssmControlPlaneTls(new SSMClient({ maxAttempts: 5 }), cluster)();
}
