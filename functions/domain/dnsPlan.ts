// Pure DNS planning: the records the zone should hold (node A records, etcd discovery SRV records)
// and the minimal change set from what the zone holds now.
//
// Names (all in the cluster's private zone `<domain>`):
//   <instance-id>.<domain>          A    the node's private address (every role)
//   _etcd-server._tcp.<domain>      SRV  0 0 2380 <instance-id>.<domain>.  for every started member
//   _etcd-client._tcp.<domain>      SRV  0 0 2379 <instance-id>.<domain>.  for every started voter
// A member that serves TLS (https peer URL) is listed under `_etcd-server-ssl._tcp` and
// `_etcd-client-ssl._tcp` instead, the names etcd's discovery and gateway look up for https.
// The control plane owns exactly these names: node names are recognised by the `i-<hex>.` prefix, so
// records that other parts of the system keep in the same zone are never touched.
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, type EtcdMember, type NodeRecord } from "./model.ts";
import { peerIp } from "./membershipPlan.ts";

export type RecordType = "A" | "SRV";
export interface DnsRecord {
  /** Fully qualified, lower case, with the trailing dot (as Route 53 returns it). */
  name: string;
  type: RecordType;
  ttl: number;
  values: string[];
}

export const NODE_TTL = 60;
export const SRV_TTL = 30;

export const fqdn = (name: string) => (name.endsWith(".") ? name : `${name}.`).toLowerCase();
export const nodeName = (instanceId: string, domain: string) => fqdn(`${instanceId}.${domain}`);
export const srvServerName = (domain: string, tls = false) =>
  fqdn(`_etcd-server${tls ? "-ssl" : ""}._tcp.${domain}`);
export const srvClientName = (domain: string, tls = false) =>
  fqdn(`_etcd-client${tls ? "-ssl" : ""}._tcp.${domain}`);
/** Every discovery name the control plane owns, in both schemes. */
const srvNames = (domain: string) =>
  [false, true].flatMap((tls) => [srvServerName(domain, tls), srvClientName(domain, tls)]);
/** A client discovery record, in either scheme (gateways resolve it at start). */
export const isClientSrvName = (name: string) => /^_etcd-client(-ssl)?\._tcp\./.test(fqdn(name));

export function isNodeRecordName(name: string, domain: string): boolean {
  const d = fqdn(domain).replace(/[.]/g, "\\.");
  return new RegExp(`^i-[0-9a-f]{8,17}\\.${d}$`).test(fqdn(name));
}

/** Which kinds of record a run manages: SRV records only when the member list is known. */
export interface Scope {
  nodes: boolean;
  srv: boolean;
}

export function isManaged(rec: { name: string; type: string }, domain: string, scope: Scope): boolean {
  if (rec.type === "A" && scope.nodes) return isNodeRecordName(rec.name, domain);
  if (rec.type === "SRV" && scope.srv) return srvNames(domain).includes(fqdn(rec.name));
  return false;
}

/** One A record per registered node that is not gone. */
export function desiredNodeRecords(nodes: NodeRecord[], domain: string): DnsRecord[] {
  return nodes
    .filter((n) => n.state !== "gone" && n.privateIp)
    .map((n) => ({
      name: nodeName(n.instanceId, domain),
      type: "A" as const,
      ttl: NODE_TTL,
      values: [n.privateIp],
    }));
}

/**
 * The discovery SRV records from the member list. Targets are node names, so a member is listed only
 * when its instance is known (by member name, or by peer address in the registry). Learners do not
 * serve clients, so they appear in `_etcd-server` only. An empty list yields no record (Route 53 has
 * no empty record sets), and the stale one is deleted.
 */
export function desiredSrvRecords(
  members: EtcdMember[],
  ipToInstance: ReadonlyMap<string, string>,
  domain: string,
): DnsRecord[] {
  const target = (m: EtcdMember) => {
    if (/^i-[0-9a-f]{8,17}$/.test(m.name)) return m.name;
    const ip = peerIp(m);
    return ip ? ipToInstance.get(ip) : undefined;
  };
  const values = new Map<string, string[]>(srvNames(domain).map((n) => [n, []]));
  for (const m of members) {
    if (!m.name) continue; // added but not started: not serving yet
    const t = target(m);
    if (!t) continue;
    // Each side in the scheme the member serves it (a member's peer and client TLS go together).
    const peerTls = m.peerUrls.some((u) => u.startsWith("https:"));
    const clientTls = m.clientUrls.length ? m.clientUrls.some((u) => u.startsWith("https:")) : peerTls;
    values.get(srvServerName(domain, peerTls))!.push(`0 0 ${ETCD_PEER_PORT} ${nodeName(t, domain)}`);
    if (!m.isLearner)
      values.get(srvClientName(domain, clientTls))!.push(`0 0 ${ETCD_CLIENT_PORT} ${nodeName(t, domain)}`);
  }
  return [...values]
    .filter(([, v]) => v.length)
    .map(([name, v]) => ({ name, type: "SRV" as const, ttl: SRV_TTL, values: v.sort() }));
}

const key = (r: { name: string; type: string }) => `${fqdn(r.name)}|${r.type}`;
const same = (a: DnsRecord, b: DnsRecord) =>
  a.ttl === b.ttl &&
  a.values.length === b.values.length &&
  [...a.values].sort().every((v, i) => v === [...b.values].sort()[i]);

export interface DnsDiff {
  upserts: DnsRecord[];
  /** Exact copies of the live records (Route 53 refuses a DELETE that does not match). */
  deletes: DnsRecord[];
}

/** Minimal change: UPSERT what is missing or different, DELETE managed live records nobody wants. */
export function diffRecords(desired: DnsRecord[], live: DnsRecord[], domain: string, scope: Scope): DnsDiff {
  return diffManagedRecords(desired, live, (r) => isManaged(r, domain, scope));
}

/** The same minimal change for any set of names a writer owns (`managed` says which records are its). */
export function diffManagedRecords(
  desired: DnsRecord[],
  live: DnsRecord[],
  managed: (r: { name: string; type: string }) => boolean,
): DnsDiff {
  const liveByKey = new Map(live.map((r) => [key(r), r]));
  const wanted = new Set<string>();
  const upserts: DnsRecord[] = [];
  for (const d of desired) {
    if (!managed(d)) continue;
    wanted.add(key(d));
    const l = liveByKey.get(key(d));
    if (!l || !same(l, d)) upserts.push(d);
  }
  const deletes = live.filter((l) => managed(l) && !wanted.has(key(l)));
  return { upserts, deletes };
}

export const isEmptyDiff = (d: DnsDiff) => d.upserts.length === 0 && d.deletes.length === 0;
