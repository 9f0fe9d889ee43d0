#!/usr/bin/env bash
# Train the FAS-SGTD single-frame network (fas_sgtd.md).
#   bash fas_sgtd_single_frame/train.sh [N] [--config FILE] [key=value ...]
# N (or NPROC=N): start N DDP processes with torchrun (one per GPU); default: one plain process.
# Without --config the demo runs: configs/demo.yaml on the synthetic data in datasets/demo_work,
# which scripts/preprocess.sh generates first when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
nproc="${NPROC:-1}"
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then nproc="$1"; shift; fi
args=("$@")
if [[ " $* " != *" --config "* && " $* " != *" -c "* && " $* " != *" --config="* ]]; then
  args=(--config fas_sgtd_single_frame/configs/demo.yaml "${args[@]}")
  if [ ! -f datasets/demo_work/lists/Protocol_1/Train.txt ]; then
    echo "[sgtd_single] demo data not found in datasets/demo_work: running bash scripts/preprocess.sh"
    bash scripts/preprocess.sh
  fi
fi
if [ "$nproc" -gt 1 ]; then
  exec torchrun --standalone --nproc_per_node "$nproc" -m fas_sgtd_single_frame.train "${args[@]}"
fi
exec python -m fas_sgtd_single_frame.train "${args[@]}"
