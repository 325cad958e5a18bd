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
    for f in ca.crt node.crt node.key; do
      [ -r "$pki/$f" ] || { echo "etcd-amb: ETCD_TLS=true but $pki/$f is missing or unreadable" >&2; exit 2; }
    done
    exec node /opt/devcluster/etcd-amb/main.mjs "$@" ;;
  false)
    exec /usr/bin/etcd gateway start --insecure-discovery --retry-delay=5s "$@" ;;
  *)
    echo "etcd-amb: ETCD_TLS must be true or false (got '${ETCD_TLS:-}')" >&2; exit 2 ;;
esac
