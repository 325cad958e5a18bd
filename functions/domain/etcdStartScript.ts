// The node script that hands a main node its etcd start settings (run over the Commands port: SSM
// Run Command on a real node, the local runner on one machine). It writes $ROOT/etc/etcd/etcd.env,
// with ETCD_DATA_DIR expanded on the node to $ROOT/var/lib/etcd, and starts etcd-member.service;
// a running member is restarted only when its settings changed. A node that already holds member
// data is never re-bootstrapped with state `new` (etcd would ignore it anyway; we do not restart it).
import { InvariantError } from "./errors.ts";
import { etcdEnv, renderEnvFile, type EtcdStartSettings } from "./etcdEnv.ts";
import { NODE_PKI_DIR } from "./nodeTls.ts";

export const ETCD_UNIT = "etcd-member.service";
/** Expanded by the shell on the node. */
const DATA_DIR = "$ROOT/var/lib/etcd";
/** Stands for `$ROOT<PKI dir>` until the values are checked (the check refuses `$` elsewhere). */
const TLS_DIR_MARK = "__DEVCLUSTER_PKI_DIR__";

/**
 * What a joining member does with a data dir it finds (state `existing` only). A node that is not a
 * member, or whose member never started, holds data of a membership that has ended (a member removed
 * while its node lived on): etcd would start from it as the removed member and exit, every time.
 * - `move-aside`: the node is not a member (a learner is being added for it): stop etcd, move the dir.
 * - `move-aside-if-stopped`: its member is added but never started: move it only if etcd is not
 *   running (a running one may be the member starting right now).
 * Moved, never deleted: to `/var/lib/etcd.removed-<UTC stamp>`.
 */
export type PreviousData = "keep" | "move-aside" | "move-aside-if-stopped";

/**
 * `tls`: the member serves client and peer TLS with required client certificates, from the node's
 * PKI directory (the launch's certificate step fills it); the script refuses to start it without a
 * certificate there.
 */
export function etcdStartScript(
  s: Omit<EtcdStartSettings, "dataDir" | "tlsDir"> & { tls?: boolean },
  previousData: PreviousData = "keep",
): string {
  if (previousData !== "keep" && s.state !== "existing")
    throw new InvariantError("only a joining member moves a previous data dir aside");
  const { tls, ...settings } = s;
  const env = etcdEnv({ ...settings, dataDir: DATA_DIR, tlsDir: tls ? TLS_DIR_MARK : undefined });
  for (const [k, v] of Object.entries(env)) {
    // The file is written by an unquoted heredoc so $ROOT expands: nothing else may expand.
    if (k !== "ETCD_DATA_DIR" && !/^[A-Za-z0-9=:/.,_@-]*$/.test(v))
      throw new InvariantError(`unsafe value for ${k}`);
  }
  const body = renderEnvFile(env).trimEnd().replaceAll(TLS_DIR_MARK, `$ROOT${NODE_PKI_DIR}`);
  return [
    "set -euo pipefail",
    // Serialise concurrent deliveries of the same settings (a repeated bootstrap) on one node.
    'mkdir -p "$ROOT/run"',
    'exec 9>"$ROOT/run/etcd-settings.lock"',
    // (fd 9 is closed for systemctl so that no service started from here can inherit the lock.)
    "flock 9",
    'ENV_DIR="$ROOT/etc/etcd"',
    'ENV_FILE="$ENV_DIR/etcd.env"',
    ...(tls
      ? [
          `for f in ca.crt node.crt node.key; do [ -s "$ROOT${NODE_PKI_DIR}/$f" ] || { echo "etcd: no $ROOT${NODE_PKI_DIR}/$f: the node has no certificate yet" >&2; exit 40; }; done`,
        ]
      : []),
    ...(previousData === "keep" ? [] : moveAside(previousData)),
    'mkdir -p "$ENV_DIR" "$ROOT/var/lib/etcd"',
    'chmod 700 "$ROOT/var/lib/etcd"',
    `if [ "${s.state}" = new ] && [ -d "$ROOT/var/lib/etcd/member" ] && [ -f "$ENV_FILE" ]; then`,
    '  echo "etcd: member data exists; keeping current settings"',
    `  systemctl enable --now ${ETCD_UNIT} 9>&-`,
    "  exit 0",
    "fi",
    'TMP="$(mktemp "$ENV_DIR/.etcd.env.XXXXXX")"',
    'cat >"$TMP" <<ETCD_ENV_END',
    body,
    "ETCD_ENV_END",
    'chmod 644 "$TMP"',
    "changed=1",
    'if [ -f "$ENV_FILE" ] && cmp -s "$TMP" "$ENV_FILE"; then changed=0; fi',
    'mv -f "$TMP" "$ENV_FILE"',
    `systemctl enable ${ETCD_UNIT} 9>&-`,
    `if [ "$changed" = 1 ] && systemctl is-active -q ${ETCD_UNIT} 9>&-; then`,
    `  systemctl restart ${ETCD_UNIT} 9>&-`,
    '  echo "etcd: settings changed; restarted"',
    "else",
    `  systemctl start ${ETCD_UNIT} 9>&-`,
    '  echo "etcd: started (settings changed: $changed)"',
    "fi",
    "",
  ].join("\n");
}

function moveAside(mode: Exclude<PreviousData, "keep">): string[] {
  const condition =
    mode === "move-aside"
      ? '[ -d "$ROOT/var/lib/etcd/member" ]'
      : `[ -d "$ROOT/var/lib/etcd/member" ] && ! systemctl is-active -q ${ETCD_UNIT} 9>&-`;
  return [
    `if ${condition}; then`,
    `  systemctl stop ${ETCD_UNIT} 9>&-`,
    '  aside="$ROOT/var/lib/etcd.removed-$(date -u +%Y%m%dT%H%M%SZ)"',
    '  if [ -e "$aside" ]; then n=1; while [ -e "$aside.$n" ]; do n=$((n + 1)); done; aside="$aside.$n"; fi',
    '  mv "$ROOT/var/lib/etcd" "$aside"',
    '  echo "etcd: moved the data dir of an ended membership to ${aside#"$ROOT"}"',
    "fi",
  ];
}
