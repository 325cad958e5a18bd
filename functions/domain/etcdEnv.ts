// The start settings of an etcd member, as the environment file its unit reads (etcd takes ETCD_* vars).
import { InvariantError } from "./errors.ts";
import { etcdClientUrl, etcdPeerUrl } from "./model.ts";

export interface EtcdStartSettings {
  name: string; // the instance id
  ip: string;
  dataDir: string;
  /** `name=peerUrl` for every member the new member should know of, itself included. */
  initialCluster: { name: string; ip: string }[];
  state: "new" | "existing";
  token: string;
}

export function etcdEnv(s: EtcdStartSettings): Record<string, string> {
  return {
    ETCD_NAME: s.name,
    ETCD_DATA_DIR: s.dataDir,
    ETCD_LISTEN_CLIENT_URLS: etcdClientUrl(s.ip),
    ETCD_ADVERTISE_CLIENT_URLS: etcdClientUrl(s.ip),
    ETCD_LISTEN_PEER_URLS: etcdPeerUrl(s.ip),
    ETCD_INITIAL_ADVERTISE_PEER_URLS: etcdPeerUrl(s.ip),
    ETCD_INITIAL_CLUSTER: s.initialCluster.map((m) => `${m.name}=${etcdPeerUrl(m.ip)}`).join(","),
    ETCD_INITIAL_CLUSTER_STATE: s.state,
    ETCD_INITIAL_CLUSTER_TOKEN: s.token,
  };
}

export function renderEnvFile(env: Record<string, string>): string {
  return (
    Object.entries(env)
      .map(([k, v]) => {
        if (!/^[A-Z_][A-Z0-9_]*$/.test(k) || /[\n"\\]/.test(v))
          throw new InvariantError(`unsafe env entry ${k}`);
        return `${k}="${v}"`;
      })
      .join("\n") + "\n"
  );
}

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)="?(.*?)"?$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
