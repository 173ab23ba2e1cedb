#!/usr/bin/env bash
# `make gpu-check`: the CUDA path run for real (workbench/bench/gpu_check.py). Runs on the machine's own
# Python and torch (a CUDA image), or the project's .venv where there is one; packages it lacks come from
# .gpu-wheels/ (`make gpu-wheels`, prepared beforehand on a machine with network). Without CUDA it says so
# and exits 0. Extra arguments go to the check, e.g. `make gpu-check ARGS="--out /tmp/figures --repeats 1"`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import pydicom, nibabel, lightly, optuna" 2>/dev/null && compgen -G ".gpu-wheels/*.whl" >/dev/null; then
  site="${TMPDIR:-/tmp}/pretext-workbench-gpu-site"
  echo "Installing $(ls .gpu-wheels | tr '\n' ' ')into $site"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .gpu-wheels/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec "$PYTHON" -m workbench.bench.gpu_check "$@"
