// First-boot configuration per role, as an Ignition v3 config (Flatcar reads it from user data).
// Every node: the SSM agent (shipped in Flatcar's AWS image, enabled here), Docker, etcd and
// etcdctl/etcdutl in /opt/bin, /etc/devcluster/cluster.env naming its cluster and role, and
// /etc/devcluster/node.env with its own id and addresses (from the instance metadata), and its etcd
// key with a CSR for it (nodeTls.ts).
// Every node: the program that publishes its unit states to etcd (unitStates.ts).
// Main nodes: the etcd member unit, started by the control plane once it wrote /etc/etcd/etcd.env.
// Workers and data nodes get their etcd gateway (etcd-amb) from the unit catalog, with their units.
import { base64, sub, type CfnValue } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import {
  clusterEnvFile,
  ETCD_ENV_PATH,
  ETCD_MEMBER_UNIT,
  ETCD_MEMBER_UNIT_NAME,
} from "../../functions/domain/firstBoot.ts";
import type { Role } from "../../functions/domain/model.ts";
import { BOOT_KEY_SCRIPT } from "../../functions/domain/nodeTls.ts";
import {
  UNIT_STATES_PROGRAM,
  UNIT_STATES_PROGRAM_PATH,
  UNIT_STATES_UNIT,
  UNIT_STATES_UNIT_NAME,
} from "../../functions/domain/unitStates.ts";

export const IGNITION_VERSION = "3.3.0";
export const CLUSTER_ENV_PATH = "/etc/devcluster/cluster.env";
export const ETCD_INSTALL_UNIT_NAME = "etcd-install.service";
export const NODE_ENV_PATH = "/etc/devcluster/node.env";
export const NODE_ENV_UNIT_NAME = "devcluster-node-env.service";
export const NODE_KEY_UNIT_NAME = "devcluster-node-key.service";
export const NODE_KEY_PROGRAM_PATH = "/opt/bin/devcluster-node-key";
/** CloudFormation caps user data at 16 KB before base64. */
export const USER_DATA_LIMIT = 16 * 1024;

export interface IgnitionFile {
  path: string;
  mode: number;
  overwrite: boolean;
  contents: { source: string };
}
export interface IgnitionUnit {
  name: string;
  enabled?: boolean;
  contents?: string;
  dropins?: { name: string; contents: string }[];
}
export interface IgnitionConfig {
  ignition: { version: string };
  storage: { files: IgnitionFile[]; directories: { path: string; mode: number; overwrite: boolean }[] };
  systemd: { units: IgnitionUnit[] };
}

/**
 * What a config may mention, substituted at deploy time: stack parameters, the region and the
 * private zone's id (programs on nodes, e.g. presence-dns, write to that zone in that region).
 */
const SUBSTITUTIONS = {
  [Params.clusterName]: Params.clusterName,
  [Params.clusterDomain]: Params.clusterDomain,
  AwsRegion: "AWS::Region",
  StackName: "AWS::StackName",
  PrivateZoneId: Ids.privateZone,
  UserPoolId: Ids.userPool,
  UserPoolClientId: Ids.authClient,
  SnapshotBucket: Ids.snapshotBucket,
  FileDropSender: Params.fileDropSender,
  EtcdTls: Params.etcdTls,
} as const;
type ConfigParam = keyof typeof SUBSTITUTIONS;
// Letters and underscores only: survives both URL-encoding (data URLs) and JSON unchanged.
const placeholder = (p: ConfigParam) => `__DEVCLUSTER_PARAM_${p}__`;
const PLACEHOLDER = /__DEVCLUSTER_PARAM_([A-Za-z]+)__/;

const file = (path: string, mode: number, text: string): IgnitionFile => ({
  path,
  mode,
  overwrite: true,
  contents: { source: `data:,${encodeURIComponent(text)}` },
});

export function installEtcdScript(version: string): string {
  return `#!/bin/bash
# Install etcd, etcdctl and etcdutl ${version} to /opt/bin, verified against the release's SHA256SUMS.
set -euo pipefail
VERSION=${version}
BIN="\${ROOT:-}/opt/bin"
if [[ -x "$BIN/etcd" ]] && "$BIN/etcd" --version | grep -q "etcd Version: \${VERSION#v}$"; then exit 0; fi
case "$(uname -m)" in aarch64) ARCH=arm64 ;; *) ARCH=amd64 ;; esac
NAME="etcd-\${VERSION}-linux-\${ARCH}"
BASE="https://github.com/etcd-io/etcd/releases/download/\${VERSION}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
curl -fsSL --retry 5 --retry-connrefused -o "$TMP/$NAME.tar.gz" "$BASE/$NAME.tar.gz"
curl -fsSL --retry 5 --retry-connrefused -o "$TMP/SHA256SUMS" "$BASE/SHA256SUMS"
(cd "$TMP" && grep " $NAME.tar.gz$" SHA256SUMS | sha256sum -c --status -)
tar -xzf "$TMP/$NAME.tar.gz" -C "$TMP"
mkdir -p "$BIN"
install -m 0755 "$TMP/$NAME/etcd" "$TMP/$NAME/etcdctl" "$TMP/$NAME/etcdutl" "$BIN/"
`;
}

/**
 * Writes /etc/devcluster/node.env (what units such as presence@ read: the node's own addresses) from
 * the instance metadata service, IMDSv2 (a session token first, as the template requires tokens).
 */
export const NODE_ENV_SCRIPT = `#!/bin/bash
set -euo pipefail
IMDS=http://169.254.169.254/latest
TOKEN=$(curl -fsS --retry 10 --retry-connrefused -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$IMDS/api/token")
md() { curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/meta-data/$1" || true; }
TMP=$(mktemp ${NODE_ENV_PATH}.XXXXXX)
{
  echo "INSTANCE_ID=$(md instance-id)"
  echo "PRIVATE_IP=$(md local-ipv4)"
  echo "PUBLIC_IP=$(md public-ipv4)"
  echo "ZONE=$(md placement/availability-zone)"
} >"$TMP"
chmod 644 "$TMP"
mv -f "$TMP" ${NODE_ENV_PATH}
`;

const NODE_ENV_UNIT = `[Unit]
Description=Write ${NODE_ENV_PATH} from the instance metadata (devcluster first boot)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/opt/bin/devcluster-node-env
Restart=on-failure
RestartSec=5s

[Install]
WantedBy=multi-user.target
`;

// The node's etcd key and its CSR (nodeTls.ts BOOT_KEY_SCRIPT), made before the control plane can
// ask for them; a boot that fails here costs nothing but time, the launch's CSR step makes the key.
export const NODE_KEY_UNIT = `[Unit]
Description=Make the node's etcd key and CSR (devcluster first boot)
After=${NODE_ENV_UNIT_NAME}
Requires=${NODE_ENV_UNIT_NAME}

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=${NODE_ENV_PATH}
ExecStart=${NODE_KEY_PROGRAM_PATH}

[Install]
WantedBy=multi-user.target
`;

const ETCD_INSTALL_UNIT = `[Unit]
Description=Install etcd to /opt/bin (devcluster first boot)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/opt/bin/install-etcd
Restart=on-failure
RestartSec=15s

[Install]
WantedBy=multi-user.target
`;

/** The Ignition config of a role's nodes, with placeholders for the stack parameters it uses. */
export function ignitionConfig(role: Role, etcdVersion: string): IgnitionConfig {
  const files = [
    file(
      CLUSTER_ENV_PATH,
      0o644,
      clusterEnvFile({
        CLUSTER_NAME: placeholder(Params.clusterName),
        STACK_NAME: placeholder("StackName"),
        CLUSTER_DOMAIN: placeholder(Params.clusterDomain),
        NODE_ROLE: role,
        AWS_REGION: placeholder("AwsRegion"),
        PRIVATE_ZONE_ID: placeholder("PrivateZoneId"),
        USER_POOL_ID: placeholder("UserPoolId"),
        USER_POOL_CLIENT_ID: placeholder("UserPoolClientId"),
        SNAPSHOT_BUCKET: placeholder("SnapshotBucket"),
        FILEDROP_SENDER: placeholder("FileDropSender"),
        ETCD_TLS: placeholder("EtcdTls"),
      }),
    ),
    // Nodes are replaced, not rebooted in place by the update engine: two main nodes rebooting at
    // once would lose etcd quorum. A new launch template version brings a new Flatcar.
    file("/etc/flatcar/update.conf", 0o644, "REBOOT_STRATEGY=off\n"),
    file("/opt/bin/install-etcd", 0o755, installEtcdScript(etcdVersion)),
    file("/opt/bin/devcluster-node-env", 0o755, NODE_ENV_SCRIPT),
    file(NODE_KEY_PROGRAM_PATH, 0o755, BOOT_KEY_SCRIPT),
    file(UNIT_STATES_PROGRAM_PATH, 0o755, UNIT_STATES_PROGRAM),
  ];
  const directories: IgnitionConfig["storage"]["directories"] = [];
  const units: IgnitionUnit[] = [
    { name: "amazon-ssm-agent.service", enabled: true },
    { name: "docker.service", enabled: true },
    { name: ETCD_INSTALL_UNIT_NAME, enabled: true, contents: ETCD_INSTALL_UNIT },
    { name: NODE_ENV_UNIT_NAME, enabled: true, contents: NODE_ENV_UNIT },
    { name: NODE_KEY_UNIT_NAME, enabled: true, contents: NODE_KEY_UNIT },
    // Every node publishes its unit states (what `devcluster units` and the dashboard show).
    { name: UNIT_STATES_UNIT_NAME, enabled: true, contents: UNIT_STATES_UNIT },
  ];
  if (role === "main") {
    // Where the control plane writes the member's settings (root-only: it holds the cluster token).
    directories.push({ path: ETCD_ENV_PATH.replace(/\/[^/]+$/, ""), mode: 0o700, overwrite: false });
    units.push({
      name: ETCD_MEMBER_UNIT_NAME,
      // Enabled so a rebooted member rejoins by itself; its ConditionPathExists on the env file
      // keeps it idle on first boot until the control plane has handed it its settings.
      enabled: true,
      contents: ETCD_MEMBER_UNIT,
      dropins: [
        {
          name: "10-after-install.conf",
          contents: `[Unit]\nAfter=${ETCD_INSTALL_UNIT_NAME}\nRequires=${ETCD_INSTALL_UNIT_NAME}\n`,
        },
      ],
    });
  }
  // Workers and data nodes get etcd-amb with their units (functions/catalog/etcd-amb.service, the one
  // definition), pushed before their launch completes.
  return { ignition: { version: IGNITION_VERSION }, storage: { files, directories }, systemd: { units } };
}

/** The config as user data: JSON with the parameters substituted by CloudFormation, base64-encoded. */
export function ignitionUserData(config: IgnitionConfig): CfnValue {
  // Literal `${` (systemd variables in unit files) must read `${!` to survive Fn::Sub.
  const text = JSON.stringify(config)
    .replaceAll("${", "${!")
    .replace(new RegExp(PLACEHOLDER.source, "g"), (_m, p: string) => {
      if (!Object.hasOwn(SUBSTITUTIONS, p)) throw new Error(`unknown parameter ${p} in Ignition config`);
      return `\${${SUBSTITUTIONS[p as ConfigParam]}}`;
    });
  return base64(sub(text));
}
