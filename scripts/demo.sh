#!/usr/bin/env bash
# The README's main command: the whole toolkit on the built-in synthetic OULU-NPU (demo preset),
# on CPU, from a fresh clone: set-up -> synthetic data -> preprocessing -> colour baseline ->
# DSDG generator -> generation -> CDCN+DUM on real + generated data -> FAS-SGTD single and
# multi-frame -> one ACER table (OULU protocol 1 of the synthetic data, test split,
# threshold from dev). The demo preset's test split holds 30 live and 120 attack videos (15 users),
# so that the table's 95% bootstrap intervals are narrow enough to tell methods apart.
#
# Training budgets here are shorter than each train.sh default so that the whole demo fits in
# 20 minutes on 2 CPU cores (1095 s measured); change them with these variables:
#   DEMO_DSDG_ITERS (default 40)   DEMO_PAIRS (100)   DEMO_DUM_ITERS (160)
#   DEMO_SGTD_ITERS (250)          DEMO_MULTI_ITERS (100)
#   DEMO_DUM_TEST_FRAMES (2): frames scored per test video by the DUM run (the DUM demo config
#   scores 8; at 64x64 the 150 test videos would add about a minute on 2 cores)
#   DEMO_COMPARE_REAL_ONLY=1: also train DUM on the real data alone (same seed and budget; about
#   7 more minutes). Whether generated data helps is claim 4 of scripts/claims.sh, over seeds.
# Rerunning skips every finished stage. Runs go to work_dirs/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

runs=work_dirs/demo
work=datasets/demo_work
dsdg_iters="${DEMO_DSDG_ITERS:-40}"
pairs="${DEMO_PAIRS:-100}"
dum_iters="${DEMO_DUM_ITERS:-160}"
sgtd_iters="${DEMO_SGTD_ITERS:-250}"
multi_iters="${DEMO_MULTI_ITERS:-100}"
dum_test_frames="${DEMO_DUM_TEST_FRAMES:-2}"
compare=()
dum_rows=("CDCN+DUM, real + DSDG-generated=$runs/dum_real_gen/test/metrics.json")
if [ "${DEMO_COMPARE_REAL_ONLY:-0}" = 1 ]; then
  compare=(--compare-real-only)
  dum_rows+=("CDCN+DUM, real only=$runs/dum_real/test/metrics.json")
fi
start=$(date +%s)
mkdir -p "$runs"

banner() { echo; echo "################ demo: $* ($(( $(date +%s) - start )) s)"; }

echo "demo: shorter training budgets than the train.sh defaults: DSDG $dsdg_iters steps, $pairs generated" \
     "pairs, DUM $dum_iters steps ($dum_test_frames test frames per video), SGTD single-frame $sgtd_iters steps," \
     "multi-frame $multi_iters steps"

banner "1/5 synthetic OULU-NPU + preprocessing (synth, frames, MTCNN, depth, crops, lists)"
bash scripts/preprocess.sh data/configs/demo.yaml

banner "2/5 colour-histogram baseline (logistic regression on colour histograms of the crops)"
if [ ! -f "$runs/baseline/metrics.json" ]; then
  python -m data.baseline --crops "$work/crops" --lists "$work/lists/Protocol_1" --json "$runs/baseline/metrics.json"
else
  echo "complete ($runs/baseline/metrics.json): skipped"
fi

banner "3/5 DSDG generator -> generated pairs -> CDCN+DUM on real + generated data"
bash scripts/pipeline.sh --runs "$runs" --work "$work" "${compare[@]}" \
  --dsdg-iters "$dsdg_iters" --num-pairs "$pairs" --dum-iters "$dum_iters" \
  --dum "test.frames_per_video=$dum_test_frames"

banner "4/5 FAS-SGTD single-frame (RSGB depth network)"
# The demo config evaluates on dev from step 400 on; a shorter run is evaluated once, at its last
# step, and so still writes the best.pt that the multi-frame stage builds on.
single=("train.run_dir=$runs/sgtd_single" "train.max_iters=$sgtd_iters")
bash fas_sgtd_single_frame/train.sh "${single[@]}"
bash fas_sgtd_single_frame/test.sh "${single[@]}"

banner "5/5 FAS-SGTD multi-frame (OFFB + ConvGRU on the frozen single-frame network)"
multi=("train.run_dir=$runs/sgtd_multi" "train.max_iters=$multi_iters"
       "model.single_checkpoint=$runs/sgtd_single/best.pt")
bash fas_sgtd_multi_frame/train.sh "${multi[@]}"
bash fas_sgtd_multi_frame/test.sh "${multi[@]}"

banner "results: synthetic OULU-NPU protocol 1, test split, threshold chosen on dev"
python scripts/results_table.py \
  "colour-histogram baseline=$runs/baseline/metrics.json" \
  "${dum_rows[@]}" \
  "FAS-SGTD single-frame=$runs/sgtd_single/test/metrics.json" \
  "FAS-SGTD multi-frame=$runs/sgtd_multi/test/metrics.json"
echo
echo "demo finished in $(( $(date +%s) - start )) s. Plots, score files and model cards: $runs/*/test/;"
echo "TensorBoard: tensorboard --logdir $(printf '%q' "$runs")"
