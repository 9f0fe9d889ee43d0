#!/usr/bin/env bash
# Launcher behind every train.sh / test.sh of the method folders. Sourced (not run) from the
# repository root under `set -euo pipefail`; it sets up the environment (scripts/setup.sh) and defines
#
#   launch_train MODULE [N] [--config FILE] [args ...]
#       A leading whole number N, or NPROC=N: N > 1 starts N DDP processes per machine with torchrun
#       (one per GPU; gloo on CPU), after `python -m MODULE --prepare-only args` has made any missing
#       prerequisite once. Several machines: set NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT (or
#       RDZV_ENDPOINT, with an optional RDZV_ID) on each, as torchrun's own rendezvous takes them.
#       Otherwise one plain process.
#   launch_test MODULE [--config FILE] [args ...]
#
# Both run `python -m MODULE args ...`. Without --config the module uses its own default
# experiment (the demo config), so `bash dum/train.sh` and `python -m dum.train` train the same.
source scripts/setup.sh

# torchrun's arguments for this machine: one machine (--standalone) or a rendezvous of several.
_launch_torchrun_args() {
  local nproc="$1" nnodes="${NNODES:-1}"
  if [[ -n "${RDZV_ENDPOINT:-}" ]]; then
    printf '%s\n' "--nnodes=$nnodes" "--nproc_per_node=$nproc" "--rdzv_backend=c10d" \
      "--rdzv_endpoint=$RDZV_ENDPOINT" "--rdzv_id=${RDZV_ID:-fas}"
  elif [[ "$nnodes" -gt 1 ]]; then
    printf '%s\n' "--nnodes=$nnodes" "--node_rank=${NODE_RANK:?set NODE_RANK for a multi-machine run}" \
      "--master_addr=${MASTER_ADDR:?set MASTER_ADDR}" "--master_port=${MASTER_PORT:-29500}" "--nproc_per_node=$nproc"
  else
    printf '%s\n' "--standalone" "--nproc_per_node=$nproc"
  fi
}

launch_train() {
  local module="$1" nproc="${NPROC:-1}" a
  shift
  if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
    nproc="$1"
    shift
  fi
  for a in "$@"; do
    if [[ "$a" == "-h" || "$a" == "--help" ]]; then exec python -m "$module" --help; fi
  done
  if [[ "$nproc" -gt 1 || "${NNODES:-1}" -gt 1 ]]; then
    python -m "$module" --prepare-only "$@"
    local targs
    mapfile -t targs < <(_launch_torchrun_args "$nproc")
    exec torchrun "${targs[@]}" -m "$module" "$@"
  fi
  exec python -m "$module" "$@"
}

launch_test() {
  local module="$1"
  shift
  exec python -m "$module" "$@"
}
