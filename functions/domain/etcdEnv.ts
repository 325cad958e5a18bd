// The start settings of an etcd member, as the environment file its unit reads (etcd takes ETCD_* vars).
import { InvariantError } from "./errors.ts";
import { etcdClientUrl, etcdPeerUrl, etcdTlsClientUrl, etcdTlsHttpUrl, etcdTlsPeerUrl } from "./model.ts";

export interface EtcdStartSettings {
  name: string; // the instance id
  ip: string;
  dataDir: string;
  /** `name=peerUrl` for every member the new member should know of, itself included. */
  initialCluster: { name: string; ip: string }[];
  state: "new" | "existing";
  token: string;
  /**
   * TLS on client and peer traffic, both requiring a certificate from the cluster CA: the node's
   * PKI directory (`ca.crt`, `node.crt`, `node.key`, nodeTls.ts). Absent: plain http.
   */
  tlsDir?: string | undefined;
}

export function etcdEnv(s: EtcdStartSettings): Record<string, string> {
  const tls = s.tlsDir !== undefined;
  const client = tls ? etcdTlsClientUrl : etcdClientUrl;
  const peer = tls ? etcdTlsPeerUrl : etcdPeerUrl;
  return {
    ETCD_NAME: s.name,
    ETCD_DATA_DIR: s.dataDir,
    ETCD_LISTEN_CLIENT_URLS: client(s.ip),
    ETCD_ADVERTISE_CLIENT_URLS: client(s.ip),
    ETCD_LISTEN_PEER_URLS: peer(s.ip),
    ETCD_INITIAL_ADVERTISE_PEER_URLS: peer(s.ip),
    ETCD_INITIAL_CLUSTER: s.initialCluster.map((m) => `${m.name}=${peer(m.ip)}`).join(","),
    ETCD_INITIAL_CLUSTER_STATE: s.state,
    ETCD_INITIAL_CLUSTER_TOKEN: s.token,
    ...(tls ? { ETCD_LISTEN_CLIENT_HTTP_URLS: etcdTlsHttpUrl(s.ip), ...etcdTlsEnv(s.tlsDir!) } : {}),
  };
}

/** Client and peer TLS, each side proving itself with a certificate from the cluster CA. */
function etcdTlsEnv(dir: string): Record<string, string> {
  const ca = `${dir}/ca.crt`;
  const cert = `${dir}/node.crt`;
  const key = `${dir}/node.key`;
  return {
    ETCD_CLIENT_CERT_AUTH: "true",
    ETCD_TRUSTED_CA_FILE: ca,
    ETCD_CERT_FILE: cert,
    ETCD_KEY_FILE: key,
    ETCD_PEER_CLIENT_CERT_AUTH: "true",
    ETCD_PEER_TRUSTED_CA_FILE: ca,
    ETCD_PEER_CERT_FILE: cert,
    ETCD_PEER_KEY_FILE: key,
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
