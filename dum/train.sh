#!/usr/bin/env bash
# Train CDCN / CDCN++ / CDCN_u (DUM).
#   bash dum/train.sh [N] [--config FILE] [key=value ...]
#   NPROC=N bash dum/train.sh ...        same as giving N first: torchrun --nproc_per_node=N (DDP)
# Default config: dum/configs/demo.yaml (synthetic OULU-NPU demo; its preprocessing runs first
# when the crop cache or the lists are missing). Rerunning the same command resumes from
# <train.run_dir>/last.pt. See `python -m dum.train --help` for every config key.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

nproc="${NPROC:-1}"
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
  nproc="$1"
  shift
fi
if [[ $# -gt 0 && ( "$1" == "-h" || "$1" == "--help" ) ]]; then
  exec python -m dum.train --help
fi

config=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --config|-c) config="${args[i+1]:-}" ;;
    --config=*) config="${args[i]#--config=}" ;;
  esac
done
if [[ -z "$config" ]]; then
  config="dum/configs/demo.yaml"
  args=(--config "$config" "${args[@]}")
fi

# The demo data is made on first use (the synthetic dataset, frames, faces, depth, crops, lists).
if [[ "$(basename "$config")" == "demo.yaml" ]]; then
  work="datasets/demo_work"
  for a in "${args[@]}"; do
    [[ "$a" == data.work=* ]] && work="${a#data.work=}"
  done
  if [[ ! -d "$work/crops" || ! -f "$work/lists/Protocol_1/Train.txt" ]]; then
    echo "[dum] demo data missing under $work: running bash scripts/preprocess.sh"
    bash scripts/preprocess.sh
  fi
fi

if [[ "$nproc" -gt 1 ]]; then
  exec torchrun --standalone --nproc_per_node="$nproc" -m dum.train "${args[@]}"
fi
exec python -m dum.train "${args[@]}"
