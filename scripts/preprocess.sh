#!/usr/bin/env bash
# Preprocessing chain from a config: synth (when needed) -> extract_frames -> detect_faces ->
# make_depth -> crop -> make_lists, printing each stage's summary.
#   bash scripts/preprocess.sh [CONFIG] [key=value ...]     (default config: data/configs/demo.yaml)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
config="${1:-data/configs/demo.yaml}"
shift || true
exec python -m data.preprocess --config "$config" "$@"
