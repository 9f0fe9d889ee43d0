#!/usr/bin/env bash
# Train the DSDG generator.
#   bash dsdg/train.sh [N] [--config FILE] [--no-identity-net] [key=value ...]
# Without --config: the module's default experiment (configs/demo.yaml, the synthetic demo data,
# which is made first when missing). See `python -m dsdg.train --help` for every config key.
# The scale-1.0 crop cache it reads is made when missing. N (or NPROC=N): N DDP processes with
# torchrun (train.batch_size is per process; scripts/launch.sh). A rerun resumes from last.pt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
launch_train dsdg.train "$@"
