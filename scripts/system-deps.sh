#!/usr/bin/env bash
# Installs the Debian packages the kit's services and tests need, idempotently.
# (Nothing installed by hand survives to CI: this script is the only way in.)
#   system-deps.sh local   only what the embedded default (stacklab lab) needs
#   system-deps.sh         everything, tests and the local Swarm included
set -euo pipefail
PROFILE=${1:-all}
PACKAGES=(
  docker.io          # the Docker engine (only the CLI ships on a new machine)
  docker-compose     # `docker-compose up` of tuning/compose.yaml (Debian has no compose plugin)
  iproute2 iptables  # network namespaces + bridge for the local multi-node Swarm
  debootstrap        # a local Debian base image: no registry is reachable
  postgresql         # FEDn statestore
  chromium           # dashboard screenshot (fl run, stacklab lab, the FL e2e test)
  dataset-fashion-mnist  # --data fashion-mnist: a full-size (60,000 + 10,000) IDX set for timing runs
  qemu-system-x86 qemu-utils  # `stacklab vm`: real VMs (KVM where it boots, else TCG)
  cloud-image-utils genisoimage  # cloud-localds: NoCloud seed ISOs from cloud-cfg.txt
  e2fsprogs          # mkfs.ext4 -d: the VM disk image from a rootfs, no loop mount
  skopeo             # role images copied registry to registry (blobs as they are) into the VMs' registry
)
[ "$PROFILE" = local ] && PACKAGES=(postgresql)  # FEDn statestore of the local federation
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
[ "$PROFILE" = local ] && exit 0

# cloud-init's own schema validator for tests/unit/test_cloud_cfg.py: Debian's
# package unpacked, NOT installed (an installed cloud-init would reconfigure
# this machine at its next boot). Runs with the venv's python (configobj and
# jsonpatch come from requirements.txt).
CLOUD_INIT_DIR=${STACKLAB_CLOUD_INIT_DIR:-/opt/stacklab-tools/cloud-init}
if [ ! -d "$CLOUD_INIT_DIR/usr/lib/python3/dist-packages/cloudinit" ]; then
  tmp=$(mktemp -d) && chmod 755 "$tmp"
  (cd "$tmp" && { apt-get download -qq cloud-init 2>/dev/null || { apt-get update -qq && apt-get download -qq cloud-init; }; })
  mkdir -p "$CLOUD_INIT_DIR" && dpkg-deb -x "$tmp"/cloud-init_*.deb "$CLOUD_INIT_DIR"
  rm -rf "$tmp"
fi
