#!/usr/bin/env bash
# System packages the test suite drives as real peers. Idempotent; needs root (apt-get).
set -euo pipefail
packages=(sip-tester baresip kamailio sox curl iproute2 coturn espeak-ng iptables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
