// Shapes shared by planners, ports and handlers.

export const ROLES = ["main", "worker", "data"] as const;
export type Role = (typeof ROLES)[number];

/** Tag that names a group's (and so its instances') role. The role never comes from guessing. */
export const ROLE_TAG = "devcluster:role";
/** Tag that names the cluster a group belongs to. */
export const CLUSTER_TAG = "devcluster:cluster";

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/**
 * A member serving TLS answers HTTP (`/health`, `/version`, the JSON gateway) on a listener of its
 * own, so its client port carries gRPC alone, served by gRPC's own server rather than through
 * etcd's HTTP server (docs/ARCHITECTURE.md decision 79). A plain member serves both on 2379.
 */
export const ETCD_HTTP_PORT = 2382;

export type NodeState = "joining" | "active" | "leaving" | "gone";

/** `/cluster/nodes/<instance-id>`: the node registry entry. */
export interface NodeRecord {
  instanceId: string;
  role: Role;
  group: string;
  zone: string;
  privateIp: string;
  publicIp?: string | undefined;
  state: NodeState;
  updatedAt: string;
}

/** An instance as the cloud describes it. */
export interface InstanceInfo {
  instanceId: string;
  privateIp: string;
  publicIp?: string | undefined;
  zone: string;
  state: string; // EC2 state name: pending, running, shutting-down, terminated, ...
  /** The instance's devcluster:cluster tag (propagated from its group at launch). */
  clusterTag?: string | undefined;
}

/** An Auto Scaling group member as the group sees it. */
export interface GroupMember {
  instanceId: string;
  lifecycleState: string; // Pending, Pending:Wait, InService, Terminating:Wait, ...
  healthStatus: string;
  zone: string;
}

export interface GroupInfo {
  name: string;
  role: Role;
  desired: number;
  min: number;
  max: number;
  members: GroupMember[];
}

/** An etcd member as the member list reports it. */
export interface EtcdMember {
  id: string; // decimal string of the uint64 member id
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export const etcdClientUrl = (ip: string) => `http://${ip}:${ETCD_CLIENT_PORT}`;
export const etcdPeerUrl = (ip: string) => `http://${ip}:${ETCD_PEER_PORT}`;
/** The same endpoints with TLS (a member started with a PKI directory, etcdEnv.ts). */
export const etcdTlsClientUrl = (ip: string) => `https://${ip}:${ETCD_CLIENT_PORT}`;
export const etcdTlsPeerUrl = (ip: string) => `https://${ip}:${ETCD_PEER_PORT}`;
/** A TLS member's HTTP listener (`ETCD_HTTP_PORT`). */
export const etcdTlsHttpUrl = (ip: string) => `https://${ip}:${ETCD_HTTP_PORT}`;
/**
 * Where the HTTP endpoints of the member at `clientUrl` are: its HTTP listener when it serves TLS on
 * the client port, the client URL itself when it serves plain http. Any path is dropped.
 */
export function etcdHttpBase(clientUrl: string): string {
  const u = new URL(clientUrl);
  if (u.protocol === "https:" && u.port === String(ETCD_CLIENT_PORT)) u.port = String(ETCD_HTTP_PORT);
  return u.origin;
}
/** A cluster's endpoints in its scheme (`ETCD_TLS`). */
export const etcdUrls = (tls: boolean) =>
  tls ? { client: etcdTlsClientUrl, peer: etcdTlsPeerUrl } : { client: etcdClientUrl, peer: etcdPeerUrl };
