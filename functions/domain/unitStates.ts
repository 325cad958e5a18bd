// Unit states a node publishes to etcd (as fleet's agents did): the program first boot installs on
// every node, its unit, the key it writes and the parser of what it writes. Pure.
import { ETCD_CLIENT_PORT } from "./model.ts";
import { NODE_PKI_DIR } from "./nodeTls.ts";
import { UNIT_STATES_PREFIX } from "./etcdKeys.ts";

export const UNIT_STATES_UNIT_NAME = "devcluster-unit-states.service";
export const UNIT_STATES_PROGRAM_PATH = "/opt/bin/devcluster-unit-states";
/** How often a node looks at its units; a changed state is in etcd at most this long after. */
export const UNIT_STATES_INTERVAL_SECONDS = 10;
/** The record's lease: a node that stops publishing (gone, hung) loses its record this long after. */
export const UNIT_STATES_TTL_SECONDS = 35;

/**
 * The node's program: every interval, `systemctl is-active` over the units the last push left on
 * the node and the units it has enabled, one `<unit> <state>[ enabled]` line each (the format
 * `parseUnitStates` reads); the record is written only when it changed, on a lease kept alive at
 * each look, so a node that stops publishing disappears from the view instead of showing stale
 * states. It talks to etcd with etcdctl (gRPC; first boot installs it on every node with etcd):
 * the member on a main node (its own client URL from etcd.env, with the node's certificate when
 * https), etcd-amb on 127.0.0.1 elsewhere (`LOOPBACK` names the node's loopback address where
 * nodes share one machine's), which holds the node's certificate itself when the members serve TLS:
 * its gRPC proxy serves no JSON gateway, so gRPC is what works on every node.
 */
export const UNIT_STATES_PROGRAM = `#!/bin/bash
# devcluster: publish this node's unit states to etcd (${UNIT_STATES_PREFIX}<instance id>/units).
set -uo pipefail
ROOT="\${ROOT:-}"
INTERVAL=\${UNIT_STATES_INTERVAL:-${UNIT_STATES_INTERVAL_SECONDS}}
TTL=${UNIT_STATES_TTL_SECONDS}
setting() { sed -n "s/^$1=//p" "$2" 2>/dev/null | tail -n 1 | tr -d '"'; }
endpoint() {
  local url
  url="$(setting ETCD_ADVERTISE_CLIENT_URLS "$ROOT/etc/etcd/etcd.env")"
  [ -n "$url" ] && { echo "\${url%%,*}"; return; }
  local lo; lo="$(setting LOOPBACK "$ROOT/etc/devcluster/node.env")"
  echo "http://\${lo:-127.0.0.1}:${ETCD_CLIENT_PORT}"
}
ctl() { # etcdctl against $url, with the node's certificate when it is https
  local tls=()
  [[ "$url" == https://* ]] && tls=(--cacert "$ROOT${NODE_PKI_DIR}/ca.crt" --cert "$ROOT${NODE_PKI_DIR}/node.crt" --key "$ROOT${NODE_PKI_DIR}/node.key")
  ETCDCTL_API=3 "$ROOT/opt/bin/etcdctl" --endpoints="$url" --dial-timeout=3s --command-timeout=5s \
    \${tls[@]+"\${tls[@]}"} "$@"
}
states() {
  local units=() enabled=() f u i e
  [ -f "$ROOT/var/lib/devcluster/units/units" ] && mapfile -t units < <(grep -v '^$' "$ROOT/var/lib/devcluster/units/units")
  for f in "$ROOT/etc/systemd/system/multi-user.target.wants/"*; do [ -e "$f" ] && enabled+=("\${f##*/}"); done
  mapfile -t units < <(printf '%s\\n' \${units[@]+"\${units[@]}"} \${enabled[@]+"\${enabled[@]}"} | grep -v '^$' | sort -u)
  [ \${#units[@]} -gt 0 ] || return 0
  local states=() on=" \${enabled[*]-} "
  mapfile -t states < <(systemctl is-active -- "\${units[@]}" 2>/dev/null)
  for i in "\${!units[@]}"; do
    u="\${units[$i]}"; e=""
    [[ "$on" == *" $u "* ]] && e=" enabled"
    printf '%s %s%s\\n' "$u" "\${states[$i]:-unknown}" "$e"
  done
}
id="$(setting INSTANCE_ID "$ROOT/etc/devcluster/node.env")"
[ -n "$id" ] || { echo "unit states: no INSTANCE_ID in $ROOT/etc/devcluster/node.env" >&2; exit 2; }
key="${UNIT_STATES_PREFIX}$id/units"
lease=""; last=""; url=""
# A stopped node program takes its record with it (a stopped node's units are not running).
trap '[ -n "$lease" ] && ctl lease revoke "$lease" >/dev/null 2>&1; exit 0' TERM INT
while :; do
  url="$(endpoint)" # read at each look: a main node's member may change its URL (TLS)
  now="$(states)"
  if [ -n "$lease" ] && ! ctl lease keep-alive --once "$lease" 2>/dev/null | grep -q "TTL("; then
    lease="" # expired (etcd unreachable for longer than the lease): a new lease and a new record
  fi
  if [ -z "$lease" ]; then
    lease="$(ctl lease grant "$TTL" 2>/dev/null | sed -n 's/^lease \\([0-9a-f]*\\) granted.*/\\1/p')"
    last=""
  fi
  if [ -n "$lease" ] && [ "$now" != "$last" ]; then
    if ctl put --lease="$lease" -- "$key" "$now" >/dev/null; then
      last="$now"
    else
      lease=""
    fi
  fi
  sleep "$INTERVAL" & wait $!
done
`;

/** The program's unit: on every node, from first boot, restarted whenever it stops. */
export const UNIT_STATES_UNIT = `[Unit]
Description=Publish this node's unit states to etcd (devcluster)
Wants=network-online.target
After=network-online.target

[Service]
EnvironmentFile=-/etc/devcluster/node.env
ExecStart=${UNIT_STATES_PROGRAM_PATH}
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
`;

export interface PublishedUnitState {
  unit: string;
  state: string;
  /** The node has it enabled (listed whether or not the placement names it). */
  enabled: boolean;
}

/** `<unit> <state>[ enabled]` lines (what the program publishes and `unitStatesScript` prints). */
export function parsePublishedStates(text: string): PublishedUnitState[] {
  const out: PublishedUnitState[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+) (\S+)( enabled)?$/.exec(line.trim());
    if (m) out.push({ unit: m[1]!, state: m[2]!, enabled: Boolean(m[3]) });
  }
  return out;
}
