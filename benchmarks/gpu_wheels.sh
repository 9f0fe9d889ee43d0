#!/usr/bin/env bash
# Download, on a machine with network, the wheels benchmarks/gpu_check.sh installs on a GPU machine
# that has none: facenet-pytorch (MTCNN, with its weights inside the wheel) and what it imports that
# such a machine may lack (requests, and requests' own dependencies). All are pure Python.
#
#   bash benchmarks/gpu_wheels.sh          # -> .whl/*.whl
#
# .whl/ is listed in the clone's .git/info/exclude (never committed); hand it to the GPU machine
# with the working tree. gpu_check.sh installs from it only what the machine's Python cannot import.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -x .venv/bin/python ]]; then py=.venv/bin/python; else py=python3; fi
exclude="$(git rev-parse --git-path info/exclude 2>/dev/null || true)"
if [[ -n "$exclude" ]] && ! grep -qxF ".whl/" "$exclude" 2>/dev/null; then
  mkdir -p "$(dirname "$exclude")"
  echo ".whl/" >> "$exclude"
fi
# The versions this project's environment runs with (requirements.txt pins facenet-pytorch).
"$py" -m pip download -q --no-deps --only-binary=:all: -d .whl \
  facenet-pytorch==2.5.3 requests==2.34.2 urllib3==2.8.0 idna==3.20 certifi==2026.10.19.post1
ls -l .whl
