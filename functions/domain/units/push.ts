// Pushing placed units to nodes (pure): which nodes need what, and the bash script that applies
// it on a node (SSM Run Command on AWS, the local runner locally). Every path is under $ROOT.
import { InvalidInputError } from "../errors.ts";
import type { CommandRequest, CommandResult } from "../commands.ts";
import type { Catalog } from "./catalog.ts";
import { parseUnitName, templateOf } from "./names.ts";
import { unitsByNode, type Placement } from "./placement.ts";

/** A volume a node mounts before it starts the unit (the volume is attached to that node). */
export interface NodeMount {
  unit: string;
  volumeId: string;
  /** The device name it was attached as (`/dev/xvdf`); Nitro nodes show it by volume id instead. */
  device: string;
  /** The mount path on the node (specifiers expanded). */
  path: string;
}

/** What one node must end up with. */
export interface NodePush {
  nodeId: string;
  /** Every unit placed on the node (the complete desired set, not a delta). */
  units: string[];
  /** The files those units need (templates for instances). */
  files: string[];
  /** Units the previous placement had there and the new one does not (stopped even if the node forgot them). */
  stop: string[];
  /** Units new on the node (the previous placement did not have them there). */
  start: string[];
  /** Files whose content changed since the last push (their running units restart). */
  changed: string[];
  /** Why this node is pushed: "placement" (its set changed), "content" (a file changed), "forced". */
  reasons: string[];
  /** Volumes to mount before starting their units (each attached to this node). */
  mounts?: NodeMount[];
}

/** The stored placement: where units run and which file versions were pushed. */
export interface PlacementState {
  placement: Placement;
  /** catalog file name -> content hash pushed with this placement. */
  files: Record<string, string>;
}

export const RESULT_MARK = "DEVCLUSTER_UNITS";

export const fileForUnit = (unit: string) => {
  const n = parseUnitName(unit);
  if (!n) throw new InvalidInputError("invalid unit name", [unit]);
  return templateOf(n);
};

export function catalogHashes(catalog: Catalog): Record<string, string> {
  return Object.fromEntries([...catalog.files.values()].map((f) => [f.name, f.hash]));
}

/**
 * Per-node desired unit sets for the nodes that need a push: those whose set changed, those running
 * a unit whose file changed since `old` was pushed, and (with `force`) every node listed.
 * `nodes` lists the nodes that can receive commands (the healthy ones); others are skipped.
 */
export function planPush(
  old: PlacementState,
  next: Placement,
  catalog: Catalog,
  opts: { nodes: string[]; force?: boolean | string[] },
): NodePush[] {
  const before = unitsByNode(old.placement);
  const after = unitsByNode(next);
  const forced = new Set(opts.force === true ? opts.nodes : Array.isArray(opts.force) ? opts.force : []);
  const out: NodePush[] = [];
  for (const nodeId of [...new Set(opts.nodes)].sort()) {
    const units = after.get(nodeId) ?? [];
    const prev = before.get(nodeId) ?? [];
    const files = [...new Set(units.map(fileForUnit))].sort();
    for (const f of files)
      if (!catalog.files.has(f))
        throw new InvalidInputError("placed unit has no catalog file", [`${f} (node ${nodeId})`]);
    const reasons: string[] = [];
    const changed = files.filter((f) => old.files[f] !== catalog.files.get(f)!.hash);
    if (units.join() !== prev.join()) reasons.push("placement");
    if (changed.length) reasons.push("content");
    if (forced.has(nodeId)) reasons.push("forced");
    if (!reasons.length) continue;
    out.push({
      nodeId,
      units,
      files,
      stop: prev.filter((u) => !units.includes(u)),
      start: units.filter((u) => !prev.includes(u)),
      changed,
      reasons,
    });
  }
  return out;
}

const HEREDOC = "DEVCLUSTER_UNIT_EOF";
/** String.raw for bash: `\${` in the template stands for a literal `${`. */
const sh = (s: TemplateStringsArray, ...v: unknown[]) => String.raw(s, ...v).replace(/\\\$\{/g, "${");
const SAFE_ID = /^[A-Za-z0-9_.:-]+$/;
/** What a mount record may hold: unit names, volume ids, device names and checked mount paths. */
const MOUNT_FIELD = /^[A-Za-z0-9_.:@%/\\-]+$/;
const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The node script for `pushes` (one script serves every node of the push: it picks its own part
 * by instance id). Idempotent: files are rewritten only when they differ, started units stay up.
 * Prints one line `DEVCLUSTER_UNITS {json}` and exits non-zero when anything failed.
 */
export function renderPushScript(pushes: NodePush[], catalog: Catalog): string {
  const fileNames = [...new Set(pushes.flatMap((p) => p.files))].sort();
  const noStart = [...catalog.files.values()].filter((f) => !f.manifest.start).map((f) => f.name);
  const out: string[] = [];
  out.push(`# devcluster units push: ${pushes.length} node(s), ${fileNames.length} file(s)`);
  out.push(sh`set +e
set -u
ROOT="\${ROOT:-}"
UNIT_DIR="$ROOT/etc/systemd/system"
STATE_DIR="$ROOT/var/lib/devcluster/units"
SIDECAR_DIR="$ROOT/etc/devcluster/sidecars"
id="\${INSTANCE_ID:-\${AWS_SSM_INSTANCE_ID:-}}"
if [ -z "$id" ]; then
  tok="$(curl -fsS -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token 2>/dev/null)"
  id="$(curl -fsS -m 2 -H "X-aws-ec2-metadata-token: $tok" http://169.254.169.254/latest/meta-data/instance-id 2>/dev/null)"
fi
jarr() { local s="" x; for x in "$@"; do x="\${x//\\/\\\\}"; s="$s\${s:+,}\"$x\""; done; printf '[%s]' "$s"; }
has() { local x="$1"; shift; local y; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }
file_of() { local u="$1"; case "$u" in *@*.*) printf '%s@.%s' "\${u%%@*}" "\${u##*.}" ;; *) printf '%s' "$u" ;; esac; }
# An attached EBS volume's block device: Nitro instances name it by volume id (the EC2 device name
# is only a hint there); it may appear a moment after EC2 reports the attachment.
vol_dev() {
  local id="\${1//-/}" name="$2" i d
  for i in $(seq 1 60); do
    for d in "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$id" "$name" "/dev/sd\${name#/dev/xvd}"; do
      [ -e "$ROOT$d" ] && { readlink -f "$ROOT$d"; return 0; }
    done
    sleep 1
  done
  return 1
}
# Mount volume $1 (attached as $2) at $3. A new volume gets a file system; a volume that has one is
# never formatted again: mkfs runs only when blkid reports that it found nothing (exit 2).
vol_mount() {
  local mp="$ROOT$3" dev rc=0
  mountpoint -q "$mp" && return 0
  dev="$(vol_dev "$1" "$2")" || { echo "volume $1: no device $2 on this node" >&2; return 1; }
  blkid -p "$dev" >/dev/null 2>&1 || rc=$?
  if [ $rc = 2 ]; then mkfs.ext4 -q "$dev" || { echo "volume $1: mkfs failed on $dev" >&2; return 1; }
  elif [ $rc != 0 ]; then echo "volume $1: blkid could not read $dev (exit $rc); not formatting it" >&2; return 1; fi
  mkdir -p "$mp" && mount "$dev" "$mp"
}
vol_umount() { mountpoint -q "$ROOT$1" || return 0; umount "$ROOT$1"; }`);
  fileNames.forEach((f, i) => {
    const text = catalog.files.get(f)?.rendered;
    if (text === undefined) throw new InvalidInputError("no catalog file", [f]);
    if (text.split("\n").includes(HEREDOC))
      throw new InvalidInputError("unit file contains the heredoc marker", [f]);
    out.push(
      `unit_file_${i}() { cat <<'${HEREDOC}'\n${text.endsWith("\n") ? text : text + "\n"}${HEREDOC}\n}`,
    );
  });
  out.push(`content_of() {\n  case "$1" in`);
  fileNames.forEach((f, i) => out.push(`    ${shq(f)}) unit_file_${i} ;;`));
  out.push(`    *) return 1 ;;\n  esac\n}`);
  // The sidecars' settings, one file per instance (`presence@.service` reads `sidecars/%i.env`).
  const presence = fileNames.map((f) => catalog.files.get(f)!.manifest.sidecarEnv);
  presence.forEach((env, i) => {
    if (env === undefined) return;
    if (env.split("\n").includes(HEREDOC))
      throw new InvalidInputError("sidecar settings contain the heredoc marker", [fileNames[i]!]);
    out.push(`sidecar_env_${i}() { cat <<'${HEREDOC}'\n${env}${HEREDOC}\n}`);
  });
  out.push(`sidecar_env_of() {\n  case "$1" in`);
  presence.forEach(
    (env, i) => env !== undefined && out.push(`    ${shq(fileNames[i]!)}) sidecar_env_${i} ;;`),
  );
  out.push(`    *) return 1 ;;\n  esac\n}`);
  out.push(`nostart=(${noStart.map(shq).join(" ")})`);
  // Units that read their own settings file (the API proxy's routes): a change there is theirs too.
  const readsSettings = fileNames.filter((f) =>
    /^EnvironmentFile=-?\S*\/sidecars\/%N\.env$/m.test(catalog.files.get(f)!.rendered),
  );
  out.push(`reads_settings=(${readsSettings.map(shq).join(" ")})`);
  out.push(`case "$id" in`);
  for (const p of pushes) {
    if (!SAFE_ID.test(p.nodeId)) throw new InvalidInputError("invalid node id", [p.nodeId]);
    const mounts = (p.mounts ?? []).map((m) => {
      for (const v of [m.unit, m.volumeId, m.device, m.path])
        if (!MOUNT_FIELD.test(v)) throw new InvalidInputError("invalid volume mount", [`${p.nodeId}: ${v}`]);
      return shq(`${m.unit}|${m.volumeId}|${m.device}|${m.path}`);
    });
    out.push(
      `  ${shq(p.nodeId)}) units=(${p.units.map(shq).join(" ")}); files=(${p.files.map(shq).join(" ")}); extra_stop=(${p.stop.map(shq).join(" ")}); mounts=(${mounts.join(" ")}) ;;`,
    );
  }
  out.push(sh`  *) printf '%s {"instanceId":"%s","ok":false,"error":"this push has nothing for this node"}\n' ${RESULT_MARK} "$id"; exit 3 ;;
esac
mkdir -p "$UNIT_DIR" "$STATE_DIR" || { echo "cannot create $UNIT_DIR" >&2; exit 1; }
prev_units=(); prev_files=()
# Blank lines are no units (an empty set was once recorded as one blank line).
[ -f "$STATE_DIR/units" ] && mapfile -t prev_units < <(grep -v '^$' "$STATE_DIR/units")
[ -f "$STATE_DIR/files" ] && mapfile -t prev_files < <(grep -v '^$' "$STATE_DIR/files")
prev_mounts=()
[ -f "$STATE_DIR/mounts" ] && mapfile -t prev_mounts < <(grep -v '^$' "$STATE_DIR/mounts")
written=(); started=(); restarted=(); stopped=(); removed=(); failed=()
for f in \${files[@]+"\${files[@]}"}; do
  tmp="$UNIT_DIR/.$f.devcluster-new"
  if ! content_of "$f" >"$tmp"; then failed+=("$f"); rm -f "$tmp"; continue; fi
  if [ -f "$UNIT_DIR/$f" ] && cmp -s "$tmp" "$UNIT_DIR/$f"; then rm -f "$tmp"
  elif mv -f "$tmp" "$UNIT_DIR/$f"; then written+=("$f")
  else failed+=("$f"); fi
done
sidecar_changed=()
for u in \${units[@]+"\${units[@]}"}; do
  tmp="$SIDECAR_DIR/.\${u%.*}.env.devcluster-new"
  sidecar_env_of "$(file_of "$u")" >/dev/null 2>&1 || continue
  mkdir -p "$SIDECAR_DIR" && sidecar_env_of "$(file_of "$u")" >"$tmp" || { failed+=("$u.env"); rm -f "$tmp"; continue; }
  if [ -f "$SIDECAR_DIR/\${u%.*}.env" ] && cmp -s "$tmp" "$SIDECAR_DIR/\${u%.*}.env"; then rm -f "$tmp"
  elif mv -f "$tmp" "$SIDECAR_DIR/\${u%.*}.env"; then sidecar_changed+=("$u")
  else failed+=("$u.env"); fi
done
for u in \${prev_units[@]+"\${prev_units[@]}"} \${extra_stop[@]+"\${extra_stop[@]}"}; do
  has "$u" \${units[@]+"\${units[@]}"} && continue
  has "$u" \${stopped[@]+"\${stopped[@]}"} && continue
  if ! has "$(file_of "$u")" \${nostart[@]+"\${nostart[@]}"}; then
    systemctl stop -- "$u" >/dev/null 2>&1
    systemctl disable -- "$u" >/dev/null 2>&1
  fi
  rm -f "$SIDECAR_DIR/\${u%.*}.env"
  stopped+=("$u")
  # Its volumes are unmounted once it stopped: only then may they be detached from this node.
  for m in \${prev_mounts[@]+"\${prev_mounts[@]}"}; do
    IFS='|' read -r mu mid mdev mpath <<<"$m"
    [ "$mu" = "$u" ] || continue
    # Never from under a unit still running (its stop failed): the volume stays, and so does its claim.
    if systemctl is-active --quiet -- "$u"; then failed+=("umount:$mpath"); continue; fi
    vol_umount "$mpath" || failed+=("umount:$mpath")
  done
done
for f in \${prev_files[@]+"\${prev_files[@]}"}; do
  has "$f" \${files[@]+"\${files[@]}"} && continue
  if rm -f "$UNIT_DIR/$f"; then removed+=("$f"); else failed+=("$f"); fi
done
systemctl daemon-reload || failed+=("daemon-reload")
for u in \${units[@]+"\${units[@]}"}; do
  f="$(file_of "$u")"
  has "$f" \${nostart[@]+"\${nostart[@]}"} && continue
  # Its volumes first (attached to this node by now): it never starts on the node's own disk.
  unmounted=false
  for m in \${mounts[@]+"\${mounts[@]}"}; do
    IFS='|' read -r mu mid mdev mpath <<<"$m"
    [ "$mu" = "$u" ] || continue
    vol_mount "$mid" "$mdev" "$mpath" || unmounted=true
  done
  [ $unmounted = false ] || { failed+=("$u"); continue; }
  systemctl enable -- "$u" >/dev/null 2>&1 || { failed+=("$u"); continue; }
  if has "$f" \${written[@]+"\${written[@]}"} && has "$u" \${prev_units[@]+"\${prev_units[@]}"}; then
    if systemctl restart -- "$u"; then restarted+=("$u"); else failed+=("$u"); fi
  elif systemctl is-active --quiet -- "$u"; then :
  elif systemctl start -- "$u"; then started+=("$u")
  else failed+=("$u"); fi
done
# A running instance whose sidecar settings changed: its sidecars re-read them, and so does the
# unit itself when it reads that file (its unit file unchanged, nothing above restarted it).
for u in \${sidecar_changed[@]+"\${sidecar_changed[@]}"}; do
  has "$u" \${prev_units[@]+"\${prev_units[@]}"} || continue
  if has "$(file_of "$u")" \${reads_settings[@]+"\${reads_settings[@]}"}; then
    # Its sidecars (BindsTo= it) restart with it, as systemd restarts units bound to a restarted one.
    has "$u" \${restarted[@]+"\${restarted[@]}"} && continue
    has "$u" \${started[@]+"\${started[@]}"} && continue
    if systemctl try-restart -- "$u"; then restarted+=("$u"); else failed+=("$u"); fi
    continue
  fi
  for sc in presence ambassador; do
    has "$sc@\${u%.*}.service" \${units[@]+"\${units[@]}"} || continue
    systemctl try-restart -- "$sc@\${u%.*}.service" >/dev/null 2>&1 || failed+=("$sc@\${u%.*}.service")
  done
done
{ [ \${#units[@]} -eq 0 ] || printf '%s\n' "\${units[@]}"; } >"$STATE_DIR/units.new" && mv -f "$STATE_DIR/units.new" "$STATE_DIR/units" || failed+=("state")
{ [ \${#files[@]} -eq 0 ] || printf '%s\n' "\${files[@]}"; } >"$STATE_DIR/files.new" && mv -f "$STATE_DIR/files.new" "$STATE_DIR/files" || failed+=("state")
# What stays mounted here: the placed units' volumes, and any a failed unmount left behind.
now_mounts=(); mounted=()
for m in \${mounts[@]+"\${mounts[@]}"} \${prev_mounts[@]+"\${prev_mounts[@]}"}; do
  has "$m" \${now_mounts[@]+"\${now_mounts[@]}"} && continue
  IFS='|' read -r mu mid mdev mpath <<<"$m"
  if mountpoint -q "$ROOT$mpath"; then now_mounts+=("$m"); has "$mid" \${mounted[@]+"\${mounted[@]}"} || mounted+=("$mid"); fi
done
{ [ \${#now_mounts[@]} -eq 0 ] || printf '%s\n' "\${now_mounts[@]}"; } >"$STATE_DIR/mounts.new" && mv -f "$STATE_DIR/mounts.new" "$STATE_DIR/mounts" || failed+=("state")
ok=true; [ \${#failed[@]} -eq 0 ] || ok=false
printf '%s {"instanceId":"%s","ok":%s,"units":%s,"written":%s,"started":%s,"restarted":%s,"stopped":%s,"removed":%s,"failed":%s,"mounted":%s}\n' \
  ${RESULT_MARK} "$id" "$ok" "$(jarr \${units[@]+"\${units[@]}"})" "$(jarr \${written[@]+"\${written[@]}"})" "$(jarr \${started[@]+"\${started[@]}"})" \
  "$(jarr \${restarted[@]+"\${restarted[@]}"})" "$(jarr \${stopped[@]+"\${stopped[@]}"})" "$(jarr \${removed[@]+"\${removed[@]}"})" "$(jarr \${failed[@]+"\${failed[@]}"})" "$(jarr \${mounted[@]+"\${mounted[@]}"})"
[ "$ok" = true ]`);
  return out.join("\n") + "\n";
}

/** SSM keeps parameters small; stay well under its limits and split bigger pushes. */
export const MAX_SCRIPT_BYTES = 48_000;

/** Command requests for a push: one per group of nodes whose combined script fits. */
export function pushRequests(
  pushes: NodePush[],
  catalog: Catalog,
  opts: { comment?: string; timeoutSeconds?: number; maxScriptBytes?: number } = {},
): CommandRequest[] {
  const max = opts.maxScriptBytes ?? MAX_SCRIPT_BYTES;
  const reqs: CommandRequest[] = [];
  const make = (group: NodePush[]): CommandRequest => ({
    instanceIds: group.map((p) => p.nodeId),
    script: renderPushScript(group, catalog),
    comment: opts.comment ?? "devcluster units push",
    timeoutSeconds: opts.timeoutSeconds ?? 300,
  });
  let group: NodePush[] = [];
  for (const p of pushes) {
    const tryGroup = [...group, p];
    if (group.length && Buffer.byteLength(renderPushScript(tryGroup, catalog)) > max) {
      reqs.push(make(group));
      group = [p];
    } else group = tryGroup;
  }
  if (group.length) reqs.push(make(group));
  for (const r of reqs) {
    if (Buffer.byteLength(r.script) > max)
      throw new InvalidInputError("push script too large for one command", [
        `${r.instanceIds.join(",")}: ${Buffer.byteLength(r.script)} bytes`,
      ]);
  }
  return reqs;
}

export interface NodePushResult {
  instanceId: string;
  ok: boolean;
  status: CommandResult["status"];
  units?: string[];
  written?: string[];
  started?: string[];
  restarted?: string[];
  stopped?: string[];
  removed?: string[];
  failed?: string[];
  /** Volume ids mounted on the node after the push. */
  mounted?: string[];
  error?: string;
}

/** Read each node's result line (falling back to the command status when the line is missing). */
export function parsePushResults(results: CommandResult[]): NodePushResult[] {
  return results.map((r) => {
    const line = r.stdout
      .split("\n")
      .reverse()
      .find((l) => l.startsWith(RESULT_MARK + " "));
    if (line) {
      try {
        const j = JSON.parse(line.slice(RESULT_MARK.length + 1)) as Omit<NodePushResult, "status">;
        return { ...j, instanceId: r.instanceId, status: r.status, ok: j.ok && r.status === "Success" };
      } catch {
        // fall through
      }
    }
    return {
      instanceId: r.instanceId,
      ok: false,
      status: r.status,
      error: (r.stderr || r.stdout).trim().slice(-500) || `command ${r.status}`,
    };
  });
}
