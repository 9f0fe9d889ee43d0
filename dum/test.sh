#!/usr/bin/env bash
# Test CDCN / CDCN++ / CDCN_u: dev and test scores per video, metrics.json, plots, model card.
#   bash dum/test.sh [--config FILE] [--checkpoint PT | --released CDCN_U_P1.pkl] [--out DIR] [key=value ...]
# Default config: dum/configs/demo.yaml; default checkpoint: <train.run_dir>/best.pt (else last.pt).
# The released DUM model was trained at 256x256: test it with data.input_size=256.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/launch.sh
launch_test dum.test dum/configs/demo.yaml "$@"
