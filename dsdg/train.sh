#!/usr/bin/env bash
# Train the DSDG generator; makes missing inputs first (demo data, scale-1.0 crop cache).
#   bash dsdg/train.sh [--config FILE] [--nproc N] [--no-identity-net] [key=value ...]
# Default config: dsdg/configs/demo.yaml (synthetic demo data, 2 CPU cores, about 10 minutes).
# --nproc N > 1 runs N processes with torchrun (DDP; train.batch_size is per process).
# A rerun resumes from <train.run_dir>/last.pt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
config="dsdg/configs/demo.yaml"
nproc=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config|-c) config="$2"; shift 2 ;;
    --nproc) nproc="$2"; shift 2 ;;
    -h|--help) exec python -m dsdg.train --help ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ "$nproc" -gt 1 ]; then
  python -m dsdg.train --config "$config" --prepare-only ${args[@]+"${args[@]}"}
  exec torchrun --standalone --nproc_per_node="$nproc" -m dsdg.train --config "$config" ${args[@]+"${args[@]}"}
fi
exec python -m dsdg.train --config "$config" --prepare ${args[@]+"${args[@]}"}
