// Recovery from the most up-to-date survivor when members answer but no quorum does: which member
// to keep, which nodes to set aside and re-add, and the node scripts that do it. Pure: the recovery
// operation (operations/survivor.ts) observes and runs the scripts over the Commands port.
import { InvariantError } from "./errors.ts";
import { ETCD_DATA_DIR, ETCD_ENV_PATH, ETCD_MEMBER_UNIT_NAME } from "./firstBoot.ts";
import { etcdClientUrl, etcdTlsClientUrl, etcdTlsHttpUrl, etcdUrls, type EtcdMember } from "./model.ts";
import { peerIp } from "./membershipPlan.ts";

/** What one main node's etcd said when asked (`/v3/maintenance/status`); absent when it did not answer. */
export interface SurvivorStatus {
  /** The answering member's id (decimal, as the member list gives it). */
  memberId: string;
  isLearner: boolean;
  /** Raft index the member has applied to its store. */
  appliedIndex: number;
  /** Raft index the member knows to be committed. */
  committedIndex: number;
  term: number;
  revision: number;
}

export interface SurvivorNode {
  instanceId: string;
  ip: string;
  status?: SurvivorStatus | undefined;
  /** Its endpoint answers /health (a leader and a working quorum). */
  healthy: boolean;
}

export interface SurvivorInput {
  /** The main group's InService, running nodes. */
  nodes: SurvivorNode[];
  /** The member list as any answering member serves it (locally, without quorum); empty when none answers. */
  members: EtcdMember[];
  at: Date;
  /** The members serve TLS: the survivor's endpoint is https. */
  tls?: boolean | undefined;
}

export type SurvivorPlanCode = "HAS_QUORUM" | "NO_SURVIVOR" | "NO_NODES";

export type SurvivorPlan =
  | { kind: "none"; code: SurvivorPlanCode; reason: string }
  | {
      kind: "recover";
      /** The voter with the highest applied index: its data becomes the cluster. */
      survivor: { instanceId: string; ip: string; memberId: string; status: SurvivorStatus };
      /** Every other main node: etcd stopped, data dir moved aside, then re-added as a learner. */
      others: { instanceId: string; ip: string }[];
      /** Voters of the old cluster on no node of the group (their data is gone with their machine). */
      lost: string[];
      /** `YYYYMMDDTHHMMSSZ`: names the moved-aside data dirs. */
      stamp: string;
      endpoint: string;
    };

/** The UTC stamp that names what a run moves aside (also used by restore). */
export const stampOf = (at: Date) =>
  at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");

/**
 * Choose the member to rebuild from. Only voters count: a committed write is on a majority of
 * voters, so the voter that has applied the most holds every write any client was told succeeded
 * (etcd's `--force-new-cluster` also commits what its log holds beyond that). A learner is never
 * chosen: it may lag, and it has no say in what was committed. Ties go to the higher committed
 * index, then the higher term, then the lower instance id, so two runs choose the same member.
 */
export function planSurvivorRecovery(i: SurvivorInput): SurvivorPlan {
  if (i.nodes.length === 0)
    return { kind: "none", code: "NO_NODES", reason: "the main group has no InService nodes" };
  const ips = new Set(i.nodes.map((n) => n.ip));
  if (ips.size !== i.nodes.length) throw new InvariantError("two main nodes share a private address");

  const voters = i.members.filter((m) => !m.isLearner);
  const healthyVoters = i.nodes.filter(
    (n) => n.healthy && voters.some((v) => v.id === n.status?.memberId || peerIp(v) === n.ip),
  ).length;
  const need = Math.floor(voters.length / 2) + 1;
  if (voters.length > 0 && healthyVoters >= need)
    return {
      kind: "none",
      code: "HAS_QUORUM",
      reason: `${healthyVoters} of ${voters.length} voters are healthy: the cluster has quorum, nothing to recover`,
    };

  const voterIds = new Set(voters.map((v) => v.id));
  const candidates = i.nodes
    .filter((n): n is SurvivorNode & { status: SurvivorStatus } => !!n.status)
    .filter((n) => !n.status.isLearner && voterIds.has(n.status.memberId))
    .sort(
      (a, b) =>
        b.status.appliedIndex - a.status.appliedIndex ||
        b.status.committedIndex - a.status.committedIndex ||
        b.status.term - a.status.term ||
        a.instanceId.localeCompare(b.instanceId),
    );
  const best = candidates[0];
  if (!best)
    return {
      kind: "none",
      code: "NO_SURVIVOR",
      reason: "no voter of the cluster answers on any main node: restore from a snapshot",
    };

  const onNodes = new Set(i.nodes.flatMap((n) => [n.ip, n.status?.memberId ?? ""]));
  return {
    kind: "recover",
    survivor: {
      instanceId: best.instanceId,
      ip: best.ip,
      memberId: best.status.memberId,
      status: best.status,
    },
    others: i.nodes
      .filter((n) => n.instanceId !== best.instanceId)
      .map((n) => ({ instanceId: n.instanceId, ip: n.ip }))
      .sort((a, b) => a.instanceId.localeCompare(b.instanceId)),
    lost: voters
      .filter((v) => !onNodes.has(v.id) && !onNodes.has(peerIp(v) ?? ""))
      .map((v) => v.name || v.id),
    stamp: stampOf(i.at),
    endpoint: etcdUrls(i.tls ?? false).client(best.ip),
  };
}

const HEADER = `set -euo pipefail
ROOT="\${ROOT:-}"
export PATH="$ROOT/opt/bin:$PATH"
`;
const STAMP = /^\d{8}T\d{6}Z$/;
const asideOf = (stamp: string) => {
  if (!STAMP.test(stamp)) throw new InvariantError(`bad stamp ${stamp}`);
  return `$ROOT${ETCD_DATA_DIR}.before-recovery-${stamp}`;
};

/**
 * On every node but the survivor: stop etcd and move its data dir aside (never deleted), so that the
 * node can join the recovered cluster as a new member. Safe to run again (nothing left to move).
 */
export function setAsideScript(stamp: string): string {
  const aside = asideOf(stamp);
  return `# devcluster recovery ${stamp}: set this node's etcd data aside
${HEADER}systemctl stop ${ETCD_MEMBER_UNIT_NAME}
if [ -e "$ROOT${ETCD_DATA_DIR}" ]; then
  [ ! -e "${aside}" ] || { echo "recovery: ${aside} already exists" >&2; exit 21; }
  mv "$ROOT${ETCD_DATA_DIR}" "${aside}"
  echo "moved the old data dir to ${aside}"
else
  echo "no data dir to move"
fi
`;
}

/**
 * Sets `health` (the member's /health URL) and `tls` (curl's options) from the member's own
 * settings: a member serving TLS with client certificates is asked over https with the node's
 * certificate, which the settings name, on its HTTP listener (or on its client port when it was
 * started without one, before decision 79); a plain one over http.
 */
function healthProbe(ip: string): string {
  return `setting() { local v; v="$(grep -E "^$1=" "$ROOT${ETCD_ENV_PATH}" | tail -n 1 | cut -d= -f2-)" || true; v="\${v#\\"}"; echo "\${v%\\"}"; }
tls=()
health="${etcdClientUrl(ip)}/health"
if [ -n "$(setting ETCD_CERT_FILE)" ]; then
  tls=(--cacert "$(setting ETCD_TRUSTED_CA_FILE)" --cert "$(setting ETCD_CERT_FILE)" --key "$(setting ETCD_KEY_FILE)")
  health="${etcdTlsClientUrl(ip)}/health"
  [ -n "$(setting ETCD_LISTEN_CLIENT_HTTP_URLS)" ] && health="${etcdTlsHttpUrl(ip)}/health"
fi
`;
}

/**
 * On the survivor: stop etcd, keep a copy of its data dir, run etcd once with `--force-new-cluster`
 * (its settings file plus the flag) until it serves as a one-member cluster, stop it, and start the
 * unit as usual. The flag never reaches the settings file: a later restart with it would drop every
 * member added since. Fails without changing the data when the node holds no member data.
 */
export function forceNewClusterScript(stamp: string, ip: string): string {
  const aside = asideOf(stamp);
  return `# devcluster recovery ${stamp}: rebuild a one-member cluster from this node's data
${HEADER}[ -d "$ROOT${ETCD_DATA_DIR}/member" ] || { echo "recovery: no member data in $ROOT${ETCD_DATA_DIR}" >&2; exit 30; }
[ -f "$ROOT${ETCD_ENV_PATH}" ] || { echo "recovery: no settings in $ROOT${ETCD_ENV_PATH}" >&2; exit 31; }
${healthProbe(ip)}systemctl stop ${ETCD_MEMBER_UNIT_NAME}
if [ ! -e "${aside}" ]; then
  cp -a "$ROOT${ETCD_DATA_DIR}" "${aside}.part"
  mv "${aside}.part" "${aside}"
  echo "copied the data dir to ${aside}"
fi
mkdir -p "$ROOT/var/log"
log="$ROOT/var/log/etcd-force-new-cluster-${stamp}.log"
(
  set -a
  . "$ROOT${ETCD_ENV_PATH}"
  set +a
  exec etcd --force-new-cluster
) >"$log" 2>&1 9>&- &
pid=$!
trap 'kill -9 "$pid" 2>/dev/null || true' EXIT
ok=0
for _ in $(seq 1 1200); do
  if curl -fsS --max-time 1 \${tls[@]+"\${tls[@]}"} "$health" 2>/dev/null | grep -q '"health":"true"'; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$ok" != 1 ]; then
  echo "recovery: etcd --force-new-cluster did not become healthy; its log:" >&2
  tail -n 20 "$log" >&2
  exit 32
fi
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT
echo "forced a new cluster from this member's data"
systemctl start ${ETCD_MEMBER_UNIT_NAME}
echo started
`;
}

export const howToRecoverFromSurvivor = (cluster: string) =>
  `sls invoke -f restore --data '{"mode":"survivor","confirm":"${cluster}"}' (on a local cluster: npx devcluster local restore --survivor; see docs/OPERATIONS.md, "No quorum")`;
