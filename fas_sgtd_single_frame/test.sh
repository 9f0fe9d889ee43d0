#!/usr/bin/env bash
# Test a FAS-SGTD single-frame run: dev/test score files, metrics.json, plots in <run_dir>/test.
#   bash fas_sgtd_single_frame/test.sh [--config FILE] [--checkpoint CKPT] [--out DIR] [key=value ...]
# Without --config: the demo run (configs/demo.yaml), after bash fas_sgtd_single_frame/train.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
launch_test fas_sgtd_single_frame.test fas_sgtd_single_frame/configs/demo.yaml "$@"
