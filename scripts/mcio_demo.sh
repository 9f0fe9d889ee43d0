#!/usr/bin/env bash
# The cross-domain benchmark O&C&I->M on CPU, on synthetic twins of OULU-NPU (O), CASIA-FASD (C),
# Replay-Attack (I) and MSU-MFSD (M): twins -> preprocessing of each with its dataset's scanner
# (Replay-Attack with its shipped face boxes, the others with MTCNN) -> the task's lists and linked
# work tree (make_lists mcio) -> CDCN_u trained on O, C, I and tested on M, with both selection
# rules -> CDCN_u trained and tested on M alone for comparison -> one table (docs/datasets.md,
# "Cross-domain demo").
#
# Sizes and budget (environment variables):
#   MCIO_PRESET (tiny)        twin size of C, I and M (demo: 2 to 4 times as many videos, 3 times the frames)
#   MCIO_OULU_PRESET (tiny)   size of the synthetic OULU-NPU
#   MCIO_EVERY (1)            keep every k-th frame of the videos
#   MCIO_ITERS (60)           training steps of each run
#   MCIO_WORKERS (2)          processes of the preprocessing stages
#   MCIO_ROOT (datasets/mcio_demo), MCIO_RUNS (work_dirs/mcio_demo)
# Arguments are key=value overrides of both trainings (e.g. data.input_size=32). Rerunning skips
# every finished stage and resumes (or skips) the trainings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

root="${MCIO_ROOT:-datasets/mcio_demo}"
runs="${MCIO_RUNS:-work_dirs/mcio_demo}"
preset="${MCIO_PRESET:-tiny}"
oulu_preset="${MCIO_OULU_PRESET:-tiny}"
every="${MCIO_EVERY:-1}"
iters="${MCIO_ITERS:-60}"
workers="${MCIO_WORKERS:-2}"
overrides=("$@")
config=dum/configs/mcio_demo.yaml
start=$(date +%s)
declare -A dataset=([O]=oulu [C]=casia_fasd [I]=replay_attack [M]=msu_mfsd)

banner() { echo; echo "################ mcio demo: $* ($(( $(date +%s) - start )) s)"; }

for d in O C I M; do
  banner "twin and preprocessing of $d (${dataset[$d]})"
  size=$preset boxes=()
  if [ "$d" = O ]; then size=$oulu_preset; fi
  if [ "$d" = I ]; then boxes=(detect.boxes=shipped); fi  # Replay-Attack ships its face locations
  python -m data.preprocess dataset="${dataset[$d]}" oulu_root="$root/$d" work_root="$root/work_$d" \
    synth.preset="$size" frames.every="$every" workers="$workers" "${boxes[@]}"
done

banner "cross-domain lists O&C&I->M and the linked work tree"
roots=() works=()
for d in O C I M; do roots+=(--root "$d=$root/$d"); works+=(--work "$d=$root/work_$d"); done
python -m data.make_lists mcio --target M "${roots[@]}" --out "$root/work_mcio/lists" "${works[@]}" \
  --link-work "$root/work_mcio"

banner "CDCN_u on O, C, I; tested on M (eval.selection=target_oracle keeps the literature's model too)"
cross=(data.work="$root/work_mcio" train.run_dir="$runs/OCI_to_M" train.max_iters="$iters" "${overrides[@]}")
python -m dum.train --config "$config" "${cross[@]}"
python -m dum.test --config "$config" "${cross[@]}"

banner "CDCN_u on M alone (its own train / dev / test split), for comparison"
# The tiny twin of M has 8 training videos (one client): 8 faces per batch instead of 12.
intra=(data.dataset=msu_mfsd data.protocol=default data.work="$root/work_M" data.domain_balance=false
       eval.selection=source_dev train.batch_size=8 train.run_dir="$runs/M_intra" train.max_iters="$iters"
       "${overrides[@]}")
python -m dum.train --config "$config" "${intra[@]}"
python -m dum.test --config "$config" "${intra[@]}"

banner "results"
python scripts/mcio_table.py --task "O&C&I->M" --cross "$runs/OCI_to_M/test/metrics.json" \
  --intra "M->M=$runs/M_intra/test/metrics.json" | tee "$runs/table.md"
echo
echo "mcio demo finished in $(( $(date +%s) - start )) s; table: $runs/table.md"
