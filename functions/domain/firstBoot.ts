// What first boot (Ignition) puts on a node, shared by the template generator and the local nodes.

/**
 * The etcd member unit on main nodes. etcd runs natively from /opt/bin (installed at first boot),
 * configured only by the environment file the control plane writes (etcdEnv.ts).
 * It is not enabled at boot: the control plane starts it once it has handed the node its settings.
 */
export const ETCD_MEMBER_UNIT_NAME = "etcd-member.service";
export const ETCD_ENV_PATH = "/etc/etcd/etcd.env";
export const ETCD_DATA_DIR = "/var/lib/etcd";

export const ETCD_MEMBER_UNIT = `[Unit]
Description=etcd member (devcluster)
Documentation=https://etcd.io/docs/v3.5/op-guide/configuration/
After=network-online.target
Wants=network-online.target
ConditionPathExists=${ETCD_ENV_PATH}

[Service]
Type=notify
EnvironmentFile=${ETCD_ENV_PATH}
ExecStart=/opt/bin/etcd
Restart=on-failure
RestartSec=5s
LimitNOFILE=65536
TimeoutStartSec=120

[Install]
WantedBy=multi-user.target
`;

/** What every node's /etc/devcluster/cluster.env says: its cluster, role, region and private zone. */
export interface ClusterEnv {
  CLUSTER_NAME: string;
  /** The cluster's CloudFormation stack (the dashboard service reads it as the command line does). */
  STACK_NAME: string;
  CLUSTER_DOMAIN: string;
  NODE_ROLE: string;
  AWS_REGION: string;
  PRIVATE_ZONE_ID: string;
  /** The user pool and the auth service's app client (the front door's sign-in). */
  USER_POOL_ID: string;
  USER_POOL_CLIENT_ID: string;
  /** The snapshot bucket: database services write their logical dumps below db-dumps/ there. */
  SNAPSHOT_BUCKET: string;
  /** The file drop's sender of emailed links (a stack parameter; an SES-verified identity). */
  FILEDROP_SENDER: string;
  /** "true": the members serve TLS and etcd-amb reaches them with the node's certificate. */
  ETCD_TLS: string;
  /** The front door's certificate and key (SSM SecureString names): with them it serves HTTPS. */
  TLS_CERT_PARAM?: string;
  TLS_KEY_PARAM?: string;
}

/** An environment file (systemd's `EnvironmentFile=` and podman's `--env-file` both read it). */
export const envFileText = (vars: Record<string, string>): string =>
  Object.entries(vars)
    .map(([k, v]) => `${k}=${v}\n`)
    .join("");

export const clusterEnvFile = (env: ClusterEnv): string => envFileText({ ...env });
