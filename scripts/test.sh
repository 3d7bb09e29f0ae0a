#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, lints, then
# runs every test (unit, local end-to-end with real Ray/FEDn/PostgreSQL/S3,
# and the Docker Swarm end-to-end tests on a local 3-node Swarm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh
.venv/bin/ruff check stacklab tests bench tuning ray_tuning ray_train federated swarm
exec .venv/bin/python -m pytest --durations=30 "$@"
