// Shapes shared by planners, ports and handlers.

export const ROLES = ["main", "worker", "data"] as const;
export type Role = (typeof ROLES)[number];

/** Tag that names a group's (and so its instances') role. The role never comes from guessing. */
export const ROLE_TAG = "devcluster:role";
/** Tag that names the cluster a group belongs to. */
export const CLUSTER_TAG = "devcluster:cluster";

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

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
/** A cluster's endpoints in its scheme (`ETCD_TLS`). */
export const etcdUrls = (tls: boolean) =>
  tls ? { client: etcdTlsClientUrl, peer: etcdTlsPeerUrl } : { client: etcdClientUrl, peer: etcdPeerUrl };
