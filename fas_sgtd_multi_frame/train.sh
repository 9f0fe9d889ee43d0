#!/usr/bin/env bash
# Train the FAS-SGTD multi-frame stage on a frozen single-frame network (fas_sgtd.md).
#   bash fas_sgtd_multi_frame/train.sh [N] [--config FILE] [key=value ...]
# N (or NPROC=N): start N DDP processes with torchrun (one per GPU); default: one plain process.
# Without --config the demo runs: configs/demo.yaml, starting from the single-frame demo run
# (work_dirs/sgtd_single_demo/best.pt), which is trained first when it is missing (unless
# model.single_checkpoint=... names another). See scripts/launch.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
demo_prerequisites() {
  if [[ ! -f work_dirs/sgtd_single_demo/best.pt && -z "$(launch_override model.single_checkpoint)" ]]; then
    echo "[sgtd_multi] single-frame demo checkpoint not found: running bash fas_sgtd_single_frame/train.sh first"
    bash fas_sgtd_single_frame/train.sh
  fi
}
launch_train fas_sgtd_multi_frame.train fas_sgtd_multi_frame/configs/demo.yaml "$@"
