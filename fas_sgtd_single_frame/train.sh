#!/usr/bin/env bash
# Train the FAS-SGTD single-frame network.
#   bash fas_sgtd_single_frame/train.sh [N] [--config FILE] [key=value ...]
# Without --config: the module's default experiment (configs/demo.yaml, the synthetic demo data,
# which is made first when missing). See `python -m fas_sgtd_single_frame.train --help` for every config key.
# N (or NPROC=N): N DDP processes with torchrun; NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT for
# several machines (scripts/launch.sh). Rerunning the same command resumes from <train.run_dir>/last.pt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
launch_train fas_sgtd_single_frame.train "$@"
