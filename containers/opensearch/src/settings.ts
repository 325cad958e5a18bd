// OpenSearch's settings file and seed hosts from the unit's settings and etcd's announcements (pure).
import type { PresenceRecord } from "../../../functions/domain/presence.ts";

export interface NodeSettings {
  cluster: string;
  nodeName: string;
  address: string;
  httpPort: number;
  transportPort: number;
  dataDir: string;
  /** This node may form a new cluster by itself (instance 1 on an empty volume). */
  bootstrap: boolean;
}

/** `opensearch.yml`: JSON is YAML, so every value is quoted by JSON.stringify. */
export function clusterSettings(s: NodeSettings): string {
  const lines: [string, unknown][] = [
    ["cluster.name", s.cluster],
    ["node.name", s.nodeName],
    ["path.data", s.dataDir],
    // Logs go to standard output (log4j2.properties); nothing is written here.
    ["path.logs", "/tmp"],
    ["network.host", s.address],
    ["http.port", s.httpPort],
    ["transport.port", s.transportPort],
    // Peers come from the seed hosts file the program keeps from etcd.
    ["discovery.seed_providers", "file"],
    // Lucene reads through NIO rather than memory maps: no need to raise the node's vm.max_map_count
    // (a bootstrap check on a non-loopback address), at some cost in search speed.
    ["node.store.allow_mmap", false],
  ];
  if (s.bootstrap) lines.push(["cluster.initial_cluster_manager_nodes", [s.nodeName]]);
  return lines.map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`).join("");
}

/** The transport addresses of the announced instances, this node's own left out, sorted. */
export function seedHosts(
  instances: readonly Pick<PresenceRecord, "privateIp" | "ports">[],
  opts: { self: string; portName: string },
): string[] {
  const out = new Set<string>();
  for (const i of instances) {
    const port = i.ports?.[opts.portName];
    if (!port || i.privateIp === opts.self) continue;
    out.add(`${i.privateIp}:${port}`);
  }
  return [...out].sort();
}
