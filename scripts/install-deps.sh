#!/usr/bin/env bash
# Installs what Galley and its lab need on Debian 12 (as root): the lab's servers from
# Debian's packages, then the npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(etcd-server etcd-client gdnsd knot knot-dnsutils dnsutils nginx openssh-server openssh-client openssl iproute2 procps util-linux prometheus prometheus-alertmanager ngircd socat)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "galley: missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "galley: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
