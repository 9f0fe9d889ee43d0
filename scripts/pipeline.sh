#!/usr/bin/env bash
# The whole DSDG + DUM chain in one command; every stage is skipped when its output is complete.
#
#   1. preprocess        bash scripts/preprocess.sh  (synthetic demo data by default)
#   2. train generator   bash dsdg/train.sh          -> <runs>/dsdg/last.pt (+ the scale-1.0 crop cache)
#   3. generate pairs    bash dsdg/generate.sh       -> <work>/dsdg_generated/{crops/,generated.txt,samples.png}
#   4. train DUM         bash dum/train.sh           on real + generated -> <runs>/dum_real_gen
#   5. test DUM          bash dum/test.sh            -> <runs>/dum_real_gen/test/metrics.json
#   (--compare-real-only: 4-5 again without generated data, same seed and budget -> <runs>/dum_real)
#
# Usage: bash scripts/pipeline.sh [options]
#   --preprocess-config FILE   default data/configs/demo.yaml
#   --dsdg-config FILE         default dsdg/configs/demo.yaml
#   --dum-config FILE          default dum/configs/demo.yaml
#   --work DIR                 preprocessing work root (default: the preprocessing config's work_root)
#   --runs DIR                 run folders (default work_dirs/pipeline)
#   --num-pairs N              generated pairs (default: the DSDG config's generate.preset: 200 for the
#                              demo, 350 live + 350 spoof videos of 99 frames for dsdg/configs/oulu_p1.yaml)
#   --dsdg-iters N             generator steps (default: the DSDG config's train.max_iters)
#   --dum-iters N              DUM steps (default: the DUM config's train.max_iters)
#   --identity-net CKPT        LightCNN-29 v2 checkpoint: identity losses on
#   --compare-real-only        also train and test DUM on the real data alone, and print both
#   --dsdg KEY=VALUE           extra DSDG training override (repeatable)
#   --dum KEY=VALUE            extra DUM override for training and test (repeatable)
# A stage that fails stops the chain; rerunning the same command resumes where it stopped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

pre_config="data/configs/demo.yaml"
dsdg_config="dsdg/configs/demo.yaml"
dum_config="dum/configs/demo.yaml"
work=""
runs="work_dirs/pipeline"
num_pairs=""
dsdg_iters=""
dum_iters=""
compare=0
dsdg_extra=()
dum_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preprocess-config) pre_config="$2"; shift 2 ;;
    --dsdg-config) dsdg_config="$2"; shift 2 ;;
    --dum-config) dum_config="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --num-pairs) num_pairs="$2"; shift 2 ;;
    --dsdg-iters) dsdg_iters="$2"; shift 2 ;;
    --dum-iters) dum_iters="$2"; shift 2 ;;
    --identity-net) dsdg_extra+=("identity_net.enabled=true" "identity_net.checkpoint=$2"); shift 2 ;;
    --compare-real-only) compare=1; shift ;;
    --dsdg) dsdg_extra+=("$2"); shift 2 ;;
    --dum) dum_extra+=("$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "pipeline: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

pre_args=()
if [ -n "$work" ]; then
  pre_args+=("work_root=$work")
else  # the preprocessing config's work root, handed to every later stage
  work="$(python -c "import sys; from data.preprocess import DEFAULTS; from fas_core.config import load_config
print(load_config(DEFAULTS, sys.argv[1]).work_root)" "$pre_config")"
fi
dsdg_args=("train.run_dir=$runs/dsdg" "data.work=$work")
dum_common=("data.work=$work")
gen_out="$work/dsdg_generated"
[ -n "$dsdg_iters" ] && dsdg_args+=("train.max_iters=$dsdg_iters")
[ -n "$dum_iters" ] && dum_common+=("train.max_iters=$dum_iters")
dsdg_args+=(${dsdg_extra[@]+"${dsdg_extra[@]}"})
dum_common+=(${dum_extra[@]+"${dum_extra[@]}"})
gen_args=("data.generated_list=$gen_out/generated.txt" "data.generated_crops=$gen_out/crops")

stage() { echo; echo "==== pipeline: $*"; }

# True when <train.run_dir>/last.pt has reached train.max_iters of the resolved config.
run_complete() {
  python - "$@" <<'EOF'
import importlib, sys
from pathlib import Path
from fas_core import checkpoint as ckpt
from fas_core.config import load_config
module, config, *overrides = sys.argv[1:]
cfg = load_config(importlib.import_module(module).DEFAULTS, config, overrides)
last = Path(cfg.train.run_dir) / "last.pt"
sys.exit(0 if last.is_file() and ckpt.load_file(last)["step"] >= cfg.train.max_iters else 1)
EOF
}

# True when <run>/test/metrics.json was written after the run's last training (the engine writes
# config.yaml when training starts; testing rewrites the checkpoint's metadata, so not that).
test_complete() {
  local run="$1"
  [ -f "$run/test/metrics.json" ] && [ -f "$run/config.yaml" ] && [ "$run/test/metrics.json" -nt "$run/config.yaml" ]
}

acer_of() {
  python -c "import json, sys; m = json.load(open(sys.argv[1])); print(f\"ACER {100*m['ACER']:.2f}%  APCER {100*m['APCER']:.2f}%  BPCER {100*m['BPCER']:.2f}%\")" "$1/test/metrics.json"
}

train_and_test_dum() {  # name, overrides...
  local name="$1"; shift
  local run="$runs/$name"
  local args=("train.run_dir=$run" ${dum_common[@]+"${dum_common[@]}"} "$@")
  stage "train DUM ($name)"
  if run_complete dum.train "$dum_config" "${args[@]}"; then
    echo "complete ($run/last.pt at train.max_iters): skipped"
  else
    bash dum/train.sh --config "$dum_config" "${args[@]}"
  fi
  stage "test DUM ($name)"
  if test_complete "$run"; then
    echo "complete ($run/test/metrics.json): skipped"
  else
    bash dum/test.sh --config "$dum_config" "${args[@]}"
  fi
}

start=$(date +%s)
[ -n "$dsdg_iters$dum_iters" ] && echo "pipeline: shorter training budgets than the train.sh defaults:" \
  "${dsdg_iters:+DSDG $dsdg_iters steps} ${dum_iters:+DUM $dum_iters steps}"

stage "preprocess ($pre_config)"
bash scripts/preprocess.sh "$pre_config" ${pre_args[@]+"${pre_args[@]}"}

stage "train the DSDG generator ($dsdg_config)"
if [ -f "$runs/dsdg/recon_error.json" ] && run_complete dsdg.train "$dsdg_config" "${dsdg_args[@]}"; then
  echo "complete ($runs/dsdg/last.pt at train.max_iters): skipped"
  python -c "import json, sys; r = json.load(open(sys.argv[1])); print(f\"reconstruction error before {r['before']:.5f}, after {r['after']:.5f}\")" "$runs/dsdg/recon_error.json"
else
  bash dsdg/train.sh --config "$dsdg_config" "${dsdg_args[@]}"
fi

stage "generate pairs (${num_pairs:-as many as generate.preset of the DSDG config says}) -> $gen_out"
bash dsdg/generate.sh --run-dir "$runs/dsdg" --out "$gen_out" ${num_pairs:+--num-pairs "$num_pairs"}
num_pairs="$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['pairs'])" "$gen_out/summary.json")"

train_and_test_dum dum_real_gen "${gen_args[@]}"
if [ "$compare" -eq 1 ]; then
  train_and_test_dum dum_real
fi

stage "results (test split of $dum_config, threshold from dev)"
echo "DUM on real + $num_pairs generated pairs: $(acer_of "$runs/dum_real_gen")"
if [ "$compare" -eq 1 ]; then
  echo "DUM on real data only:            $(acer_of "$runs/dum_real")"
fi
echo "generated samples: $gen_out/samples.png; runs in $runs; $(( $(date +%s) - start )) s"
