#!/usr/bin/env bash
# Sample (spoof, live) pairs from a trained DSDG generator into DUM's training inputs:
# frames, depth maps, crop cache, generated.txt and samples.png under --out.
#   bash dsdg/generate.sh [--run-dir work_dirs/dsdg_demo | --checkpoint CKPT] [--out DIR] [--num-pairs N] ...
# Defaults: the demo run, out datasets/demo_work/dsdg_generated, the run's generate.preset (demo: 200 pairs;
# --preset paper: the original's 350 live + 350 spoof videos of 99 frames); python -m dsdg.generate --help.
# Then train DUM with:  data.generated_list=<out>/generated.txt data.generated_crops=<out>/crops
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec python -m dsdg.generate "$@"
