// What a local cluster looks like now: nodes, etcd members, DNS records, units per node, snapshots,
// service volumes.
// Everything is read from the live sources (moto, etcd, node directories), never from a cache.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createConnection } from "node:net";
import { Etcd3 } from "etcd3";
import { ListResourceRecordSetsCommand, type Route53Client } from "@aws-sdk/client-route-53";
import type { Groups } from "../../functions/ports/index.ts";
import { etcdUrls } from "../../functions/domain/model.ts";
import { etcdHttp } from "../../functions/adapters/etcd/http.ts";
import { grpcTlsOptions, httpsAgent, type EtcdClientTls } from "../../functions/adapters/etcd/tls.ts";
import { isNodeUp, nodeDir } from "../node.ts";
import { pidAlive, readPidFile } from "../processes.ts";
import type { LocalState } from "./state.ts";
import { containersUnder } from "../containers.ts";
import { volumeStatus, type VolumeRecord, type VolumeStatus } from "../../functions/domain/volumes.ts";
import { latestSnapshot, type VolumeSnapshotRecord } from "../../functions/domain/volumeSnapshots.ts";

export interface NodeStatus {
  id: string;
  role: string;
  address: string;
  zone: string;
  state: string; // the group's lifecycle state
  up: boolean; // the machine (node directory) is running
  units: UnitStatus[];
  /** Its containers as podman reports them. */
  containers: ContainerStatus[];
}
export interface UnitStatus {
  name: string;
  state: string;
  /** Why a container unit failed (its last error and the supervisor's verdict). */
  error?: string;
}
export interface ContainerStatus {
  /** The name its unit gave it (`--name`). */
  name: string;
  unit: string;
  image: string;
  /** podman's state: running, exited, ... */
  state: string;
  status: string;
}
export interface ServiceStatus {
  name: string;
  /** The front door's name for it (`http://<name>.<domain>`), "" when it serves no HTTP. */
  url: string;
  instances: { id: string; node: string; address: string; port: number; healthy: boolean }[];
}
export interface MemberStatus {
  id: string;
  name: string;
  peerUrl: string;
  learner: boolean;
  healthy: boolean;
  leader: boolean;
}
export interface RecordStatus {
  name: string;
  type: string;
  values: string[];
}
export interface ClusterStatus {
  cluster: string;
  nodes: NodeStatus[];
  etcd: { reachable: boolean; members: MemberStatus[] };
  /** Services announced by presence in etcd, each instance checked now (TCP connect). */
  services: ServiceStatus[];
  dns: RecordStatus[];
  snapshots: { key: string; time: string; revision: number; keys: number; bytes: number }[];
  /** The cluster's service volumes (EBS volumes in moto, found by their tags). */
  volumes: VolumeStatus[];
}

/**
 * The units a node runs: its unit files (template files stand for their enabled instances) and the
 * instances enabled in multi-user.target.wants, each with the state the systemctl stand-in keeps.
 */
export function unitsOnNode(root: string, id: string): UnitStatus[] {
  const dir = nodeDir(root, id);
  const unitDir = join(dir, "etc/systemd/system");
  if (!existsSync(unitDir)) return [];
  const isUnit = (f: string) => /\.(service|timer|socket|path|target)$/.test(f);
  const files = readdirSync(unitDir).filter((f) => isUnit(f) && !/@\./.test(f));
  const wantsDir = join(unitDir, "multi-user.target.wants");
  const wanted = existsSync(wantsDir) ? readdirSync(wantsDir).filter(isUnit) : [];
  return [...new Set([...files, ...wanted])].sort().map((name) => {
    const run = join(dir, "run/systemd");
    const stateFile = join(run, `${name}.state`);
    if (existsSync(join(run, `${name}.native`))) {
      // A unit that runs a process (etcd) is active only while that process lives, as the
      // systemctl stand-in's is-active says: a SIGKILLed member is "failed", not "active".
      const pid = readPidFile(join(run, `${name}.pid`));
      return { name, state: pid !== undefined && pidAlive(pid) ? "active" : "failed" };
    }
    const state = existsSync(stateFile) ? readFileSync(stateFile, "utf8").trim() : "inactive";
    if (existsSync(join(run, `${name}.container`))) {
      // As the stand-in says: active while its supervisor lives, failed once it gave up or died.
      const pid = readPidFile(join(run, `${name}.pid`));
      const errorFile = join(run, `${name}.error`);
      const s = pid !== undefined && pidAlive(pid) ? "active" : state === "inactive" ? "inactive" : "failed";
      const error = existsSync(errorFile)
        ? readFileSync(errorFile, "utf8")
            .trim()
            .replace(/\s*\n\s*/g, "; ")
        : "";
      return s === "failed" && error ? { name, state: s, error } : { name, state: s };
    }
    return { name, state };
  });
}

/** The member list from whichever member answers first, with each member's health and leadership. */
export async function etcdMembers(ips: string[], tls?: EtcdClientTls): Promise<ClusterStatus["etcd"]> {
  if (ips.length === 0) return { reachable: false, members: [] };
  const client = (hosts: string[]) => new Etcd3({ hosts, dialTimeout: 1000, ...grpcTlsOptions(tls) });
  const agent = tls && httpsAgent(tls);
  const { healthy: memberHealthy } = etcdHttp(agent);
  // One client per endpoint, asked at once: a member killed a moment ago (its breaker not yet open,
  // its connection still half there) costs one deadline and never makes the cluster look unreachable.
  const clients = ips.map((ip) => client([etcdUrls(Boolean(tls)).client(ip)]));
  try {
    const list = await Promise.any(
      clients.map((c) => c.cluster.memberList({}, { deadline: Date.now() + 2000 })),
    );
    const members = await Promise.all(
      list.members.map(async (m) => {
        let healthy = false;
        let leader = false;
        const url = m.clientURLs[0];
        if (url) {
          healthy = await memberHealthy(url, 1000);
          if (healthy) {
            const one = client([url]);
            try {
              const s = await one.maintenance.status({ deadline: Date.now() + 1000 });
              leader = s.leader === s.header.member_id;
            } catch {
              leader = false;
            } finally {
              one.close();
            }
          }
        }
        return {
          id: m.ID,
          name: m.name,
          peerUrl: m.peerURLs[0] ?? "",
          learner: Boolean(m.isLearner),
          healthy,
          leader,
        };
      }),
    );
    return { reachable: true, members };
  } catch {
    return { reachable: false, members: [] };
  } finally {
    for (const c of clients) c.close();
    agent?.destroy();
  }
}

/** A TCP connection to host:port opens within `ms`. */
function answers(host: string, port: number, ms = 500): Promise<boolean> {
  return new Promise((done) => {
    const sock = createConnection({ host, port });
    const end = (v: boolean) => (sock.destroy(), done(v));
    sock.once("connect", () => end(true));
    sock.once("error", () => end(false));
    sock.setTimeout(ms, () => end(false));
  });
}

interface PresenceRecord {
  service?: string;
  instance?: string;
  node?: string;
  privateIp?: string;
  port?: number;
  http?: string;
}

/** Every `/services/<name>/instances/<id>` record (presence's JSON), with a live check of each. */
async function announcedServices(
  ips: string[],
  domain: string,
  tls?: EtcdClientTls,
): Promise<ServiceStatus[]> {
  if (!ips.length) return [];
  const client = new Etcd3({
    hosts: ips.map(etcdUrls(Boolean(tls)).client),
    dialTimeout: 1000,
    ...grpcTlsOptions(tls),
  });
  try {
    const all = await client.getAll().prefix("/services/").strings();
    const byName = new Map<string, ServiceStatus>();
    const checks: Promise<void>[] = [];
    for (const [key, value] of Object.entries(all)) {
      const m = /^\/services\/([^/]+)\/instances\/([^/]+)$/.exec(key);
      if (!m) continue;
      let r: PresenceRecord;
      try {
        r = JSON.parse(value) as PresenceRecord;
      } catch {
        continue; // an older writer's plain keys only, or a malformed record: not listed
      }
      const svc = byName.get(m[1]!) ?? { name: m[1]!, url: "", instances: [] };
      byName.set(svc.name, svc);
      if (r.http) svc.url = `http://${svc.name}.${domain}`;
      const inst = {
        id: m[2]!,
        node: r.node ?? "",
        address: r.privateIp ?? "",
        port: Number(r.port ?? 0),
        healthy: false,
      };
      svc.instances.push(inst);
      if (inst.address && inst.port)
        checks.push(answers(inst.address, inst.port).then((ok) => void (inst.healthy = ok)));
    }
    await Promise.all(checks);
    const out = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const s of out) s.instances.sort((a, b) => a.id.localeCompare(b.id));
    return out;
  } catch {
    return [];
  } finally {
    client.close();
  }
}

async function records(route53: Route53Client, zoneId: string): Promise<RecordStatus[]> {
  const out: RecordStatus[] = [];
  let start: { name?: string; type?: string } = {};
  for (;;) {
    const res = await route53.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        StartRecordName: start.name,
        StartRecordType: start.type as never,
      }),
    );
    for (const r of res.ResourceRecordSets ?? []) {
      if (r.Type === "NS" || r.Type === "SOA") continue;
      out.push({
        name: r.Name!,
        type: r.Type!,
        values: (r.ResourceRecords ?? []).map((v) => v.Value!).sort(),
      });
    }
    if (!res.IsTruncated) break;
    start = { name: res.NextRecordName, type: res.NextRecordType };
  }
  return out.sort((a, b) => (a.name + a.type).localeCompare(b.name + b.type));
}

export async function collectStatus(opts: {
  root: string;
  state: LocalState;
  groups: Groups;
  route53: Route53Client;
  snapshots?: () => Promise<ClusterStatus["snapshots"]>;
  volumes?: () => Promise<VolumeRecord[]>;
  /** The snapshots of those volumes (what `lastSnapshot` is read from). */
  volumeSnapshots?: () => Promise<VolumeSnapshotRecord[]>;
  /** The control plane's etcd certificate, when the members serve TLS (the cluster's ETCD_TLS). */
  etcdTls?: EtcdClientTls;
}): Promise<ClusterStatus> {
  const { root, state } = opts;
  const infos = await opts.groups.describeGroups(Object.values(state.groups));
  const members = infos.flatMap((g) => g.members.map((m) => ({ ...m, role: g.role })));
  const instances = new Map(
    (await opts.groups.describeInstances(members.map((m) => m.instanceId))).map((i) => [i.instanceId, i]),
  );
  const nodes: NodeStatus[] = members
    .map((m) => ({
      id: m.instanceId,
      role: m.role,
      address: instances.get(m.instanceId)?.privateIp ?? "",
      zone: m.zone,
      state: m.lifecycleState,
      up: isNodeUp(root, m.instanceId),
      units: unitsOnNode(root, m.instanceId),
      containers: [] as ContainerStatus[],
    }))
    .sort((a, b) => a.role.localeCompare(b.role) || a.id.localeCompare(b.id));
  const mainIps = nodes.filter((n) => n.role === "main" && n.address).map((n) => n.address);
  const [etcd, dns, snapshots, services, containers, volumes, volumeSnaps] = await Promise.all([
    etcdMembers(mainIps, opts.etcdTls),
    records(opts.route53, state.zoneId),
    opts.snapshots ? opts.snapshots() : Promise.resolve([]),
    announcedServices(mainIps, state.domain, opts.etcdTls),
    containersUnder(root),
    opts.volumes ? opts.volumes() : Promise.resolve([]),
    opts.volumeSnapshots ? opts.volumeSnapshots() : Promise.resolve([]),
  ]);
  for (const n of nodes) {
    n.containers = containers
      .filter((c) => c.root === resolve(nodeDir(root, n.id)))
      .map((c) => ({ name: c.name, unit: c.unit, image: c.image, state: c.state, status: c.status }));
  }
  const vols = volumes
    .map((v) => volumeStatus(v, latestSnapshot(volumeSnaps, v)?.id ?? null))
    .sort((a, b) => a.instance.localeCompare(b.instance) || a.id.localeCompare(b.id));
  return { cluster: state.clusterName, nodes, etcd, services, dns, snapshots, volumes: vols };
}

/** The readable table `devcluster local status` prints. */
export function formatStatus(s: ClusterStatus): string {
  const table = (head: string[], rows: string[][]) => {
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (r: string[]) =>
      r
        .map((c, i) => c.padEnd(w[i]!))
        .join("  ")
        .trimEnd();
    return [line(head), ...rows.map(line)].join("\n");
  };
  const parts = [
    `cluster ${s.cluster}`,
    "",
    "NODES",
    table(
      ["ID", "ROLE", "ADDRESS", "ZONE", "STATE", "UP", "UNITS"],
      s.nodes.map((n) => [
        n.id,
        n.role,
        n.address,
        n.zone,
        n.state,
        n.up ? "yes" : "no",
        n.units.map((u) => `${u.name}${u.state === "active" ? "" : `(${u.state})`}`).join(" "),
      ]),
    ),
    "",
    `ETCD ${s.etcd.reachable ? "" : "(no member reachable)"}`.trimEnd(),
    table(
      ["MEMBER", "NAME", "PEER", "KIND", "HEALTHY", "LEADER"],
      s.etcd.members.map((m) => [
        m.id,
        m.name,
        m.peerUrl,
        m.learner ? "learner" : "voter",
        m.healthy ? "yes" : "no",
        m.leader ? "*" : "",
      ]),
    ),
    "",
    "SERVICES",
    table(
      ["NAME", "URL", "INSTANCES"],
      s.services.map((x) => [
        x.name,
        x.url,
        x.instances
          .map((i) => `${i.id}@${i.node} ${i.address}:${i.port}${i.healthy ? "" : "(down)"}`)
          .join(" "),
      ]),
    ),
    "",
    "CONTAINERS",
    table(
      ["NODE", "NAME", "STATE", "IMAGE"],
      s.nodes.flatMap((n) => n.containers.map((c) => [n.id, c.name, c.status, c.image])),
    ),
    "",
    "DNS",
    table(
      ["NAME", "TYPE", "VALUES"],
      s.dns.map((r) => [r.name, r.type, r.values.join(" ")]),
    ),
    "",
    "SNAPSHOTS",
    table(
      ["KEY", "TIME", "REVISION", "KEYS", "BYTES"],
      s.snapshots.map((x) => [x.key, x.time, String(x.revision), String(x.keys), String(x.bytes)]),
    ),
    "",
    "VOLUMES",
    table(
      ["ID", "INSTANCE", "VOLUME", "NODE", "ZONE", "GIB", "STATE"],
      s.volumes.map((v) => [
        v.id,
        v.instance,
        v.volume,
        v.node ?? "-",
        v.zone,
        String(v.sizeGiB),
        v.state + (v.retired ? " (retired)" : ""),
      ]),
    ),
  ];
  return parts.join("\n");
}
