// Restore after total loss: which nodes form the new cluster and the node scripts that rebuild it.
// Pure: renders plans and bash; the restore function runs them over the Commands port.
import { InvariantError } from "./errors.ts";
import { etcdEnv, renderEnvFile } from "./etcdEnv.ts";
import { ETCD_DATA_DIR, ETCD_ENV_PATH, ETCD_MEMBER_UNIT_NAME } from "./firstBoot.ts";
import { etcdPeerUrl, etcdTlsPeerUrl, etcdUrls } from "./model.ts";
import { NODE_PKI_DIR } from "./nodeTls.ts";
import type { Manifest } from "./snapshots.ts";

export interface RestoreNode {
  instanceId: string;
  privateIp: string;
  publicIp?: string | undefined;
  zone: string;
}

export interface RestorePlan {
  snapshotId: string;
  /** A fresh token: the restored cluster gets a new cluster id and can never mix with the old one. */
  token: string;
  /** `YYYYMMDDTHHMMSSZ`, names the moved-aside data dirs and env files. */
  stamp: string;
  members: { name: string; instanceId: string; ip: string; zone: string; publicIp?: string | undefined }[];
  endpoints: string[];
}

export function planRestore(input: {
  cluster: string;
  manifest: Pick<Manifest, "id">;
  nodes: RestoreNode[];
  at: Date;
  random: string;
  /** The members serve TLS: the endpoints are https. */
  tls?: boolean | undefined;
}): RestorePlan {
  if (input.nodes.length === 0) throw new InvariantError("no main nodes to restore onto");
  if (!/^[0-9a-f]{6,}$/.test(input.random)) throw new InvariantError("random part must be hex");
  const nodes = [...input.nodes].sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
  const ips = new Set(nodes.map((n) => n.privateIp));
  if (ips.size !== nodes.length) throw new InvariantError("two main nodes share a private address");
  const stamp = input.at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  return {
    snapshotId: input.manifest.id,
    token: `${input.cluster}-restore-${stamp.toLowerCase()}-${input.random}`,
    stamp,
    members: nodes.map((n) => ({
      name: n.instanceId,
      instanceId: n.instanceId,
      ip: n.privateIp,
      zone: n.zone,
      publicIp: n.publicIp,
    })),
    endpoints: nodes.map((n) => etcdUrls(input.tls ?? false).client(n.privateIp)),
  };
}

/** Safe to put inside single quotes, or bare, in bash. */
const SAFE = /^[A-Za-z0-9._:/,=@+-]*$/;
function bare(v: string, what: string): string {
  if (!SAFE.test(v)) throw new InvariantError(`unsafe ${what} for a node script: ${v}`);
  return v;
}
function quoted(v: string, what: string): string {
  if (/['\n\r\0]/.test(v)) throw new InvariantError(`unsafe ${what} for a node script`);
  return `'${v}'`;
}

/** Every node script starts so: strict bash, `$ROOT` empty on a real node, etcdctl from /opt/bin. */
const HEADER = `set -euo pipefail
ROOT="\${ROOT:-}"
export PATH="$ROOT/opt/bin:$PATH"
`;

const DOWNLOAD_DIR = "/var/lib/etcd-restore";
const downloadPath = (id: string) => `$ROOT${DOWNLOAD_DIR}/${bare(id, "snapshot id")}.db`;

/** Where the snapshot's data object is: the node fetches it itself, as its own role. */
export interface SnapshotObject {
  bucket: string;
  key: string;
}

/** The instance metadata service (IMDSv2), where a real node's role credentials come from. */
const IMDS = "http://169.254.169.254/latest";
/** A field of IMDS's credentials document (one `"Name" : "value",` a line), without a JSON tool. */
const READ_CREDENTIAL_FIELD = String.raw`field() { printf '%s\n' "$creds" | sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" | head -n 1; }`;

/**
 * Phase 1, changes nothing that matters: check the tools, fetch the snapshot, verify its SHA-256 and
 * size on the node. Any failure here leaves etcd, its data and settings untouched.
 *
 * Nothing secret is in this script (it travels in SSM command parameters, which any principal
 * allowed to list commands can read): the node signs its own S3 request (curl's SigV4) with its
 * role, which may read only the cluster's snapshot data and decrypt it through S3. The credentials
 * are the standard chain's: the node's own settings (`/etc/devcluster/aws.env`: a local node's), or
 * on a real node (`$ROOT` empty) the instance profile's from IMDSv2. They reach curl on its standard
 * input, never its command line.
 */
export function fetchScript(
  plan: RestorePlan,
  m: Pick<Manifest, "sha256" | "size">,
  object: SnapshotObject,
): string {
  const f = downloadPath(plan.snapshotId);
  return `# devcluster restore ${plan.stamp}: fetch and verify snapshot ${plan.snapshotId}
${HEADER}for tool in curl sed sha256sum etcdctl systemctl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "restore: $tool is not available on this node" >&2; exit 10; }
done
curl --help all 2>/dev/null | grep -q -- --aws-sigv4 || { echo "restore: this node's curl cannot sign requests (--aws-sigv4 needs curl 7.75 or later)" >&2; exit 11; }
setting() { [ -f "$2" ] && sed -n "s/^$1=//p" "$2" | tail -n 1 || true; }
aws_env="$ROOT/etc/devcluster/aws.env"
region="$(setting AWS_REGION "$aws_env")"
[ -n "$region" ] || region="$(setting AWS_REGION "$ROOT/etc/devcluster/cluster.env")"
endpoint="$(setting AWS_ENDPOINT_URL "$aws_env")"
key_id="$(setting AWS_ACCESS_KEY_ID "$aws_env")"
secret="$(setting AWS_SECRET_ACCESS_KEY "$aws_env")"
token="$(setting AWS_SESSION_TOKEN "$aws_env")"
if [ -z "$key_id" ] && [ -z "$ROOT" ]; then
  imds_token="$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "${IMDS}/api/token")"
  role="$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" "${IMDS}/meta-data/iam/security-credentials/" | head -n 1)"
  creds="$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" "${IMDS}/meta-data/iam/security-credentials/$role")"
  ${READ_CREDENTIAL_FIELD}
  key_id="$(field AccessKeyId)"; secret="$(field SecretAccessKey)"; token="$(field Token)"
fi
if [ -z "$region" ] || [ -z "$key_id" ] || [ -z "$secret" ]; then
  echo "restore: no region or credentials for this node's role" >&2; exit 14
fi
bucket=${quoted(bare(object.bucket, "bucket"), "bucket")}
key=${quoted(bare(object.key, "object key"), "object key")}
if [ -n "$endpoint" ]; then url="$endpoint/$bucket/$key"; else url="https://$bucket.s3.$region.amazonaws.com/$key"; fi
mkdir -p "$ROOT${DOWNLOAD_DIR}"
f="${f}"
{
  printf 'user = "%s:%s"\\n' "$key_id" "$secret"
  [ -z "$token" ] || printf 'header = "x-amz-security-token: %s"\\n' "$token"
  printf 'header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\\n'
} | curl -fsS --retry 3 --retry-delay 1 --aws-sigv4 "aws:amz:$region:s3" -K - -o "$f.part" "$url" \
  || { rm -f "$f.part"; echo "restore: could not fetch s3://$bucket/$key as this node's role" >&2; exit 15; }
size=$(stat -c %s "$f.part")
if [ "$size" != "${m.size}" ]; then rm -f "$f.part"; echo "restore: snapshot size $size != ${m.size}" >&2; exit 12; fi
if ! echo "${bare(m.sha256, "sha256")}  $f.part" | sha256sum -c --status; then
  rm -f "$f.part"; echo "restore: snapshot SHA-256 mismatch on the node" >&2; exit 13
fi
mv -f "$f.part" "$f"
echo "fetched and verified $size bytes"
`;
}

/**
 * The etcd settings a restored member starts with (see `swapScript` on the cluster state). `tls`:
 * client and peer TLS with client certificates from the node's PKI directory, like the member had.
 */
export function restoredEnvFile(
  plan: RestorePlan,
  member: RestorePlan["members"][number],
  tls = false,
): string {
  const env = etcdEnv({
    name: member.name,
    ip: member.ip,
    dataDir: "__DATA_DIR__",
    initialCluster: plan.members.map((x) => ({ name: x.name, ip: x.ip })),
    // `etcdctl snapshot restore` has already written the new membership into the data dir, and etcd
    // ignores ETCD_INITIAL_CLUSTER* whenever its data dir holds a member (etcd docs, "Disaster
    // recovery": the restored members are started with the data dir and nothing else). The cluster
    // exists from that moment: should a member ever start again without its data, it must join the
    // existing cluster, never bootstrap a second one with the same token; so the file says `existing`.
    state: "existing",
    token: plan.token,
    tlsDir: tls ? "__TLS_DIR__" : undefined,
  });
  for (const [k, v] of Object.entries(env)) if (k !== "ETCD_DATA_DIR") bare(v, k);
  // The data dir is `$ROOT/var/lib/etcd`, the PKI directory under `$ROOT` too, both expanded on the
  // node (the heredoc below is unquoted).
  return renderEnvFile(env)
    .replace("__DATA_DIR__", `$ROOT${ETCD_DATA_DIR}`)
    .replaceAll("__TLS_DIR__", `$ROOT${NODE_PKI_DIR}`);
}

/**
 * Phase 2, on every node once phase 1 succeeded everywhere: stop etcd, move the data dir aside (never
 * deleted) and keep the old settings, restore the snapshot into a fresh data dir with the new
 * membership and token, write the new settings.
 */
export function swapScript(plan: RestorePlan, member: RestorePlan["members"][number]): string {
  const f = downloadPath(plan.snapshotId);
  const aside = `$ROOT${ETCD_DATA_DIR}.before-restore-${plan.stamp}`;
  const initialCluster = (peer: (ip: string) => string) =>
    bare(plan.members.map((x) => `${x.name}=${peer(x.ip)}`).join(","), "initial cluster");
  return `# devcluster restore ${plan.stamp}: rebuild member ${member.name} from ${plan.snapshotId}
${HEADER}f="${f}"
[ -f "$f" ] || { echo "restore: $f is missing (fetch phase not done)" >&2; exit 20; }
# The restored member keeps the transport it had: TLS when its settings name a certificate (every
# member of a cluster has the same settings but for its own name and address).
if [ -f "$ROOT${ETCD_ENV_PATH}" ] && grep -q '^ETCD_CERT_FILE=' "$ROOT${ETCD_ENV_PATH}"; then
  tls=1; initial_cluster=${initialCluster(etcdTlsPeerUrl)}; peer_url=${etcdTlsPeerUrl(bare(member.ip, "ip"))}
else
  tls=0; initial_cluster=${initialCluster(etcdPeerUrl)}; peer_url=${etcdPeerUrl(bare(member.ip, "ip"))}
fi
systemctl stop ${ETCD_MEMBER_UNIT_NAME}
if [ -e "$ROOT${ETCD_DATA_DIR}" ]; then
  [ ! -e "${aside}" ] || { echo "restore: ${aside} already exists" >&2; exit 21; }
  mv "$ROOT${ETCD_DATA_DIR}" "${aside}"
  echo "moved the old data dir to ${aside}"
fi
mkdir -p "$ROOT${ETCD_ENV_PATH.slice(0, ETCD_ENV_PATH.lastIndexOf("/"))}"
if [ -f "$ROOT${ETCD_ENV_PATH}" ]; then cp -p "$ROOT${ETCD_ENV_PATH}" "$ROOT${ETCD_ENV_PATH}.before-restore-${plan.stamp}"; fi
etcdctl snapshot restore "$f" \\
  --name ${bare(member.name, "name")} \\
  --initial-cluster "$initial_cluster" \\
  --initial-cluster-token ${bare(plan.token, "token")} \\
  --initial-advertise-peer-urls "$peer_url" \\
  --data-dir "$ROOT${ETCD_DATA_DIR}" 2>&1 | tail -n 5
[ -d "$ROOT${ETCD_DATA_DIR}/member" ] || { echo "restore: etcdctl left no member dir" >&2; exit 22; }
if [ "$tls" = 1 ]; then
  cat > "$ROOT${ETCD_ENV_PATH}.new" <<EOT
${restoredEnvFile(plan, member, true)}EOT
else
  cat > "$ROOT${ETCD_ENV_PATH}.new" <<EOT
${restoredEnvFile(plan, member)}EOT
fi
mv -f "$ROOT${ETCD_ENV_PATH}.new" "$ROOT${ETCD_ENV_PATH}"
rm -f "$f"
echo "restored member ${member.name}"
`;
}

/** Phase 3: start the restored members (not waiting: every member must be started before any is ready). */
export function startScript(plan: RestorePlan): string {
  return `# devcluster restore ${plan.stamp}: start the restored member
${HEADER}systemctl daemon-reload
systemctl enable ${ETCD_MEMBER_UNIT_NAME}
systemctl start --no-block ${ETCD_MEMBER_UNIT_NAME}
echo started
`;
}

/** Undo phase 1 (the fetched file) after a refusal: nothing else was changed. */
export function cleanupScript(plan: RestorePlan): string {
  const f = downloadPath(plan.snapshotId);
  return `${HEADER}rm -f "${f}" "${f}.part"\n`;
}

export const howToRestore = (cluster: string) =>
  `sls invoke -f restore --data '{"snapshot":"latest","confirm":"${cluster}"}' (on a local cluster: npx devcluster local restore latest; see docs/OPERATIONS.md, "Snapshots and restore")`;
