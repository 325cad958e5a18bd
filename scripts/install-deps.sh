#!/usr/bin/env bash
# Installs what devcluster needs on a fresh Debian machine: etcd and etcdctl built from the release the
# cluster's main nodes run (scripts/etcd), podman from Debian, moto and cfn-lint in the project venv,
# and the npm packages. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)            # node scripts fetch snapshots with it
command -v flock >/dev/null 2>&1 || need_apt+=(util-linux)
command -v ss >/dev/null 2>&1 || need_apt+=(iproute2)          # tests check no port is left listening
command -v sha256sum >/dev/null 2>&1 || need_apt+=(coreutils)
perl -MJSON::PP -MIO::Socket::UNIX -e 1 >/dev/null 2>&1 || need_apt+=(perl)   # the postgres control client compiles in a test
# Real containers: rootful podman with runc (containers/podman/containers.conf), Debian base images
# made with mmdebstrap (containers/debian/build.sh).
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || need_apt+=(mmdebstrap)
# The front door runs Debian's nginx (its stream module for TCP ports); tests make certificates with
# openssl; bench/frontdoor.ts measures with wrk.
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need_apt+=(libnginx-mod-stream)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# The Gerrit tests push with git over SSH (keys made with ssh-keygen, as the SSH-key tests do).
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
# The image push is tested against Debian's registry server (the distribution project's) on loopback.
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
# The dashboard's browser test and screenshot drive Debian's Chromium with playwright-core.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts nginx on port 80 (the front door runs its own) and the registry on port 5000: stop them.
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

# etcd and etcdctl: the release the template installs on main nodes (cloudformation/options.ts
# etcdVersion; a unit test keeps the two equal), built with Go from the module proxy against the pinned
# go.sum. Debian's etcd-server is 3.4, which serves gRPC over TLS through its HTTP server (see
# docs/ARCHITECTURE.md decision 79); the cluster runs 3.5. Rebuilt when scripts/etcd changes.
if [ ! -x .tools/etcd/etcd ] || [ ! -x .tools/etcd/etcdctl ] || [ scripts/etcd/go.sum -nt .tools/etcd/etcd ]; then
  GO="$(command -v go || true)"
  [ -z "$GO" ] && [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go
  if [ -z "$GO" ]; then
    echo "Go 1.23 or newer is needed to build etcd (scripts/etcd): install it from https://go.dev/dl" >&2
    exit 1
  fi
  echo "building etcd and etcdctl $(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' scripts/etcd/go.mod) (scripts/etcd)"
  mkdir -p .tools/etcd
  (cd scripts/etcd && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath" "$GO" build -o ../../.tools/etcd/ ./etcd ./etcdctl)
  touch .tools/etcd/etcd .tools/etcd/etcdctl
fi

if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/cfn-lint ]; then
  echo "creating the Python venv (.venv) with moto and cfn-lint"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
fi

# checkov (template policy checks) in a venv of its own: its pins must not move moto's or cfn-lint's.
if [ ! -x .venv-checkov/bin/checkov ]; then
  echo "creating the checkov venv (.venv-checkov)"
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install -q --disable-pip-version-check -r scripts/requirements-checkov.txt
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
