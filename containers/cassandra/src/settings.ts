// Cassandra's settings file and seed list from the unit's settings and etcd's announcements (pure).
import type { PresenceRecord } from "../../../functions/domain/presence.ts";

export interface NodeSettings {
  cluster: string;
  address: string;
  cqlPort: number;
  storagePort: number;
  dataDir: string;
  /** The storage addresses of the nodes to contact first; a node alone lists itself. */
  seeds: string[];
}

/**
 * `cassandra.yaml`: JSON is YAML, so every value is quoted by JSON.stringify. The seed list is read
 * again by Cassandra's SimpleSeedProvider when it looks for seeds, so rewriting the file follows
 * the peers.
 */
export function cassandraYaml(s: NodeSettings): string {
  const dir = (d: string) => `${s.dataDir}/${d}`;
  const lines: [string, unknown][] = [
    ["cluster_name", s.cluster],
    ["num_tokens", 16],
    ["allocate_tokens_for_local_replication_factor", 3],
    ["partitioner", "org.apache.cassandra.dht.Murmur3Partitioner"],
    ["endpoint_snitch", "SimpleSnitch"],
    ["listen_address", s.address],
    ["rpc_address", s.address],
    ["storage_port", s.storagePort],
    ["native_transport_port", s.cqlPort],
    ["start_native_transport", true],
    ["data_file_directories", [dir("data")]],
    ["commitlog_directory", dir("commitlog")],
    ["saved_caches_directory", dir("saved_caches")],
    ["hints_directory", dir("hints")],
    ["cdc_raw_directory", dir("cdc_raw")],
    ["commitlog_sync", "periodic"],
    ["commitlog_sync_period", "10000ms"],
    // Sign-in with a password: the default superuser's is replaced from SSM at the first start.
    ["authenticator", "PasswordAuthenticator"],
    ["authorizer", "CassandraAuthorizer"],
    ["role_manager", "CassandraRoleManager"],
    [
      "seed_provider",
      [
        {
          class_name: "org.apache.cassandra.locator.SimpleSeedProvider",
          parameters: [{ seeds: s.seeds.join(",") }],
        },
      ],
    ],
  ];
  return lines.map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`).join("");
}

/**
 * The seeds: the storage address (`ip:port`) of every announced instance, sorted; this node's own
 * when none is announced yet (the first node of a cluster seeds itself).
 */
export function seedAddresses(
  instances: readonly Pick<PresenceRecord, "privateIp" | "ports">[],
  self: string,
  portName: string,
  port: number,
): string[] {
  const out = new Set<string>();
  for (const i of instances) {
    const p = i.ports?.[portName];
    if (p) out.add(`${i.privateIp}:${p}`);
  }
  return out.size ? [...out].sort() : [`${self}:${port}`];
}
