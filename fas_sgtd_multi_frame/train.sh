#!/usr/bin/env bash
# Train the FAS-SGTD multi-frame stage on a frozen single-frame network (fas_sgtd.md).
#   bash fas_sgtd_multi_frame/train.sh [N] [--config FILE] [key=value ...]
# N (or NPROC=N): start N DDP processes with torchrun (one per GPU); default: one plain process.
# Without --config the demo runs: configs/demo.yaml, starting from the single-frame demo run
# (work_dirs/sgtd_single_demo/best.pt), which is trained first when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
nproc="${NPROC:-1}"
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then nproc="$1"; shift; fi
args=("$@")
if [[ " $* " != *" --config "* && " $* " != *" -c "* && " $* " != *" --config="* ]]; then
  args=(--config fas_sgtd_multi_frame/configs/demo.yaml "${args[@]}")
  if [ ! -f work_dirs/sgtd_single_demo/best.pt ] && [[ " $* " != *" model.single_checkpoint="* ]]; then
    echo "[sgtd_multi] single-frame demo checkpoint not found: running bash fas_sgtd_single_frame/train.sh first"
    bash fas_sgtd_single_frame/train.sh
  fi
fi
if [ "$nproc" -gt 1 ]; then
  exec torchrun --standalone --nproc_per_node "$nproc" -m fas_sgtd_multi_frame.train "${args[@]}"
fi
exec python -m fas_sgtd_multi_frame.train "${args[@]}"
