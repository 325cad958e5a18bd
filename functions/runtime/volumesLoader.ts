// The EBS volumes adapter, which wiring.ts loads on demand (apart from the groups adapter, so the
// snapshot function's bundle, which loads groups, carries no volume calls).
import { awsClients } from "../adapters/aws/clients.ts";
import { ec2Volumes } from "../adapters/aws/ec2Volumes.ts";
import type { Volumes } from "../ports/volumes.ts";

export function loadAwsVolumes(cluster: string): Volumes {
  return ec2Volumes(awsClients().ec2, cluster);
}
