// DNS records in the cluster's private hosted zone.
import type { DnsDiff, DnsRecord } from "../domain/dnsPlan.ts";

export interface Dns {
  /** Every record set of the given types in the zone (paged through). */
  listRecords(types: readonly string[]): Promise<DnsRecord[]>;
  /** Applies a diff in as few ChangeResourceRecordSets calls as the API allows (one, for our sizes). */
  apply(diff: DnsDiff, comment: string): Promise<{ calls: number }>;
}
