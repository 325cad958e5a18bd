#!/bin/sh
# etcd-amb: the node's local etcd endpoint. Its arguments are the listen address and the discovery
# domain (the unit's); ETCD_TLS says how the members serve:
# - "true": our TLS forwarder (src/main.ts), which carries each plain connection on the node's
#   loopback to a member over TLS with the node's certificate (the node's PKI directory, mounted
#   read-only), so the node's programs, which run as nobody and never read the key, act in etcd as
#   the node and get only its role (docs/ARCHITECTURE.md decision 74);
# - "false": etcd's TCP gateway (the members are plain http; there is no identity to present).
#   Its discovery records are not pre-checked (--insecure-discovery): etcd's check drops every
#   record that is not https, which would leave a plain cluster's gateway with no member.
set -eu
pki=/etc/devcluster/pki
case "${ETCD_TLS:-}" in
  true)
    # A launching node gets its certificate beside its units push (docs/ARCHITECTURE.md decision
    # 75): wait for the files (ETCD_AMB_CERT_WAIT seconds, 120 by default) before serving anything.
    wait="${ETCD_AMB_CERT_WAIT:-120}"
    case "$wait" in
      '' | *[!0-9]*) echo "etcd-amb: ETCD_AMB_CERT_WAIT must be a whole number of seconds (got '$wait')" >&2; exit 2 ;;
    esac
    deadline=$(($(date +%s) + wait))
    said=""
    while :; do
      missing=""
      for f in ca.crt node.crt node.key; do
        [ -r "$pki/$f" ] || { missing="$pki/$f"; break; }
      done
      [ -z "$missing" ] && break
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "etcd-amb: ETCD_TLS=true but $missing is missing or unreadable (waited ${wait} s)" >&2
        exit 2
      fi
      [ -n "$said" ] || { echo "etcd-amb: waiting for the node's certificate ($missing)" >&2; said=1; }
      sleep 0.1
    done
    [ -z "$said" ] || echo "etcd-amb: the node's certificate is there" >&2
    exec node /opt/devcluster/etcd-amb/main.mjs "$@" ;;
  false)
    exec /usr/bin/etcd gateway start --insecure-discovery --retry-delay=5s "$@" ;;
  *)
    echo "etcd-amb: ETCD_TLS must be true or false (got '${ETCD_TLS:-}')" >&2; exit 2 ;;
esac
