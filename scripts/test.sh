#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, lints, then
# runs every test (unit, local end-to-end with real Ray/FEDn/PostgreSQL/S3,
# and the Docker Swarm end-to-end tests on a local 3-node Swarm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh
.venv/bin/ruff check stacklab tests bench tuning ray_tuning ray_train federated swarm
if [ $# -eq 0 ]; then
  # The whole suite: the cold caches the Swarm and VM fixtures need (wheels,
  # debootstrap bases, the VM disk: ~6 min on a fresh machine) are made in the
  # background while the unit and local tests run. Entries are locked, so a
  # fixture that gets there first builds and the prefetch waits (or vice versa);
  # a failed prefetch only means the fixture builds it, and fails loudly there.
  mkdir -p results/ci
  setsid .venv/bin/python -m stacklab.cli images prefetch --vm > results/ci/prefetch.log 2>&1 &
  prefetch=$!
  # its own process group: a stop also stops the debootstrap it runs
  trap 'kill -- -$prefetch 2>/dev/null || true' EXIT
fi
rc=0
.venv/bin/python -m pytest --durations=30 "$@" || rc=$?
if [ -n "${prefetch:-}" ]; then
  echo "prefetch (results/ci/prefetch.log):"; tail -n 3 results/ci/prefetch.log
fi
exit $rc
