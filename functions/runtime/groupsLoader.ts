// The Auto Scaling + EC2 groups adapter, which wiring.ts loads on demand (the EC2 client alone costs
// ~75 MB of memory; the snapshot function needs it only on its discovery fallback).
import { awsClients } from "../adapters/aws/clients.ts";
import { awsGroups } from "../adapters/aws/groups.ts";
import type { Groups } from "../ports/index.ts";

export function loadAwsGroups(): Groups {
  return awsGroups(awsClients());
}
