#!/usr/bin/env bash
# Launcher behind the train.sh / test.sh scripts of the method folders. Sourced (not run) from the
# repository root under `set -euo pipefail`; it sets up the environment (scripts/setup.sh) and defines
#
#   launch_train MODULE DEFAULT_CONFIG [N] [--config FILE] [args ...]
#       A leading whole number N, or NPROC=N: N > 1 starts N DDP processes with torchrun (one per
#       GPU, gloo on CPU); otherwise one plain process. When the config in use is a demo.yaml and
#       the calling script defines a function demo_prerequisites, that runs first (it makes what
#       the demo needs, e.g. the demo data or an earlier stage's checkpoint).
#   launch_test MODULE DEFAULT_CONFIG [--config FILE] [args ...]
#
# Both run `python -m MODULE args ...` with `--config DEFAULT_CONFIG` put first when neither
# --config FILE, -c FILE nor --config=FILE is given; -h / --help anywhere shows MODULE's help.
# For demo_prerequisites:
#   launch_override KEY        the value of the last KEY=VALUE argument (empty when none)
#   need_demo_data NAME PATH.. run scripts/preprocess.sh when a PATH is missing under the work root
#                              (data.work=DIR when given, else datasets/demo_work)
source scripts/setup.sh

launch_args=()    # what MODULE gets
launch_config=""  # the config file in use

# Fill launch_args and launch_config from the arguments; hand over to MODULE --help when asked.
_launch_parse() {
  local module="$1" default_config="$2" i
  shift 2
  launch_args=("$@")
  launch_config=""
  for ((i = 0; i < ${#launch_args[@]}; i++)); do
    case "${launch_args[i]}" in
      --config|-c) launch_config="${launch_args[i+1]:-}" ;;
      --config=*) launch_config="${launch_args[i]#--config=}" ;;
      -h|--help) exec python -m "$module" --help ;;
    esac
  done
  if [[ -z "$launch_config" ]]; then
    launch_config="$default_config"
    launch_args=(--config "$launch_config" ${launch_args[@]+"${launch_args[@]}"})
  fi
}

launch_override() {
  local key="$1" a value=""
  for a in ${launch_args[@]+"${launch_args[@]}"}; do
    if [[ "$a" == "$key="* ]]; then value="${a#"$key="}"; fi
  done
  printf '%s' "$value"
}

need_demo_data() {
  local name="$1" work path
  shift
  work="$(launch_override data.work)"
  work="${work:-datasets/demo_work}"
  for path in "$@"; do
    if [[ ! -e "$work/$path" ]]; then
      echo "[$name] demo data missing under $work: running bash scripts/preprocess.sh"
      bash scripts/preprocess.sh
      return 0
    fi
  done
}

launch_train() {
  local module="$1" default_config="$2" nproc="${NPROC:-1}"
  shift 2
  if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
    nproc="$1"
    shift
  fi
  _launch_parse "$module" "$default_config" "$@"
  if [[ "$(basename "$launch_config")" == "demo.yaml" ]] && declare -F demo_prerequisites >/dev/null; then
    demo_prerequisites
  fi
  if [[ "$nproc" -gt 1 ]]; then
    exec torchrun --standalone --nproc_per_node="$nproc" -m "$module" "${launch_args[@]}"
  fi
  exec python -m "$module" "${launch_args[@]}"
}

launch_test() {
  local module="$1" default_config="$2"
  shift 2
  _launch_parse "$module" "$default_config" "$@"
  exec python -m "$module" "${launch_args[@]}"
}
