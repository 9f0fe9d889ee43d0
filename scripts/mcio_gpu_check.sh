#!/usr/bin/env bash
# A few GPU steps of each method's paper-sized cross-domain config (O&C&I->M) on the tiny synthetic twins:
# CDCN_u train + test (both selection rules), FAS-SGTD single- and multi-frame, DSDG (its crop cache made
# from the linked work tree). Checks that the configs run on CUDA, not what they reach.
#   source scripts/setup.sh && bash scripts/mcio_gpu_check.sh [DIR]      (DIR: scratch folder, default /tmp/mcio_gpu)
# Uses the python on PATH with the repository on PYTHONPATH (a machine whose python has the requirements).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
T="${1:-/tmp/mcio_gpu}"; R=$T/runs; mkdir -p "$R"
start=$(date +%s); stamp() { echo "== $* ($(( $(date +%s) - start )) s)"; }
declare -A dataset=([O]=oulu [C]=casia_fasd [I]=replay_attack [M]=msu_mfsd)
for d in O C I M; do
  boxes=(); if [ "$d" = I ]; then boxes=(detect.boxes=shipped); fi
  python -m data.preprocess dataset="${dataset[$d]}" oulu_root="$T/$d" work_root="$T/work_$d" synth.preset=tiny \
    workers=8 "${boxes[@]}" > "$T/preprocess_$d.log" 2>&1 || { tail -20 "$T/preprocess_$d.log"; exit 1; }
done
roots=() works=()
for d in O C I M; do roots+=(--root "$d=$T/$d"); works+=(--work "$d=$T/work_$d"); done
python -m data.make_lists mcio --target M "${roots[@]}" --out "$T/work_mcio/lists" "${works[@]}" --link-work "$T/work_mcio"
stamp "data ready"
gpu=(data.work="$T/work_mcio" train.device=cuda train.num_workers=4 train.log_every=5 train.image_every=0)
failed=0
step() {  # step NAME MODULE ARGS...: run it, show its last lines, count a failure
  local name=$1; shift; stamp "$name"
  if ! python -m "$@" > "$R/$name.log" 2>&1; then failed=$((failed + 1)); echo "FAILED: $R/$name.log"; fi
  grep -E "step [0-9]+|report|source_dev|test_eer|target_oracle|rror" "$R/$name.log" | tail -6
}
step dum_train dum.train --config dum/configs/mcio_OCI_to_M.yaml "${gpu[@]}" train.run_dir="$R/dum" \
  train.max_iters=20 train.eval_every=10 train.eval_after=10 train.ckpt_every=10
step dum_test dum.test --config dum/configs/mcio_OCI_to_M.yaml "${gpu[@]}" train.run_dir="$R/dum"
step single_train fas_sgtd_single_frame.train --config fas_sgtd_single_frame/configs/mcio_OCI_to_M.yaml "${gpu[@]}" \
  train.run_dir="$R/single" train.max_iters=10 train.eval_every=10 train.ckpt_every=10
clip=(model.single_checkpoint="$R/single/best.pt" data.clip_frames=2 data.clip_interval=1)  # the twins' videos are short
step multi_train fas_sgtd_multi_frame.train --config fas_sgtd_multi_frame/configs/mcio_OCI_to_M.yaml "${gpu[@]}" \
  "${clip[@]}" train.run_dir="$R/multi" train.max_iters=6 train.eval_every=6 train.ckpt_every=6
step multi_test fas_sgtd_multi_frame.test --config fas_sgtd_multi_frame/configs/mcio_OCI_to_M.yaml "${gpu[@]}" \
  "${clip[@]}" train.run_dir="$R/multi"
step dsdg_train dsdg.train --config dsdg/configs/mcio_OCI_to_M.yaml "${gpu[@]}" train.run_dir="$R/dsdg" \
  train.max_iters=4 train.eval_every=0 train.ckpt_every=4 train.batch_size=16 identity_net.enabled=false data.workers=8
stamp "done: $failed failed"
exit "$failed"
