#!/usr/bin/env bash
# A picture that shows CDCN_u (DUM) learning, on CPU: a short run on the demo data (made first when
# missing), its test report, then a few live and attack test faces above their predicted depth
# maps with their scores (scripts/learning_picture.py).
#   bash scripts/learning_picture.sh [key=value ...]    (dum.train overrides, e.g. train.max_iters=1200)
# Settings: the demo config's CDCN_u, data and 64x64 input (dum/configs/demo.yaml) with these changed:
#   optim.lr 1e-3 (demo config: 1e-4; a short run needs larger steps), train.max_iters 600,
#   dev evaluation only at the end, no TensorBoard images. Later key=value arguments win.
# PICTURE_RUN (default work_dirs/learning_picture) is the run folder, PICTURE (default
# <run>/learning_picture.png) the picture. Rerunning resumes or skips the finished run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

run="${PICTURE_RUN:-work_dirs/learning_picture}"
picture="${PICTURE:-$run/learning_picture.png}"
settings=("train.run_dir=$run" "optim.lr=1e-3" "train.max_iters=600" "train.eval_every=0" "train.eval_after=0"
          "train.ckpt_every=50" "train.image_every=0" "$@")

python -m dum.train "${settings[@]}"
python -m dum.test "${settings[@]}"   # dev threshold into the checkpoint, test report in <run>/test
python scripts/learning_picture.py --checkpoint "$run/best.pt" --out "$picture" --per-class 4 "${settings[@]}"
