#!/usr/bin/env bash
# Installs the Debian packages the kit's services and tests need, idempotently.
# (Nothing installed by hand survives to CI: this script is the only way in.)
set -euo pipefail
PACKAGES=(
  docker.io          # the Docker engine (only the CLI ships on a new machine)
  iproute2 iptables  # network namespaces + bridge for the local multi-node Swarm
  debootstrap        # a local Debian base image: no registry is reachable
  postgresql         # FEDn statestore
  chromium           # dashboard screenshot test
)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "stacklab: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
