#!/usr/bin/env bash
# Train CDCN / CDCN++ / CDCN_u (DUM).
#   bash dum/train.sh [N] [--config FILE] [key=value ...]
#   NPROC=N bash dum/train.sh ...        same as giving N first: torchrun --nproc_per_node=N (DDP)
# Default config: dum/configs/demo.yaml (synthetic OULU-NPU demo; its preprocessing runs first
# when the crop cache or the lists are missing). Rerunning the same command resumes from
# <train.run_dir>/last.pt. See `python -m dum.train --help` for every config key, and scripts/launch.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
# The demo data is made on first use (the synthetic dataset, frames, faces, depth, crops, lists).
demo_prerequisites() { need_demo_data dum crops lists/Protocol_1/Train.txt; }
launch_train dum.train dum/configs/demo.yaml "$@"
