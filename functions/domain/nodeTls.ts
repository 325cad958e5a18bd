// Node scripts for a node's etcd certificate: the node makes its own key and a CSR (the key never
// leaves it), then installs what the control plane signed. Both are idempotent under retries.
import { InvariantError } from "./errors.ts";
import { assertPlainPem, certificatePublicKey } from "./pki.ts";

/** Where a node keeps its etcd TLS files; containers mount this directory read-only. */
export const NODE_PKI_DIR = "/etc/devcluster/pki";
/** What the CSR script prints instead of a CSR when the node's certificate is current. */
export const CERT_CURRENT = "DEVCLUSTER_CERT_CURRENT";
/** A certificate with less than this left is renewed at the next launch or reconcile (seconds). */
export const RENEW_BEFORE_SECONDS = 30 * 86_400;

const ipv4 = (ip: string) => {
  if (!/^(\d{1,3}\.){3}\d{1,3}$/.test(ip)) throw new InvariantError(`not an IPv4 address: ${ip}`);
  return ip;
};
const instanceId = (id: string) => {
  if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new InvariantError(`not an instance id: ${id}`);
  return id;
};

/**
 * Shell lines splitting `$req`, what `openssl req -pubkey` printed (the key's public half, then the
 * CSR), with the shell's builtins: the public half into `$d/<pubFile>`, the CSR to stdout or, given
 * `csrFile`, into `$d/<csrFile>`.
 */
const splitPubAndCsr = (
  pubFile: string,
  csrFile?: string,
) => `pub="\${req%%-----BEGIN CERTIFICATE REQUEST-----*}"
printf '%s\\n' "\${pub%$'\\n'}" >"$d/${pubFile}"
printf '%s\\n' "\${req#"$pub"}"${csrFile ? ` >"$d/${csrFile}"` : ""}`;

/**
 * Where the first boot leaves the CSR for its key. It stays valid while that key does: removed when
 * a rotation replaces the key, when the CSR step makes a key itself, and when a certificate signed
 * from it turns out not to be for the key.
 */
export const BOOT_CSR = "node.csr";

/**
 * First boot (every node, before the control plane can reach it): makes the node's P-256 key, its
 * public half (`node.pub`) and a CSR for `CN=$INSTANCE_ID` (`node.csr`), so the launch's CSR step
 * only prints that CSR: no openssl on the launch's path (decision 80). The certificate's names come
 * from the control plane (the node's addresses and DNS name, signNodeCsr), not from the CSR. The key
 * is moved into place last, so a boot cut short leaves no key without its CSR; a node that holds a
 * key keeps it (a reboot changes nothing). `ROOT` is the node's root (empty on an instance).
 */
export const BOOT_KEY_SCRIPT = `#!/bin/bash
set -euo pipefail
[[ "\${INSTANCE_ID:-}" =~ ^i-[0-9a-f]{8,17}$ ]] || { echo "INSTANCE_ID is not an instance id: '\${INSTANCE_ID:-}'" >&2; exit 2; }
d="\${ROOT:-}${NODE_PKI_DIR}"
[ -s "$d/node.key" ] && exit 0
install -d -m 0755 "$d"
req="$(umask 077 && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/node.key.boot" \
  -pubkey -subj "/CN=$INSTANCE_ID" 2>/dev/null)"
${splitPubAndCsr("node.pub.boot", `${BOOT_CSR}.boot`)}
mv "$d/node.pub.boot" "$d/node.pub"
mv "$d/${BOOT_CSR}.boot" "$d/${BOOT_CSR}"
mv "$d/node.key.boot" "$d/node.key"
`;

/**
 * Prints `CERT_CURRENT` when the node already holds a key and a certificate from this CA that
 * names every address and lives long enough; otherwise keeps (or makes, first time) its P-256 key
 * and prints a CSR for `CN=<instance id>` naming its addresses. The key is written with umask 077
 * and never printed. `rotate`: a new key whatever the node holds, made beside the current one
 * (`node.key.next`), which the install puts in place with its certificate; until then the node
 * keeps working with what it had.
 */
export function renderCsrScript(
  node: { instanceId: string; ips: string[] },
  caPem: string,
  opts: { rotate?: boolean } = {},
): string {
  const id = instanceId(node.instanceId);
  const ips = node.ips.map(ipv4);
  if (!ips.length) throw new InvariantError("a node certificate needs an address");
  const san = ips.map((ip) => `IP:${ip}`).join(",");
  // The key's public half is kept beside the key as `node.pub` (or `node.pub.next`), so the install
  // compares it without running openssl, and written again from the key at every run, so it always
  // describes the key beside it; the CSR goes to stdout.
  if (opts.rotate)
    return `d="$ROOT${NODE_PKI_DIR}"
install -d -m 0755 "$d"
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/node.key.next.tmp" 2>/dev/null)
mv "$d/node.key.next.tmp" "$d/node.key.next"
req="$(openssl req -new -key "$d/node.key.next" -pubkey -subj "/CN=${id}" -addext "subjectAltName=${san}")"
${splitPubAndCsr("node.pub.next")}
`;
  // Each process is a fork and an exec on the launch's path: files are written by the shell's
  // builtins, and a new key and its CSR come from one openssl.
  // A first launch (no key yet) checks nothing, so it writes no CA copy to compare and removes none.
  return `d="$ROOT${NODE_PKI_DIR}"
[ -d "$d" ] || install -d -m 0755 "$d"
current=0
if [ -s "$d/node.key" ] && [ -s "$d/node.crt" ]; then
  want_ca="$d/.ca.want.$$"; trap 'rm -f "$want_ca"' EXIT
  printf '%s' '${assertPlainPem(caPem, "CA certificate")}' >"$want_ca"
  if cmp -s "$want_ca" "$d/ca.crt" \\
    && openssl verify -CAfile "$want_ca" "$d/node.crt" >/dev/null 2>&1 \\
    && openssl x509 -in "$d/node.crt" -noout -checkend ${RENEW_BEFORE_SECONDS} >/dev/null \\
    && [ "$(openssl x509 -in "$d/node.crt" -noout -pubkey)" = "$(openssl pkey -in "$d/node.key" -pubout)" ]; then
    current=1
    for ip in ${ips.join(" ")}; do
      openssl x509 -in "$d/node.crt" -noout -checkip "$ip" | grep -q "does match" || current=0
    done
  fi
fi
if [ "$current" = 1 ]; then echo ${CERT_CURRENT}; exit 0; fi
if [ -s "$d/node.key" ] && [ -s "$d/node.pub" ] && [ -s "$d/${BOOT_CSR}" ]; then
  # First boot's CSR for this key (BOOT_KEY_SCRIPT): read by the shell, no process.
  IFS= read -r -d '' req <"$d/${BOOT_CSR}" || true
  printf '%s' "$req"
elif [ -s "$d/node.key" ]; then
  req="$(openssl req -new -key "$d/node.key" -pubkey -subj "/CN=${id}" -addext "subjectAltName=${san}")"
  ${splitPubAndCsr("node.pub")}
else
  req="$(umask 077 && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/node.key.tmp" \\
    -pubkey -subj "/CN=${id}" -addext "subjectAltName=${san}" 2>/dev/null)"
  ${splitPubAndCsr("node.pub")}
  rm -f "$d/${BOOT_CSR}"
  mv "$d/node.key.tmp" "$d/node.key"
fi
`;
}

/**
 * Installs the signed certificate and the CA certificate (each replaced atomically), after checking
 * the certificate is for the key the node holds: a late retry that signed an older CSR fails here
 * instead of leaving etcd a certificate it cannot use. A certificate for the rotated key
 * (`node.key.next`) puts that key in place with it; etcd reads the files again for each new
 * connection, so nothing restarts, and connections already open keep the old pair until they close.
 *
 * The check compares the certificate's public key (read here, in the control plane) with the one
 * the CSR step kept beside the key (`node.pub`), with the shell's builtins only: no openssl on the
 * launch's path. A key whose public half was not kept (made before the CSR step kept it) is
 * compared by openssl, as before.
 */
export function renderInstallCertScript(certPem: string, caPem: string): string {
  const cert = assertPlainPem(certPem, "node certificate");
  const spki = certificatePublicKey(cert);
  if (!/^[A-Za-z0-9+/=]+$/.test(spki)) throw new InvariantError("a public key that is not base64");
  return `d="$ROOT${NODE_PKI_DIR}"
[ -s "$d/node.key" ] || [ -s "$d/node.key.next" ] || { echo "no node key: run the CSR step first" >&2; exit 30; }
umask 022
printf '%s' '${cert}' >"$d/node.crt.tmp"
ca='${assertPlainPem(caPem, "CA certificate")}'
# for_key KEY PUB: is the certificate for KEY? PUB is KEY's public half kept by the CSR step.
for_key() {
  [ -s "$1" ] || return 1
  if [ -s "$2" ]; then
    local p=""
    IFS= read -r -d '' p <"$2" || true
    p="\${p//$'\n'/}"; p="\${p#-----BEGIN PUBLIC KEY-----}"; p="\${p%-----END PUBLIC KEY-----}"
    [ "$p" = '${spki}' ]
  else
    # Each openssl must succeed: two failures would compare two empty strings as equal.
    local a b
    a="$(openssl x509 -in "$d/node.crt.tmp" -noout -pubkey)" || return 1
    b="$(openssl pkey -in "$1" -pubout)" || return 1
    [ -n "$a" ] && [ "$a" = "$b" ]
  fi
}
if for_key "$d/node.key.next" "$d/node.pub.next"; then
  key=next
elif for_key "$d/node.key" "$d/node.pub"; then
  key=current
else
  # A boot CSR that led here is not for the key: the next CSR step makes one from the key itself.
  rm -f "$d/node.crt.tmp" "$d/${BOOT_CSR}"
  echo "the certificate is not for this node's key" >&2; exit 31
fi
# The CA: kept when it is the same (read by the shell); written in place when there is none, since
# nothing reads it before node.crt, which is moved in after it; else replaced atomically.
have=""
if [ -s "$d/ca.crt" ]; then IFS= read -r -d '' have <"$d/ca.crt" || true; fi
if [ "$have" != "$ca" ]; then
  if [ -e "$d/ca.crt" ]; then
    printf '%s' "$ca" >"$d/ca.crt.tmp"
    mv "$d/ca.crt.tmp" "$d/ca.crt"
  else
    printf '%s' "$ca" >"$d/ca.crt"
  fi
fi
# The key and its certificate are replaced one right after the other: a handshake in between fails
# and is retried by its client.
if [ "$key" = next ]; then
  if [ -s "$d/node.pub.next" ]; then mv "$d/node.pub.next" "$d/node.pub"; else rm -f "$d/node.pub"; fi
  rm -f "$d/${BOOT_CSR}" # first boot's CSR was for the key replaced here
  mv "$d/node.key.next" "$d/node.key"
fi
mv "$d/node.crt.tmp" "$d/node.crt"
echo installed
`;
}
