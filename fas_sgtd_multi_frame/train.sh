#!/usr/bin/env bash
# Train the FAS-SGTD multi-frame stage on a frozen single-frame network.
#   bash fas_sgtd_multi_frame/train.sh [N] [--config FILE] [key=value ...]
# Without --config: the module's default experiment (configs/demo.yaml, the synthetic demo data,
# which is made first when missing). See `python -m fas_sgtd_multi_frame.train --help` for every config key.
# The demo config trains the single-frame demo first when its checkpoint is missing
# (model.single_config). N (or NPROC=N): N DDP processes with torchrun (scripts/launch.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
launch_train fas_sgtd_multi_frame.train "$@"
