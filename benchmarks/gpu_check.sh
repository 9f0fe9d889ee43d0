#!/usr/bin/env bash
# One prepared check of the GPU path (every method trained and tested on CUDA, training speed in
# fp32 / bf16 / channels_last / torch.compile, the loader, predict latency, one-process DDP):
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--budget SECONDS]    # one CUDA GPU, 300 s
#   bash benchmarks/gpu_check.sh --dry-run                          # the same code on the CPU, tiny sizes
#
# The time budget (--budget, else $GPU_CHECK_BUDGET_S, else 300 s) counts from this script's start
# and covers everything; what would not fit is reported as skipped. The table is rewritten after
# every row, so a run killed from outside still leaves its partial table.
#
# The table is printed and written to DIR/gpu_check.md (DIR: --out, else $OUT, else
# work_dirs/gpu_check); see benchmarks/gpu_check.py for the parts. Python: the project's .venv
# when there is one, else the machine's python3 as it is (no virtual environment is made, nothing
# is downloaded). A module the check needs that this Python lacks (facenet-pytorch, requests) is
# installed from the wheels in .whl/ (made by benchmarks/gpu_wheels.sh) into a folder of its own
# ($GPU_CHECK_SITE, default /tmp/gpu_check_site) added to PYTHONPATH.
set -euo pipefail
export GPU_CHECK_T0="${GPU_CHECK_T0:-$(date +%s.%N)}"  # the budget counts from here
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
if [[ -x .venv/bin/python ]]; then py="$root/.venv/bin/python"; else py="$(command -v python3)"; fi
site="${GPU_CHECK_SITE:-/tmp/gpu_check_site}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}:$site"
export PYTHONUNBUFFERED=1

# module -> wheel file name prefix in .whl/
declare -A wheel_of=([facenet_pytorch]=facenet_pytorch [requests]=requests [urllib3]=urllib3 [idna]=idna
                     [certifi]=certifi)
wheels=()
for module in facenet_pytorch requests urllib3 idna certifi; do
  if ! "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" 2>/dev/null; then
    found=(.whl/"${wheel_of[$module]}"-*.whl)
    if [[ -f "${found[0]}" ]]; then
      wheels+=("${found[0]}")
    else
      echo "[gpu_check] $module is missing and .whl/ has no wheel of it (run benchmarks/gpu_wheels.sh where there is network)"
    fi
  fi
done
if [[ ${#wheels[@]} -gt 0 ]]; then
  echo "[gpu_check] installing ${wheels[*]} into $site"
  mkdir -p "$site"
  if ! "$py" -m pip install -q --no-index --no-deps --target "$site" "${wheels[@]}"; then
    for w in "${wheels[@]}"; do "$py" -m zipfile -e "$w" "$site"; done  # a wheel is a zip of the package
  fi
fi
"$py" -c "import facenet_pytorch" 2>/dev/null || echo "[gpu_check] warning: facenet_pytorch cannot be imported"
exec "$py" benchmarks/gpu_check.py "$@"
