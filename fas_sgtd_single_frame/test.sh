#!/usr/bin/env bash
# Test a trained network: dev and test scores per video, metrics.json, plots, model card; stores the
# dev threshold in the checkpoint for predict.
#   bash fas_sgtd_single_frame/test.sh [--config FILE] [--checkpoint PT | --released ORIGINAL] [--out DIR] [key=value ...]
# Without --config: the module's default experiment (the demo); default checkpoint:
# <train.run_dir>/best.pt (else last.pt). See `python -m fas_sgtd_single_frame.test --help`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
launch_test fas_sgtd_single_frame.test "$@"
