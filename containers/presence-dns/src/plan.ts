// Service names in the private zone (pure): `<service>.<domain>` A records from presence records.
// A service the front door serves (HTTP or stream ports) resolves to the front door's instances; any
// other to its own instances. presence-dns owns every one-label A name of the zone except node names
// (`i-<hex>`, kept by the control plane), so it deletes those no service announces any more.
import { fqdn, isNodeRecordName, type DnsRecord } from "../../../functions/domain/dnsPlan.ts";
import type { ServicePresence } from "../../../functions/domain/presence.ts";

export interface ServiceDnsSettings {
  domain: string;
  frontDoorService: string;
  ttl: number;
}

export const serviceRecordName = (service: string, domain: string) => fqdn(`${service}.${domain}`);

/** True for the names presence-dns owns: `<label>.<domain>.` A records that are not node names. */
export function isServiceRecord(r: { name: string; type: string }, domain: string): boolean {
  if (r.type !== "A") return false;
  const name = fqdn(r.name);
  const suffix = `.${fqdn(domain)}`;
  if (!name.endsWith(suffix)) return false;
  const label = name.slice(0, -suffix.length);
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label) && !isNodeRecordName(name, domain);
}

export function desiredServiceRecords(services: ServicePresence[], s: ServiceDnsSettings): DnsRecord[] {
  const addresses = (p: ServicePresence | undefined) =>
    [...new Set((p?.instances ?? []).map((i) => i.privateIp))].sort();
  const frontDoor = addresses(services.find((p) => p.service === s.frontDoorService));
  const out: DnsRecord[] = [];
  for (const p of services) {
    const servedByFrontDoor =
      p.service !== s.frontDoorService &&
      p.instances.some((i) => i.http !== undefined || Object.keys(i.streams ?? {}).length > 0);
    const values = servedByFrontDoor ? frontDoor : addresses(p);
    // Route 53 holds no empty record set: a name with no address is deleted.
    if (!values.length) continue;
    const rec: DnsRecord = { name: serviceRecordName(p.service, s.domain), type: "A", ttl: s.ttl, values };
    if (isServiceRecord(rec, s.domain)) out.push(rec);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}
