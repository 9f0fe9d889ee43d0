#!/usr/bin/env bash
# Train the FAS-SGTD single-frame network (fas_sgtd.md).
#   bash fas_sgtd_single_frame/train.sh [N] [--config FILE] [key=value ...]
# N (or NPROC=N): start N DDP processes with torchrun (one per GPU); default: one plain process.
# Without --config the demo runs: configs/demo.yaml on the synthetic data in datasets/demo_work,
# which scripts/preprocess.sh generates first when it is missing. See scripts/launch.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
demo_prerequisites() { need_demo_data sgtd_single lists/Protocol_1/Train.txt; }
launch_train fas_sgtd_single_frame.train fas_sgtd_single_frame/configs/demo.yaml "$@"
