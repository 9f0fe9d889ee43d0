#!/usr/bin/env bash
# Sample (spoof, live) pairs from a trained DSDG generator into DUM's training inputs:
# frames, depth maps, crop cache, generated.txt and samples.png under --out.
#   bash dsdg/generate.sh [--run-dir work_dirs/dsdg_demo | --checkpoint CKPT] [--out DIR] [--num-pairs N] ...
# Defaults: the demo run, out datasets/demo_work/dsdg_generated, 200 pairs (python -m dsdg.generate --help).
# Then train DUM with:  data.generated_list=<out>/generated.txt data.generated_crops=<out>/crops
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec python -m dsdg.generate "$@"
